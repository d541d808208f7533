"""Guards: what must still hold for a recorded plan to be replayed.

Two levels.  The *signature* (a dict key, computed at every call) holds what
the call itself says: grad mode, the kernel backend, every tensor argument's
shape, dtype and ``requires_grad``, and every other argument's value.  The
:class:`Guard` of a plan holds what the world around the step must still be:
each Module that ran is in the same train/eval mode and holds the same buffer
arrays, and each leaf tensor an op read (parameters, constants) still has the
same data array and ``requires_grad``.  Anything else a step depends on is
read live at replay (learning rates, optimizer state, schedules, the global
random generator) or is a constant the recording proved constant.  An
optimizer whose step is replayed as its update kernels (plan.py) also has its
other hyperparameters and its parameter list guarded.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import get_backend
from graphgrad.nn import structure_epoch


def _arg_key(a):
    if isinstance(a, Tensor):
        return ("tensor", a.data.shape, a.data.dtype, a.requires_grad)
    if isinstance(a, np.ndarray):
        return ("array", a.shape, a.dtype)
    try:
        hash(a)
    except TypeError:
        return ("object", type(a).__name__, id(a))
    return ("value", type(a).__name__, a)


def signature(args) -> tuple:
    """The dict key of one call: grad mode, backend and every argument's kind."""
    return (STATE.enabled, get_backend()) + tuple(_arg_key(a) for a in args)


def _hyperparameters(opt):
    # lists and dicts: built and compared in C (this runs at every replay)
    return [(list(map(id, g["params"])),
             {k: v for k, v in g.items() if k != "params" and k != "lr"})
            for g in opt.param_groups]


def _buffers(module):
    return tuple(getattr(module, n, None) for n in vars(module).get("_buffer_names", ()))


def _state_arrays(opt):
    """(per-parameter state dict, key, array) of every array in `opt.state`."""
    return [(s, k, v) for s in opt.state.values() for k, v in s.items()
            if isinstance(v, np.ndarray)]


class Guard:
    """The state of the modules and leaf tensors a recording saw; ``check()`` compares.

    Modules: each one that ran keeps its ``structure_version`` (bumped by any
    change of a child, parameter, buffer or hyperparameter) and its training
    flag.  The versions are compared only when the global structure epoch has
    moved since the last passing check (one int compare per call otherwise).
    `values` is the snapshot of the step's scalar closure cells and globals
    (``CompiledStep`` compares it before the guard).
    """

    def __init__(self, rec, exclude=(), values=()):
        self.optimizers = []
        self.values = values
        self.modules = [(m, m.training, _buffers(m)) for m in rec.modules.values()]
        self._training = [(m, m.training) for m, _, _ in self.modules]
        self._versions = [(m, m.structure_version) for m, _, _ in self.modules]
        self._epoch = structure_epoch()
        # Parameters and tensors that require grad; leaves made during the step
        # (gradients, outputs of ops under no_grad, wrapped Python constants) have
        # data that is a buffer or a constant the two recordings agreed on.
        self.leaves = [(t, t.data, t.requires_grad) for k, t in rec.leaves.items()
                       if k not in exclude and (t.requires_grad or t.is_parameter)]

    def watch_hyperparameters(self, optimizer):
        """Guard every hyperparameter of `optimizer` but the learning rate (read live),
        and the identity of its state arrays (``load_state_dict`` installs new ones)."""
        self.optimizers.append((optimizer, _hyperparameters(optimizer), optimizer.state,
                                _state_arrays(optimizer)))

    def check(self) -> str | None:
        """None when the plan may replay, else why it may not."""
        for opt, hyper, state, arrays in self.optimizers:
            if _hyperparameters(opt) != hyper:
                return f"{type(opt).__name__}: a hyperparameter or the parameter set changed"
            if opt.state is not state or any(s.get(k) is not v for s, k, v in arrays):
                return (f"{type(opt).__name__}: its state arrays were replaced "
                        "(load_state_dict or a checkpoint load)")
        for t, data, requires_grad in self.leaves:
            if t.data is not data or t.requires_grad is not requires_grad:
                name = t.name or f"a tensor of shape {t.shape}"
                return f"{name} got new data or requires_grad changed"
        for m, training in self._training:
            if m.training is not training:
                return f"{type(m).__name__} switched to {'train' if m.training else 'eval'} mode"
        if structure_epoch() != self._epoch:
            for m, version in self._versions:
                if m.structure_version != version:
                    return (f"{type(m).__name__} changed ({m.last_change}) since the step "
                            "was recorded")
            self._epoch = structure_epoch()
        return None

    def snapshot(self) -> tuple:
        """A comparable summary (two recordings must agree on it)."""
        return (tuple((id(m), t, tuple(map(id, b))) for m, t, b in self.modules),
                tuple((id(t), id(d), r) for t, d, r in self.leaves), self.values)
