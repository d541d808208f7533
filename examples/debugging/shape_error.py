"""Broken network 1: a Linear with the wrong input size in the middle of an MLP.

    python examples/debugging/shape_error.py [--out DIR]

The fourth Linear expects 5 features but gets 6.  The error names the module
path (``model.4: Linear``) and the fix; ``gg.summary`` still prints the table
up to the failing module (marked ``<-- FAILED``) and ``model.to_dot(x)`` draws
what ran, the failing module red with the error in the title.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphgrad as gg


def build():
    """The MLP (8 → 6 → 6 → 2, with the last Linear built for 5 inputs) and a batch."""
    model = gg.Sequential(gg.layers.Linear(8, 6, rng=0), gg.layers.ReLU(),
                          gg.layers.Linear(6, 6, rng=1), gg.layers.ReLU(),
                          gg.layers.Linear(5, 2, rng=2))
    x = gg.tensor(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32),
                  name="x")
    return model, x


def find():
    """(the error, the partial summary, the partial picture)."""
    model, x = build()
    try:
        model(x)
    except ValueError as exc:
        error = exc
    return error, gg.summary(model, x), model.to_dot(x)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write shape_error.svg here")
    args = parser.parse_args(argv)
    error, table, dot = find()
    print("the error:", error, *getattr(error, "__notes__", []), sep="\n  ")
    print("\ngg.summary shows what ran:\n" + str(table))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        print("wrote", gg.render(dot, args.out / "shape_error.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
