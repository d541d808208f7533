"""Broken network 2: dead ReLUs (a bias of -10 before the first ReLU).

    python examples/debugging/dead_relu.py [--out DIR]

Every pre-activation of the first hidden layer is negative, so its ReLU
outputs 0 for every sample and no gradient reaches the first Linear.  With
``stats=True`` the ReLU node says ``DEAD: all outputs 0`` and is grey and
dashed; after a backward the first layer's parameters have ‖grad‖ = 0 (grey,
dashed) while the rest are coloured; babysit's dead_relu check names the layer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad.autograd import record_grads


def build():
    """(model, x, labels): 10 → 16 (bias -10) → ReLU → 16 → ReLU → 3."""
    model = gg.Sequential(gg.layers.Linear(10, 16, rng=0), gg.layers.ReLU(),
                          gg.layers.Linear(16, 16, rng=1), gg.layers.ReLU(),
                          gg.layers.Linear(16, 3, rng=2))
    model[0].bias.data[:] = -10.0
    x = gg.tensor(np.random.default_rng(0).standard_normal((32, 10)).astype(np.float32),
                  name="x")
    return model, x, np.random.default_rng(1).integers(0, 3, 32)


def find():
    """(graph with stats and gradients, its DOT source, babysit's dead_relu check)."""
    from graphgrad.check.babysitting import check_dead_relu, relu_activity

    model, x, y = build()
    with gg.record_stats():
        loss = gg.softmax_cross_entropy(model(x), y).mean()
    with record_grads():
        loss.backward(retain_graph=True)
    graph = gg.to_networkx(loss, params=model)
    dot = gg.to_dot(loss, params=model, stats=True)
    activity = relu_activity(model, x.data)
    return graph, dot, check_dead_relu(activity, activity, 0, 0.25)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write dead_relu.svg here")
    args = parser.parse_args(argv)
    graph, dot, check = find()
    for n, d in graph.nodes(data=True):
        if d["op"] == "Relu":
            print(f"{n}: {d['zero_frac']:.0%} of its outputs are 0, ‖grad‖ = {d['grad_norm']:.3g}")
    for n in ("0.weight", "0.bias", "2.weight"):
        print(f"{n}: ‖grad‖ = {graph.nodes[n]['grad_norm']:.3g}")
    print("babysit:", check.status, "-", check.detail)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        print("wrote", gg.render(dot, args.out / "dead_relu.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
