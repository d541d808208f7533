"""Collapsed module nodes (graphgrad/viz/collapse.py)."""

from __future__ import annotations

import numpy as np

import graphgrad as gg


def test_collapsed_modules_show_their_output_shape_in_both_views():
    # issue 12 item 9: the backward view read shapes off the reversed edges, so
    # "2: Linear" showed its input (4, 10) instead of its output (4, 5)
    model = gg.Sequential(gg.layers.Linear(15, 10, rng=0), gg.layers.ReLU(),
                          gg.layers.Linear(10, 5, rng=1))
    loss = model(gg.tensor(np.ones((4, 15), np.float32), name="x")).sum()
    for backward in (False, True):
        graph = gg.viz.collapse.collapse(gg.to_networkx(loss, backward=backward, params=model), 0)
        shapes = {n: d["shapes"] for n, d in graph.nodes(data=True) if d["kind"] == "module"}
        assert shapes == {"[0]": ((4, 10),), "[1]": ((4, 10),), "[2]": ((4, 5),)}, backward
        source = gg.to_dot(loss, depth=0, backward=backward, params=model).source
        label = next(line for line in source.splitlines() if "2: Linear" in line)
        assert "out (4, 5)" in label and "(4, 10)" not in label
