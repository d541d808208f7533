"""Broken network 3: a 12-layer tanh MLP whose init makes gradients explode.

    python examples/debugging/exploding_tanh.py [--out DIR]

Each Linear's weights have a gain of 2.5 (instead of ~1 for tanh) and the
inputs are small, so every tanh works in its linear range and each layer
multiplies the gradient by up to ~2.5 on the way back: the gradient reaching the
first layer is ~300 times the one leaving the last.  In the picture the first
layers are the hottest colour and the last the palest; the compact ``depth=0``
view keeps every layer's gradient norm and folds the 12 identical blocks into
one node "× 12" whose sparkline (one bar per layer) falls from input to output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad.autograd import record_grads

WIDTH, DEPTH, GAIN = 16, 12, 2.5


def build():
    """(model, x, labels)."""
    layers = []
    for i in range(DEPTH):
        lin = gg.layers.Linear(WIDTH, WIDTH, rng=i)
        lin.weight.data[:] = (np.random.default_rng(100 + i).standard_normal((WIDTH, WIDTH))
                              * GAIN / np.sqrt(WIDTH)).astype(np.float32)
        layers += [lin, gg.layers.Tanh()]
    model = gg.Sequential(*layers, gg.layers.Linear(WIDTH, 4, rng=99))
    x = gg.tensor(0.01 * np.random.default_rng(0).standard_normal((8, WIDTH)).astype(np.float32),
                  name="x")
    return model, x, np.random.default_rng(1).integers(0, 4, 8)


def find():
    """(the full graph, the full DOT source, the compact depth=0 DOT source)."""
    model, x, y = build()
    loss = gg.softmax_cross_entropy(model(x), y).mean()
    with record_grads():
        loss.backward(retain_graph=True)
    return (gg.to_networkx(loss, params=model), gg.to_dot(loss, params=model, fold=False),
            gg.to_dot(loss, params=model, depth=0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the two SVGs here")
    args = parser.parse_args(argv)
    graph, full, compact = find()
    for i in range(0, 2 * DEPTH + 1, 2):
        norm = graph.nodes[f"{i}/MatMul_0"]["grad_norm"]
        print(f"layer {i:2d}: ‖grad‖ at its MatMul = {norm:.3g}")
    spark = next(line for line in compact.source.splitlines() if "per layer" in line)
    print("compact view:", spark.split("per layer: ")[1].split("\\n")[0])
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        print("wrote", gg.render(full, args.out / "exploding_tanh.svg"))
        print("wrote", gg.render(compact, args.out / "exploding_tanh_depth0.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
