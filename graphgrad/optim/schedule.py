"""Schedule: the base class of learning-rate schedules (closed forms in the step count)."""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

from graphgrad.optim.optimizer import Optimizer, plain_value

__all__ = ["Schedule"]


def _starts_when_built(init):
    """Wrap an ``__init__`` so the first rate is set once the outermost ``__init__`` returns.

    A subclass may then set its own attributes before or after calling
    ``super().__init__(optimizer)``: ``lr_at`` first runs when they all exist.
    """

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        outermost = "_building" not in self.__dict__
        if outermost:
            self.__dict__["_building"] = True
        try:
            init(self, *args, **kwargs)
        finally:
            if outermost:
                del self.__dict__["_building"]
        if outermost:
            self._initial_step()

    wrapper._starts_when_built = True
    return wrapper


class Schedule:
    """Base class of learning-rate schedules:  η_t = lr_at(η₀, t)  for each param group.

    ``Schedule(optimizer)`` records each group's starting rate η₀ as
    ``group["initial_lr"]`` (kept if already there, e.g. from another
    schedule), sets ``lr`` to ``lr_at(η₀, 0)`` and counts ``t = 0``.  Each
    ``step()`` — once per epoch or once per iteration, as you choose — adds 1 to
    ``t`` (``last_epoch``) and writes ``lr_at(η₀, t)`` into every group.

    A schedule is a closed form in t, so the sequence never drifts and a loaded
    state resumes exactly; a rate set by hand in a group is overwritten at the
    next ``step()``.  Subclasses implement ``lr_at(base_lr, t)`` and may set
    their attributes before or after ``super().__init__(optimizer)``: the first
    rate is computed when construction is complete.  As in PyTorch, stepping
    the schedule before the optimizer has stepped warns (the first rate would
    be skipped).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if init is not None and not getattr(init, "_starts_when_built", False):
            cls.__init__ = _starts_when_built(init)

    @_starts_when_built
    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected a graphgrad Optimizer to schedule, got "
                f"{type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"{type(self).__name__}: param group {i} has no 'initial_lr'; resuming "
                    "with last_epoch >= 0 needs an optimizer restored from a checkpoint"
                )
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._last_lr: list[float] = []

    def _initial_step(self) -> None:
        self._step_count = 0
        self.step()

    def lr_at(self, base_lr: float, t: int) -> float:
        """The learning rate of a group that started at `base_lr`, after t steps."""
        raise NotImplementedError(f"{type(self).__name__} must implement lr_at(base_lr, t)")

    def get_lr(self) -> list[float]:
        """The rates for the current step ``last_epoch``, one per group."""
        return [float(self.lr_at(b, self.last_epoch)) for b in self.base_lrs]

    def step(self) -> None:
        """Advance one step (epoch or iteration) and set the new rate in every group."""
        self._step_count += 1
        if self._step_count == 2 and self.optimizer._step_count == 0:
            warnings.warn(
                f"{type(self).__name__}.step() was called before optimizer.step(); the first "
                "learning rate of the schedule is skipped. Call optimizer.step() first, "
                "then schedule.step()",
                UserWarning,
                stacklevel=2,
            )
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            if not math.isfinite(lr) or lr < 0:
                raise ValueError(
                    f"{type(self).__name__}: the learning rate at step {self.last_epoch} is "
                    f"{lr}; a schedule must give a finite learning rate >= 0 (optimizers "
                    "refuse a negative lr too): clamp it in lr_at"
                )
            group["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The schedule's counters and settings as plain data (the optimizer excluded)."""
        return {k: plain_value(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (the optimizer's lr comes from its own state)."""
        unknown = sorted(set(state_dict) - set(vars(self)))
        if unknown:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: unknown keys {unknown}; was the "
                "state saved from another kind of schedule?"
            )
        for key, value in state_dict.items():
            setattr(self, key, plain_value(value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"

