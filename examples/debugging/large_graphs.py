"""Broken network 5: graphs too large to read: a 30-layer MLP and a loop unrolled 50 steps.

    python examples/debugging/large_graphs.py [--out DIR]

The 30-layer MLP collapsed to ``depth=0`` keeps every layer's gradient norm and
colour, and its 29 identical (Linear, ReLU) blocks fold into one node "× 29"
with a sparkline of the gradient norm per block.  The recurrent cell applied
50 times to ``xs[t]`` is drawn one cluster per call (``loops="steps"``, each
slice named ``xs[3]``, the data path straight: under 2000 px wide) or rolled
up into one node "× 50 calls" (``loops="roll"``).  ``max_nodes`` keeps both
ends of a graph and replaces its middle by one placeholder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad.autograd import record_grads

STEPS, WIDTH = 50, 8


def deep_mlp(depth: int = 30):
    """(model, loss after backward): ``depth`` Linear layers with ReLUs between them."""
    layers = [gg.layers.Linear(16, 16, rng=0)]
    for i in range(1, depth):
        layers += [gg.layers.ReLU(), gg.layers.Linear(16, 16, rng=i)]
    model = gg.Sequential(*layers)
    x = gg.tensor(np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32),
                  name="x")
    loss = (model(x) ** 2).mean()
    with record_grads():
        loss.backward(retain_graph=True)
    return model, loss


class Cell(gg.Module):
    """h' = tanh(x @ W + h @ U): one step of a plain recurrent network."""

    def __init__(self, width, rng):
        super().__init__()
        self.inp = gg.layers.Linear(1, width, rng=rng)
        self.rec = gg.layers.Linear(width, width, bias=False, rng=rng + 1)

    def forward(self, x, h):
        return (self.inp(x) + self.rec(h)).tanh()


class Unrolled(gg.Module):
    """The cell applied to each step of a sequence xs (STEPS, batch, 1)."""

    def __init__(self):
        super().__init__()
        self.cell = Cell(WIDTH, rng=0)

    def forward(self, xs, h):
        for t in range(len(xs)):
            h = self.cell(xs[t], h)
        return h


def unrolled_loop(steps: int = STEPS):
    """(model, loss after backward) of the cell unrolled over `steps` steps."""
    model = Unrolled()
    xs = gg.tensor(np.random.default_rng(1).standard_normal((steps, 2, 1)).astype(np.float32),
                   name="xs")
    h0 = gg.tensor(np.zeros((2, WIDTH), np.float32), name="h0")
    loss = model(xs, h0).sum()
    with record_grads():
        loss.backward(retain_graph=True)
    return model, loss


def find():
    """DOT sources: the MLP at depth=0, the loop per call and rolled, the MLP with max_nodes."""
    model, loss = deep_mlp()
    loop_model, loop_loss = unrolled_loop()
    return {
        "mlp_depth0": gg.to_dot(loss, params=model, depth=0),
        "mlp_max_nodes": gg.to_dot(loss, params=model, max_nodes=40, group_by_module=False),
        "loop_steps": gg.to_dot(loop_loss, params=loop_model, show_saved=False, loops="steps"),
        "loop_rolled": gg.to_dot(loop_loss, params=loop_model, loops="roll"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the SVGs here")
    args = parser.parse_args(argv)
    dots = find()
    for name, dot in dots.items():
        nodes = sum(1 for line in dot.source.splitlines() if line.strip().startswith("n")
                    and "->" not in line)
        print(f"{name}: {nodes} nodes drawn")
    folded = next(line for line in dots["mlp_depth0"].source.splitlines() if "×" in line)
    print("folded:", folded.split('label="')[1].split('"')[0].replace("\\n", " | "))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, dot in dots.items():
            print("wrote", gg.render(dot, args.out / f"{name}.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
