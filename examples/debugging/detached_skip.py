"""Broken network 4: a gg.Network whose skip branch was accidentally detached.

    python examples/debugging/detached_skip.py [--out DIR]

The skip branch projects the input with its own Linear, but its layer returns
``self.proj(x).detach()`` (meant as a "stop-gradient" experiment, left in by
mistake): training never updates ``skip.proj``.  After a backward, ``to_dot(loss,
params=net)`` lists the parameters that got no gradient in the title, draws
them red and dashed ("NO GRADIENT"), and draws the cut as a red edge labelled
"detached" from the branch to the Add, instead of an anonymous input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphgrad as gg


class Shortcut(gg.Module):
    """A projection shortcut: x @ W (its output is detached: the bug)."""

    def __init__(self, n_in, n_out, rng):
        super().__init__()
        self.proj = gg.layers.Linear(n_in, n_out, rng=rng)

    def forward(self, x):
        return self.proj(x).detach()


def build():
    """(net, x, labels): x → body → act → add(act, skip(x)) → head."""
    net = gg.Network(inputs=["x"])
    net.add("body", gg.layers.Linear(8, 6, rng=0), inputs="x")
    net.add("act", gg.layers.ReLU())
    net.add("skip", Shortcut(8, 6, rng=1), inputs="x")
    net.add("add", gg.layers.Add(), inputs=["act", "skip"])
    net.add("head", gg.layers.Linear(6, 3, rng=2))
    x = gg.tensor(np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32),
                  name="x")
    return net, x, np.array([0, 2, 1, 0])


def find():
    """(graph, DOT source) after one backward."""
    net, x, y = build()
    loss = gg.softmax_cross_entropy(net(x), y).mean()
    loss.backward()
    return gg.to_networkx(loss, params=net), gg.to_dot(loss, params=net)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write detached_skip.svg here")
    args = parser.parse_args(argv)
    graph, dot = find()
    print("parameters without a gradient:", ", ".join(graph.graph["missing_grads"]))
    cuts = [(u, v) for u, v, d in graph.edges(data=True) if d.get("detached")]
    print("detached edges:", ", ".join(f"{u} -> {v}" for u, v in cuts))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        print("wrote", gg.render(dot, args.out / "detached_skip.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
