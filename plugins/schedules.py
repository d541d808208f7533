"""Built-in learning-rate schedules, registered exactly as a third-party plugin would.

Each is a closed form η_t = f(η₀, t) on top of ``graphgrad.optim.Schedule``;
t counts ``schedule.step()`` calls (epochs or iterations, your choice).
"""

from __future__ import annotations

import math

import graphgrad as gg
from graphgrad.extend import Schedule


def _positive(who: str, name: str, value, integer: bool = False, allow_zero: bool = False):
    kind = int if integer else (int, float)
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        what = "an integer" if integer else "a finite number"
        raise ValueError(f"{who}: {name} must be {what} {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r}")


class Constant(Schedule):
    """η_t = η₀: the rate never changes (the baseline; keeps training code uniform)."""

    def lr_at(self, base_lr, t):
        return base_lr


class StepDecay(Schedule):
    """η_t = η₀ · γ^⌊t / T⌋: multiply the rate by γ every T steps (``step_size``)."""

    @classmethod
    def example(cls, optimizer):
        """A small instance, for ``gg.check.schedule``."""
        return cls(optimizer, step_size=2)

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _positive("StepDecay", "step_size", step_size, integer=True)
        _positive("StepDecay", "gamma", gamma)
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class InverseDecay(Schedule):
    """η_t = η₀ / (1 + ε·t)  (``decay`` ε): the 1/t decay of stochastic approximation."""

    @classmethod
    def example(cls, optimizer):
        """A small instance, for ``gg.check.schedule``."""
        return cls(optimizer, decay=0.5)

    def __init__(self, optimizer, decay, last_epoch=-1):
        _positive("InverseDecay", "decay", decay, allow_zero=True)
        self.decay = float(decay)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr / (1.0 + self.decay * t)


class ExponentialDecay(Schedule):
    """η_t = η₀ · e^(−ε·t)  (``decay`` ε); PyTorch's ExponentialLR with γ = e^(−ε)."""

    @classmethod
    def example(cls, optimizer):
        """A small instance, for ``gg.check.schedule``."""
        return cls(optimizer, decay=0.5)

    def __init__(self, optimizer, decay, last_epoch=-1):
        _positive("ExponentialDecay", "decay", decay, allow_zero=True)
        self.decay = float(decay)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        return base_lr * math.exp(-self.decay * t)


class Cosine(Schedule):
    """η_t = η_min + (η₀ − η_min) · (1 + cos(π·t / T_max)) / 2  for t ≤ T_max, then η_min.

    Half a cosine from η₀ down to ``eta_min`` over ``T_max`` steps (PyTorch's
    CosineAnnealingLR, except that it stays at η_min after T_max instead of
    climbing back up).
    """

    @classmethod
    def example(cls, optimizer):
        """A small instance, for ``gg.check.schedule``."""
        return cls(optimizer, T_max=4)

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _positive("Cosine", "T_max", T_max, integer=True)
        _positive("Cosine", "eta_min", eta_min, allow_zero=True)
        self.T_max, self.eta_min = T_max, float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        cos = math.cos(math.pi * min(t, self.T_max) / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + cos) / 2


class LinearWarmup(Schedule):
    """Linear warm-up over W steps, then constant or another schedule.

    η_t = η₀ · (s + (1 − s) · t / W)  for t < W  (``warmup_steps`` W,
    ``start_factor`` s), then η₀ — or, with ``after=schedule``, that schedule's
    rate at t − W, so e.g. warm-up followed by cosine decay is
    ``LinearWarmup(opt, 5, after=Cosine(opt, T_max=95))``.  Build `after` on the
    same optimizer first and step only the warm-up: it drives both.
    """

    @classmethod
    def example(cls, optimizer):
        """A small instance, for ``gg.check.schedule``."""
        return cls(optimizer, warmup_steps=2)

    def __init__(self, optimizer, warmup_steps, start_factor=0.1, after=None, last_epoch=-1):
        _positive("LinearWarmup", "warmup_steps", warmup_steps, integer=True)
        if not (isinstance(start_factor, (int, float)) and 0 <= start_factor <= 1):
            raise ValueError(f"LinearWarmup: start_factor must be in [0, 1], got {start_factor!r}")
        if after is not None:
            if not isinstance(after, Schedule):
                raise TypeError(f"LinearWarmup: after must be a Schedule, got "
                                f"{type(after).__name__}")
            if after.optimizer is not optimizer:
                raise ValueError("LinearWarmup: after= must schedule the same optimizer as the "
                                 "warm-up; build it with that optimizer")
        self.warmup_steps, self.start_factor, self.after = warmup_steps, float(start_factor), after
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        w = self.warmup_steps
        if t < w:
            return base_lr * (self.start_factor + (1 - self.start_factor) * t / w)
        return base_lr if self.after is None else self.after.lr_at(base_lr, t - w)

    def step(self):
        super().step()
        if self.after is not None:  # keep the wrapped schedule's view consistent
            self.after.last_epoch = max(self.last_epoch - self.warmup_steps, 0)
            self.after._last_lr = self.get_last_lr()

    def state_dict(self):
        state = super().state_dict()
        state["after"] = None if self.after is None else self.after.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        after = state_dict.pop("after", None)
        if (after is None) != (self.after is None):
            raise ValueError("LinearWarmup.load_state_dict: the saved warm-up "
                             f"{'had no' if after is None else 'had an'} after= schedule, "
                             "this one differs")
        super().load_state_dict(state_dict)
        if after is not None:
            self.after.load_state_dict(after)


@gg.hookimpl
def graphgrad_register_schedules():
    """The built-in learning-rate schedules."""
    return [Constant, StepDecay, InverseDecay, ExponentialDecay, Cosine, LinearWarmup]
