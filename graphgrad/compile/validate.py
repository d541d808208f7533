"""Validation mode: run a replay and the eager step from the same state, compare.

``gg.compile(fn, validate=N)`` checks every N-th replay (``validate_first=K``:
the first K replays): the state a step can change — every array the plan
reads or writes that it does not own (parameters, optimizer state, buffers
such as running statistics), the gradients it sets, the Python state of the
optimizers and schedules it steps, and the global random generator — is
copied, the plan replays, its outputs and that state are kept, the state is
restored, and ``fn`` runs eagerly.  Eager's results are what the call
returns and what the state keeps.  The two are compared with
``rtol = 1e-4`` and ``atol = 1e-6 · max|eager|`` per array (fused kernels
round differently from NumPy by a few ulp).
"""

from __future__ import annotations

import numpy as np

from graphgrad import random as _random
from graphgrad.autograd.tensor import Tensor
from graphgrad.compile.recorder import root_of

RTOL = 1e-4
ATOL = 1e-6


def _owned(plan):
    """The persistent arrays a replay may change (parameters, module buffers, optimizer
    state), each once, named; the plan's own buffers are transient and not compared."""
    own = set(plan.buffers) | {id(b) for _, b in plan.inputs}
    found, seen = [], set()

    def add(arr, name):
        r = root_of(arr)
        if id(r) in own or id(r) in seen or not r.flags.writeable:
            return
        seen.add(id(r))
        found.append((name, r))

    for t, _data, _ in plan.guard.leaves:
        add(t.data, t.name or f"parameter of shape {t.shape}")
    for m, _, buffers in plan.guard.modules:
        for b in buffers:
            if isinstance(b, np.ndarray):
                add(b, f"a buffer of {type(m).__name__}")
    for opt in _objects(plan):
        for s in getattr(opt, "state", {}).values():
            for k, v in (s.items() if isinstance(s, dict) else ()):
                if isinstance(v, np.ndarray):
                    add(v, f"{type(opt).__name__} state {k!r}")
    return found


def _objects(plan):
    """Optimizers and schedules whose methods the plan calls (their Python state is saved)."""
    out, seen = [], set()
    for e in plan.entries:
        ev = e.event
        owner = ev.owner[0] if e.kind in ("segment", "update") and ev is not None else None
        if owner is not None and id(owner) not in seen:
            seen.add(id(owner))
            out.append(owner)
    for opt, *_ in plan.guard.optimizers:
        if id(opt) not in seen:
            seen.add(id(opt))
            out.append(opt)
    return out


class _State:
    """A restorable copy of what a step can change."""

    def __init__(self, plan, grads):
        self.arrays = [(r, r.copy()) for _, r in _owned(plan)]
        self.grads = [(t, t.grad) for t in grads]
        self.objects = []
        for obj in _objects(plan):
            groups = [dict(g) for g in getattr(obj, "param_groups", ())]
            state = {p: dict(s) for p, s in getattr(obj, "state", {}).items()}
            self.objects.append((obj, dict(vars(obj)), groups, state))
        gen = _random._GENERATOR[0]
        self.rng = (gen, gen.bit_generator.state)

    def restore(self):
        for r, saved in self.arrays:
            np.copyto(r, saved)
        for t, g in self.grads:
            t.grad = g
        for obj, attrs, groups, state in self.objects:
            live_state = getattr(obj, "state", None)
            vars(obj).clear()
            vars(obj).update(attrs)
            for g, saved in zip(getattr(obj, "param_groups", ()), groups):
                g.clear()
                g.update(saved)
            if isinstance(live_state, dict):
                for p, saved in state.items():
                    live_state.setdefault(p, {}).clear()
                    live_state[p].update(saved)
                for p in [p for p in live_state if p not in state]:
                    del live_state[p]
        gen, st = self.rng
        _random._GENERATOR[0] = gen
        gen.bit_generator.state = st


def _arrays_of(result):
    if isinstance(result, Tensor):
        return [np.asarray(result.data)]
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _arrays_of(r)]
    return []


def _differs(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return f"shape {a.shape} vs eager {b.shape}"
    scale = np.abs(b).max() if b.size else 0.0
    bad = ~np.isclose(a, b, rtol=RTOL, atol=ATOL * scale + 1e-30, equal_nan=True)
    if bad.any():
        return f"max |replay - eager| = {np.abs(a - b)[bad].max():.3g} (max |eager| {scale:.3g})"
    return None


def validate_replay(plan, flat, eager):
    """(eager's result, None or a description of the first difference)."""
    saved = _State(plan, _grad_tensors(plan))
    replayed = plan.replay(flat)
    after = [(name, r.copy()) for name, r in _owned(plan)]
    rep_out = [a.copy() for a in _arrays_of(replayed)]
    saved.restore()
    result = eager()
    eager_out = _arrays_of(result)
    if len(rep_out) != len(eager_out):
        return result, "the step returned a different number of arrays"
    for i, (a, b) in enumerate(zip(rep_out, eager_out)):
        why = _differs(a, b)
        if why is not None:
            return result, f"output {i}: {why}"
    for (name, a), (_, r) in zip(after, _owned(plan)):
        why = _differs(a, r)
        if why is not None:
            return result, f"{name}: {why}"
    return result, None


def _grad_tensors(plan):
    """Tensors whose ``.grad`` the plan sets (restored after the replay)."""
    out = [e.tensor for e in plan.entries + plan.final_grads if e.kind == "grad"]
    return list({id(t): t for t in out}.values())
