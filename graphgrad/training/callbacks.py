"""Callbacks of ``Trainer.fit``: early stopping, per-epoch logging, periodic checkpoints.

A callback is any object with some of these methods (all optional):

* ``on_train_start(trainer)`` — before the first epoch of ``fit``;
* ``on_epoch_end(trainer, epoch, metrics)`` — after each epoch (``epoch``
  counted from 0, ``metrics`` the epoch's history row); return ``True`` to stop;
* ``on_train_end(trainer, history)`` — when ``fit`` ends.

Plugins get the same three moments through the pluggy event hooks
``graphgrad_train_start``, ``graphgrad_epoch_end`` and ``graphgrad_train_end``,
which ``PluginEvents`` (the last callback of every ``fit``) calls.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import Any


class Callback:
    """Optional base class: every method does nothing."""

    def on_train_start(self, trainer) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> bool | None:
        """Called after each epoch; return True to stop training."""
        return None

    def on_train_end(self, trainer, history) -> None:
        """Called once when training ends."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has stopped improving; optionally go back to the best weights.

    An epoch improves on the best value b so far when, for ``mode="min"``,
    ``value < b − min_delta`` (``mode="max"``: ``value > b + min_delta``); NaN
    never improves. After ``patience`` epochs in a row without improvement
    training stops. With ``restore_best=True`` the model gets the weights of
    the best epoch back when ``fit`` ends (stopped early or not).

    ``monitor`` is a history key: ``"val_loss"``, ``"val_accuracy"``,
    ``"loss"``... A ``val_`` key needs a ``val_loader`` in ``fit``.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min", restore_best: bool = True):
        if mode not in ("min", "max"):
            raise ValueError(
                f"EarlyStopping: mode must be 'min' (e.g. for a loss) or 'max' (e.g. for "
                f"accuracy), got {mode!r}"
            )
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0):
            raise ValueError(f"EarlyStopping: min_delta must be a number >= 0, got {min_delta!r}")
        self.monitor, self.patience, self.min_delta = str(monitor), patience, float(min_delta)
        self.mode, self.restore_best = mode, bool(restore_best)
        self.reset()

    def reset(self) -> None:
        """Forget the best value, the waiting count and the saved weights."""
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_state: dict[str, Any] | None = None

    def improved(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta``."""
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> bool:
        if self.monitor not in metrics:
            raise KeyError(
                f"EarlyStopping: monitor {self.monitor!r} is not among this epoch's metrics "
                f"{sorted(metrics)}; pick one of those (a 'val_' key needs a val_loader)"
            )
        value = metrics[self.monitor]
        if self.improved(value):
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
            if self.restore_best:
                self.best_state = trainer.model.state_dict()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(epoch)
            return True
        return False

    def on_train_end(self, trainer, history) -> None:
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    # -- checkpointing ---------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The progress so far (best value, epoch, waiting count, best weights)."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()``; the monitor and mode must match."""
        for key in ("monitor", "mode"):
            if state.get(key) != getattr(self, key):
                raise ValueError(
                    f"EarlyStopping.load_state_dict: saved {key}={state.get(key)!r} but this "
                    f"EarlyStopping has {key}={getattr(self, key)!r}; build it the same way"
                )
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]
        self.best_state = state["best_state"]

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, mode={self.mode!r}, "
                f"restore_best={self.restore_best})")


def format_metrics(metrics: dict[str, Any]) -> str:
    """``loss 0.1234  accuracy 0.9700  val_loss ...`` for one history row."""
    parts = []
    for key, value in metrics.items():
        if key in ("epoch", "time"):
            continue
        parts.append(f"{key} {value:.4g}" if key == "lr" else f"{key} {value:.4f}")
    return "  ".join(parts)


class EpochLogger(Callback):
    """Print one line per epoch: its number, losses, metrics, learning rate and time."""

    def __init__(self, file=None, every: int = 1):
        self.file, self.every = file, max(int(every), 1)

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> None:
        if (epoch + 1) % self.every and epoch + 1 != trainer.target_epochs:
            return
        line = (f"epoch {epoch + 1:>3}/{trainer.target_epochs}  {format_metrics(metrics)}  "
                f"({metrics.get('time', 0.0):.2f} s)")
        print(line, file=self.file or sys.stdout, flush=True)


class SaveCheckpoint(Callback):
    """Write ``trainer.save_checkpoint(path)`` after every ``every``-th epoch (atomically)."""

    def __init__(self, path, every: int = 1):
        self.path, self.every = path, max(int(every), 1)

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> None:
        if (epoch + 1) % self.every == 0:
            trainer.save_checkpoint(self.path)


class PluginEvents(Callback):
    """Calls the plugins' event hooks at the three moments of ``fit``.

    Only a hook that returns ``True`` from ``graphgrad_epoch_end`` stops training
    (as a callback's ``on_epoch_end``); ``None``/``False`` continue, and any other
    value continues with a warning (once per value type), since a hook returning
    ``"no"`` or ``1`` most likely means something else.
    """

    def __init__(self):
        self._warned: set[str] = set()

    def on_train_start(self, trainer) -> None:
        from graphgrad.registry import call_event

        call_event("graphgrad_train_start", trainer=trainer)

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> bool:
        from graphgrad.registry import call_event

        answers = call_event("graphgrad_epoch_end", trainer=trainer, epoch=epoch,
                             metrics=dict(metrics))
        for answer in answers:
            if answer is not None and not isinstance(answer, bool):
                kind = type(answer).__name__
                if kind not in self._warned:
                    self._warned.add(kind)
                    warnings.warn(
                        f"a graphgrad_epoch_end hook returned {answer!r} ({kind}); only True "
                        "stops training and None/False continue, so training continues",
                        stacklevel=2,
                    )
        return any(answer is True for answer in answers)

    def on_train_end(self, trainer, history) -> None:
        from graphgrad.registry import call_event

        call_event("graphgrad_train_end", trainer=trainer, history=history)
