"""History: what a training run measured, one row per epoch.

Each row is a dict: ``epoch`` (counted from 0), ``loss`` and each training
metric (sample-weighted means over the epoch's mini-batches, measured while the
weights were changing), ``val_loss`` and ``val_<metric>`` (after the epoch, in
evaluation mode) when there is validation data, ``lr`` (the learning rate of
the first param group during the epoch) and ``time`` (seconds of wall time).

``history["val_loss"]`` is that column as a list; ``to_dict()`` / ``save(path)``
/ ``History.load(path)`` round-trip it through JSON; ``plot(path)`` draws the
curves with matplotlib.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from graphgrad.serialize import write_text_atomic

EXAMPLES_HINT = ("pip install 'graphgrad[examples]' (from a clone: python -m pip install -e "
                 "\".[examples]\"), or pip install {package}")


def require_matplotlib(who: str):
    """Import matplotlib's Figure class, or raise ImportError naming the ``examples`` extra."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            f"{who} needs matplotlib, which is not installed; "
            + EXAMPLES_HINT.format(package="matplotlib")
        ) from exc
    return Figure


class History:
    """Per-epoch records of a training run (see the module docstring for the keys).

    ``stop_reason`` is None while training or when all epochs ran, else
    ``"early_stopping"``, ``"callback"`` or ``"plugin"``; ``best_epoch`` is the
    epoch early stopping judged best (None without early stopping).
    """

    def __init__(self, rows: list[dict[str, Any]] | None = None,
                 stop_reason: str | None = None, best_epoch: int | None = None):
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows or []]
        self.stop_reason = stop_reason
        self.best_epoch = best_epoch

    def append(self, row: dict[str, Any]) -> None:
        """Add the record of one epoch."""
        self.rows.append(dict(row))

    def keys(self) -> list[str]:
        """Every column name, in first-seen order."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)

    def __getitem__(self, key: str) -> list[Any]:
        if key not in self.keys():
            raise KeyError(f"History has no column {key!r}; columns: {self.keys()}")
        return [row.get(key) for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def last(self) -> dict[str, Any]:
        """The record of the last epoch (an empty dict before the first)."""
        return dict(self.rows[-1]) if self.rows else {}

    # -- persistence ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"epochs": [row, ...], "stop_reason": ..., "best_epoch": ...}`` (JSON-ready)."""
        return {
            "epochs": [dict(r) for r in self.rows],
            "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a History from ``to_dict()`` output."""
        if not isinstance(data, dict) or not isinstance(data.get("epochs"), list):
            raise ValueError(
                "History.from_dict: expected a dict with an 'epochs' list (as written by "
                f"History.to_dict), got {type(data).__name__}"
            )
        return cls(data["epochs"], data.get("stop_reason"), data.get("best_epoch"))

    def save(self, path) -> Path:
        """Write ``to_dict()`` as JSON to ``path`` atomically; returns the path."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path) -> History:
        """Read a History written by ``save``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- pictures -------------------------------------------------------------
    def plot(self, path=None):
        """Draw training vs validation curves: one panel for the loss, one per metric,
        one for the learning rate. Saves to ``path`` if given; returns the figure.

        Needs matplotlib (the ``examples`` extra); without it an ImportError
        says how to install it.
        """
        figure_class = require_matplotlib("History.plot")
        keys = self.keys()
        metrics = [k for k in keys if k not in ("epoch", "lr", "time") and not
                   k.startswith("val_")]
        panels = metrics + (["lr"] if "lr" in keys else [])
        if not panels:
            raise ValueError("History.plot: nothing to draw yet (no epoch was recorded)")
        fig = figure_class(figsize=(4.2 * len(panels), 3.4), layout="constrained")
        epochs = [row.get("epoch", i) for i, row in enumerate(self.rows)]
        for i, key in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            if key == "lr":
                ax.plot(epochs, [_finite(v) for v in self["lr"]], "-o", markersize=3)
                ax.set_yscale("log")
                ax.set_title("learning rate")
            else:
                ax.plot(epochs, [_finite(v) for v in self[key]], "-o", markersize=3,
                        label="training")
                if f"val_{key}" in keys:
                    ax.plot(epochs, [_finite(v) for v in self[f"val_{key}"]], "-s",
                            markersize=3, label="validation")
                ax.legend()
                ax.set_title(key)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        if path is not None:
            fig.savefig(path)
        return fig

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.last.items())
        return f"History({len(self)} epochs; last: {last or '-'})"


def _finite(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(value) else float("nan")
