"""An optimizer step replayed as its update kernels, the learning rate read live.

``plan.py`` asks :func:`direct_optimizer_step` for each recorded
``Optimizer.step``; when it returns None the step is replayed by calling the
optimizer's own ``step()`` again.
"""

from __future__ import annotations

import numpy as np

from graphgrad.compile.recorder import flat_arrays


def _first_order(opt) -> bool:
    """Whether `opt` steps with the base class's loop (one update per parameter)."""
    from graphgrad.optim.optimizer import Optimizer

    if not isinstance(opt, Optimizer):
        return False
    for cls in type(opt).__mro__:
        if "step" in vars(cls):
            return cls is Optimizer
    return False


def direct_optimizer_step(ev):
    """(run, reads, writes) replaying an optimizer step as its update kernels, or None.

    Possible when the optimizer uses the base ``step`` loop, its state holds
    arrays only (a Python counter such as Adam's step must be advanced by its
    own ``update``), and each Python number the kernels got is a
    hyperparameter: the learning rate is read from the param group at every
    replay, the others are guarded (a change records again).
    """
    opt, args, kwargs = ev.owner
    if args or kwargs or not ev.inner or not _first_order(opt):
        return None
    owner = {}
    for group in opt.param_groups:
        for p in group["params"]:
            owner[id(p.data)] = (p, group)
    for state in opt.state.values():
        if any(not isinstance(v, np.ndarray) for v in state.values()):
            return None
    calls, params = [], []
    for _name, fn, call_args, call_kwargs in ev.inner:
        if call_kwargs or not call_args or id(call_args[0]) not in owner:
            return None
        p, group = owner[id(call_args[0])]
        lr_at = [i for i, a in enumerate(call_args) if _is_number(a) and a == group["lr"]]
        others = [k for k, v in group.items() if k not in ("lr", "params")
                  and _is_number(v) and v == group["lr"]]
        if len(lr_at) != 1 or others:
            return None  # the learning rate cannot be told apart from another value
        calls.append((fn, list(call_args), lr_at[0], group))
        params.append(p)

    def run():
        for fn, a, i, group in calls:
            a[i] = float(group["lr"])
            fn(*a)
        for p in params:
            p._version[0] += 1
        opt._step_count += 1

    run.spec = ("update", opt, calls, params)
    reads = [a for _, a, _, _ in calls for a in flat_arrays(a)]
    return run, reads, list(reads)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
