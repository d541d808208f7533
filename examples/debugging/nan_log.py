"""Broken network 6: a NaN from the log of a negative number.

    python examples/debugging/nan_log.py [--out DIR]

The model takes ``log`` of a Linear's output, which is negative for some
samples.  Without help the loss is just NaN.  Inside ``gg.detect_anomaly()``
the forward stops at the first op that made a NaN and the error says which op
(``Log``), in which module, what its input held ("Log got 5 negative
values") and the line that called it; ``gg.to_dot(err.output)`` draws the graph
up to it with that node red.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphgrad as gg


class LogFeatures(gg.Module):
    """A layer that (wrongly) takes the log of a Linear's output."""

    def __init__(self):
        super().__init__()
        self.fc = gg.layers.Linear(4, 3, rng=0)

    def forward(self, x):
        return self.fc(x).log()  # the bug: fc(x) can be negative


def build():
    """(model, x, labels)."""
    model = gg.Sequential(gg.layers.Linear(6, 4, rng=1), gg.layers.Tanh(), LogFeatures(),
                          gg.layers.Linear(3, 2, rng=2))
    x = gg.tensor(np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32),
                  name="x")
    return model, x, np.array([0, 1, 1, 0, 1])


def find():
    """(the loss without anomaly mode, the AnomalyError, the DOT source marking it)."""
    model, x, y = build()
    with np.errstate(invalid="ignore"):
        plain = gg.softmax_cross_entropy(model(x), y).mean()
        try:
            with gg.detect_anomaly():
                gg.softmax_cross_entropy(model(x), y).mean()
        except gg.viz.AnomalyError as exc:
            error = exc
    return plain, error, gg.to_dot(error.output, params=model)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write nan_log.svg here")
    args = parser.parse_args(argv)
    plain, error, dot = find()
    print("the loss without anomaly mode:", plain.item())
    print("with gg.detect_anomaly():", error, *getattr(error, "__notes__", []), sep="\n  ")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        print("wrote", gg.render(dot, args.out / "nan_log.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
