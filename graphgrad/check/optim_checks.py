"""``gg.check.optimizer(cls)``, ``gg.check.schedule(cls)``: check them on a quadratic.

The problem is f(θ) = ½ Σᵢ aᵢ (θᵢ − cᵢ)² over two float64 parameters (a 3×2
matrix and a vector of 2), with aᵢ ∈ [1, 3]: its minimum is θ = c, so any
sensible step from a random start decreases f.  Every step is given a closure
(zero the grads, compute f, backward, return f), so optimizers that need one
(L-BFGS, Newton) are checked too.

An optimizer class is built with ``cls.example(params)`` if it defines that
classmethod, else ``cls(params, lr=0.01)``; a schedule with
``cls.example(optimizer)``, else ``cls(optimizer)``.  Checks:

- ``subclass``: it derives from ``graphgrad.extend.Optimizer`` / ``Schedule``;
An optimizer that differentiates the loss itself (Newton) declares
``closure_backward = False`` and gets a closure that only returns f.

- ``step decreases``: f after one step < f before (a schedule: after
  three optimizer + schedule steps, with SGD);
- ``state_dict``: after two steps, a fresh copy loaded with
  ``load_state_dict(state_dict())`` takes the *identical* next step (a
  schedule: gives the identical next three rates);
- ``zero_grad`` (optimizers): every gradient is gone (None or zeros);
- ``lr from param_groups``: halving ``group["lr"]`` changes the step (an
  optimizer must read the rate a schedule writes there); a schedule writes
  ``get_last_lr()`` into every group, finite and >= 0.

Skip a check with ``skip_checks = {"name": "why"}`` on the class.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.check.report import FAIL, PASS, CheckReport, run_checks
from graphgrad.optim import Optimizer, Schedule

_LR = 0.01


class Quadratic:
    """f(θ) = ½ Σ a (θ − c)² over fresh float64 parameters (same start for a given seed)."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        shapes = [(3, 2), (2,)]
        self.a = [rng.uniform(1.0, 3.0, s) for s in shapes]
        self.c = [rng.normal(size=s) for s in shapes]
        self.params = [Tensor(rng.normal(size=s) + 2.0, requires_grad=True) for s in shapes]

    def value(self) -> float:
        """f at the current parameters."""
        return float(sum((0.5 * a * (p.data - c) ** 2).sum()
                         for a, c, p in zip(self.a, self.c, self.params, strict=True)))

    def loss(self) -> Tensor:
        """f as a graph."""
        total = None
        for a, c, p in zip(self.a, self.c, self.params, strict=True):
            term = (((p - c) ** 2) * (0.5 * a)).sum()
            total = term if total is None else total + term
        return total

    def closure(self) -> Tensor:
        """Zero the grads, compute f as a graph, backward; return f."""
        for p in self.params:
            p.grad = None
        total = self.loss()
        total.backward()
        return total

    def closure_for(self, opt) -> Callable[[], Tensor]:
        """``closure``, or ``loss`` for an optimizer declaring ``closure_backward = False``
        (one that differentiates the loss itself, e.g. Newton)."""
        return self.closure if getattr(opt, "closure_backward", True) else self.loss

    def state(self) -> list[np.ndarray]:
        """Copies of the parameter values."""
        return [p.data.copy() for p in self.params]


def build_optimizer(cls, params) -> Any:
    """``cls.example(params)`` if defined, else ``cls(params, lr=0.01)``."""
    if hasattr(cls, "example"):
        return cls.example(params)
    return cls(params, lr=_LR)


_PROVIDES = {Optimizer: "param_groups, zero_grad, state_dict",
             Schedule: "step, get_last_lr, state_dict"}


def _subclass(cls, base) -> tuple[str, str]:
    if isinstance(cls, type) and issubclass(cls, base):
        return PASS, f"a subclass of {base.__name__}"
    return FAIL, (f"{getattr(cls, '__name__', cls)!r} is not a subclass of "
                  f"graphgrad.extend.{base.__name__}; derive from it (it provides "
                  f"{_PROVIDES[base]})")


def _step(make: Callable) -> tuple[str, str]:
    problem = Quadratic()
    opt = make(problem.params)
    before = problem.value()
    opt.step(problem.closure_for(opt))
    after = problem.value()
    if not after < before:
        return FAIL, f"one step on a quadratic went from f = {before:.6g} to f = {after:.6g}"
    return PASS, f"f: {before:.6g} -> {after:.6g}"


def _zero_grad(make: Callable) -> tuple[str, str]:
    problem = Quadratic()
    opt = make(problem.params)
    problem.closure()
    opt.zero_grad()
    left = [i for i, p in enumerate(problem.params)
            if p.grad is not None and np.any(p.grad.data != 0)]
    if left:
        return FAIL, f"after zero_grad() parameters {left} still have non-zero gradients"
    return PASS, "every gradient cleared"


def _differs(a, b, where: str = "state_dict") -> str | None:
    """Where two state dicts (nested dicts, lists, arrays, numbers) first differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        missing = [k for k in a if k not in b]
        if missing:
            return f"{where} lost {missing[:3]}"
        for k in a:
            found = _differs(a[k], b[k], f"{where}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where} has {len(b)} entries instead of {len(a)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _differs(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    try:
        same = np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    except (TypeError, ValueError):
        same = a == b
    return None if same else f"{where} changed"


def _round_trip(make: Callable) -> tuple[str, str]:
    problem = Quadratic()
    opt = make(problem.params)
    for _ in range(2):
        opt.step(problem.closure_for(opt))
    if not callable(getattr(opt, "state_dict", None)):
        return FAIL, (f"{type(opt).__name__} has no state_dict(); checkpoints need it. "
                      "Derive from graphgrad.extend.Optimizer, which provides it")
    saved = copy.deepcopy(opt.state_dict())
    twin = Quadratic()
    for p, value in zip(twin.params, problem.state(), strict=True):
        p.data[...] = value
    other = make(twin.params)
    other.load_state_dict(saved)
    reloaded = _differs(saved, copy.deepcopy(other.state_dict()))
    opt.step(problem.closure_for(opt))
    other.step(twin.closure_for(other))
    worst = max(float(np.max(np.abs(a - b))) for a, b in
                zip(problem.state(), twin.state(), strict=True))
    if worst != 0.0 and reloaded:
        return FAIL, (f"after load_state_dict(state_dict()) the next step differs by up to "
                      f"{worst:.3g}, and state_dict() after load_state_dict no longer holds "
                      f"what was loaded ({reloaded}): load_state_dict drops or changes state; "
                      "restore every entry of the state (and the param groups) it is given")
    if worst != 0.0:
        return FAIL, ("after load_state_dict(state_dict()) the next step differs by up to "
                      f"{worst:.3g}; state_dict must hold every value step() uses (keep it in "
                      "self.state[param] and the param groups)")
    return PASS, "the loaded copy takes the identical next step"


def _reads_lr(make: Callable) -> tuple[str, str]:
    runs = []
    for scale in (1.0, 0.5):
        problem = Quadratic()
        opt = make(problem.params)
        start = problem.state()
        for group in opt.param_groups:
            group["lr"] = group["lr"] * scale
        opt.step(problem.closure_for(opt))
        runs.append([b - a for a, b in zip(start, problem.state(), strict=True)])
    if all(np.array_equal(a, b) for a, b in zip(*runs, strict=True)):
        return FAIL, ('halving group["lr"] did not change the step; read the rate from '
                      "group['lr'] in every step (schedules write it there)")
    return PASS, 'the step follows group["lr"]'


def optimizer(cls, *, make: Callable | None = None) -> CheckReport:
    """Check the optimizer class ``cls`` on a quadratic; returns a ``CheckReport``.

    ``make(params)`` builds an instance (default: ``cls.example(params)`` if
    defined, else ``cls(params, lr=0.01)``).
    """
    make = make or (lambda params: build_optimizer(cls, params))
    items = run_checks([
        ("subclass", lambda: _subclass(cls, Optimizer)),
        ("step decreases", lambda: _step(make)),
        ("state_dict", lambda: _round_trip(make)),
        ("zero_grad", lambda: _zero_grad(make)),
        ("lr from param_groups", lambda: _reads_lr(make)),
    ], getattr(cls, "skip_checks", None))
    return CheckReport(getattr(cls, "__name__", repr(cls)), items, checker="optimizer")


# ------------------------------------------------------------------ schedules
def _sgd(params):
    from graphgrad.registry import Registry

    return Registry("optimizers").get("sgd")(params, lr=0.1)


def build_schedule(cls, optimizer) -> Any:
    """``cls.example(optimizer)`` if defined, else ``cls(optimizer)``."""
    return cls.example(optimizer) if hasattr(cls, "example") else cls(optimizer)


#: The steps at which a schedule's lr_at is probed beyond the three it is run for: a
#: decay past its end or a warm restart that overshoots goes negative only later.
_PROBE_STEPS = (*range(0, 1001), 10_000, 100_000, 1_000_000)


def _bad_rate(sched) -> str | None:
    """Why some lr_at(base_lr, t) of ``sched`` is not a usable learning rate (None if all are)."""
    if type(sched).lr_at is Schedule.lr_at:
        return None  # a schedule with its own step(): only what it wrote can be checked
    for base in sched.base_lrs:
        for t in _PROBE_STEPS:
            try:
                lr = float(sched.lr_at(base, t))
            except Exception:  # noqa: BLE001 - a step it cannot compute is not ours to judge
                break
            if not np.isfinite(lr) or lr < 0:
                return (f"lr_at({base}, {t}) = {lr}: a schedule must give a finite learning "
                        "rate >= 0 at every step (Schedule.step refuses it at run time); "
                        "clamp it, e.g. max(0.0, ...)")
    return None


def _schedule_steps(make: Callable) -> tuple[str, str]:
    problem = Quadratic()
    opt = _sgd(problem.params)
    sched = make(opt)
    before = problem.value()
    rates = []
    for _ in range(3):
        opt.step(problem.closure_for(opt))
        sched.step()
        rates.append(sched.get_last_lr())
        for group, lr in zip(opt.param_groups, rates[-1], strict=True):
            if not np.isfinite(group["lr"]) or group["lr"] < 0:
                return FAIL, (f"step {len(rates)} wrote the learning rate {group['lr']}; a "
                              "learning rate must be finite and >= 0")
            if group["lr"] != lr or not np.isfinite(lr) or lr < 0:
                return FAIL, (f"get_last_lr() is {rates[-1]} but the param groups hold "
                              f"{[g['lr'] for g in opt.param_groups]}; write each rate into "
                              "group['lr'] (the base Schedule.step does)")
    bad = _bad_rate(sched)
    if bad:
        return FAIL, bad
    after = problem.value()
    if not after < before:
        return FAIL, (f"three SGD steps under the schedule went from f = {before:.6g} to "
                      f"{after:.6g}")
    return PASS, f"rates {[r[0] for r in rates]}; f: {before:.6g} -> {after:.6g}"


def _schedule_round_trip(make: Callable) -> tuple[str, str]:
    problem = Quadratic()
    opt = _sgd(problem.params)
    sched = make(opt)
    for _ in range(2):
        opt.step(problem.closure_for(opt))
        sched.step()
    saved = copy.deepcopy(sched.state_dict())
    twin = Quadratic()
    other_opt = _sgd(twin.params)
    other_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    other = make(other_opt)
    other.load_state_dict(saved)
    ours, theirs = [], []
    for _ in range(3):
        for o, s, target in ((opt, sched, ours), (other_opt, other, theirs)):
            o.step(problem.closure if o is opt else twin.closure)
            s.step()
            target.append(s.get_last_lr())
    if ours != theirs:
        return FAIL, (f"after load_state_dict(state_dict()) the next rates are {theirs}, not "
                      f"{ours}; state_dict must hold every value the rate depends on")
    return PASS, "the loaded copy gives the identical next rates"


def schedule(cls, *, make: Callable | None = None) -> CheckReport:
    """Check the schedule class ``cls`` with SGD on a quadratic; returns a ``CheckReport``.

    ``make(optimizer)`` builds an instance (default: ``cls.example(optimizer)``
    if defined, else ``cls(optimizer)``).
    """
    make = make or (lambda opt: build_schedule(cls, opt))
    items = run_checks([
        ("subclass", lambda: _subclass(cls, Schedule)),
        ("steps", lambda: _schedule_steps(make)),
        ("state_dict", lambda: _schedule_round_trip(make)),
    ], getattr(cls, "skip_checks", None), gate="subclass")
    return CheckReport(getattr(cls, "__name__", repr(cls)), items, checker="schedule")


