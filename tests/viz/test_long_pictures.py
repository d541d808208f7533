"""Long chains and long loops are drawn bounded: rolled, in one column, under 2000 px.

Widths are read from the SVG Graphviz renders (pt at 72/in, px at 96/in).  The
time each picture takes is printed (``-s``), never asserted (DESIGN.md rule 11).
"""

import os
import re
import shutil
import time

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd import record_grads
from graphgrad.viz.collapse import loop_body, looped_modules

VIEWS = [{"depth": 0}, {"loops": "roll"}, {"backward": True}]


def need_dot():
    if shutil.which("dot") is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip("Graphviz `dot` is not installed")


def rendered(dot, what):
    """(width px, height px, SVG text) of `dot` rendered by Graphviz; prints the time."""
    start = time.perf_counter()
    svg = dot.pipe(format="svg").decode()
    print(f"{what}: {time.perf_counter() - start:.2f} s")
    w, h = re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', svg).groups()
    return int(w) * 4 / 3, int(h) * 4 / 3, svg


def top_level_loop(steps=40):
    gg.manual_seed(0)
    cell = gg.layers.Linear(8, 8)
    xs = gg.tensor(np.random.default_rng(0).normal(size=(steps, 4, 8)).astype(np.float32))
    h = gg.tensor(np.zeros((4, 8), np.float32))
    for t in range(steps):
        h = gg.tanh(cell(h) + xs[t])
    loss = (h * h).sum()
    loss.backward(retain_graph=True)
    return cell, loss


def test_the_rest_of_each_step_belongs_to_the_loop():
    cell, loss = top_level_loop(3)
    graph = gg.to_networkx(loss, params=cell)
    assert looped_modules(graph) == [""]
    body = loop_body(graph, "")
    assert [(graph.nodes[n]["op"], call) for n, call in body.items()] == [
        ("Add", 0), ("Tanh", 0), ("Add", 1), ("Tanh", 1), ("Add", 2), ("Tanh", 2)]
    assert "Mul_0" not in body and "Sum_0" not in body  # the loss after the loop is not


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: ",".join(f"{k}={v[k]}" for k in v))
def test_a_40_step_loop_of_a_top_level_module_is_rolled_in_every_view(view):
    need_dot()
    cell, loss = top_level_loop(40)
    dot = gg.to_dot(loss, params=cell, **view)
    assert "Linear × 40 calls" in dot.source
    assert "each call, then " + " → ".join(
        ["AddBackward", "TanhBackward"] if view.get("backward") else ["Add", "Tanh"]) in dot.source
    width, _, svg = rendered(dot, f"40-step loop {view}")
    assert svg.count('class="node"') < 10  # the loop, the loss's ops and the legend
    assert width < 2000


def test_a_loop_drawn_one_cluster_per_call_keeps_each_step_in_its_call():
    need_dot()
    cell, loss = top_level_loop(40)
    dot = gg.to_dot(loss, params=cell, loops="steps")
    assert "Linear, call 39" in dot.source
    width, height, _ = rendered(dot, "40-step loop, loops='steps'")
    assert width < 2000 < height  # the calls stacked, not side by side


def sigmoid_chain(n=10):
    gg.manual_seed(5)
    layers = []
    for i in range(n):
        layers += [gg.layers.Linear(6 if i == 0 else 16, 16), gg.layers.Sigmoid()]
    model = gg.Sequential(*layers, gg.layers.Linear(16, 3))
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.normal(size=(32, 6)).astype(np.float32))
    loss = gg.losses["cross_entropy"]()(model(x), gg.tensor(rng.integers(0, 3, size=32)))
    with record_grads():
        loss.backward(retain_graph=True)
    return model, loss


def test_the_backward_view_of_a_long_chain_is_one_column_not_a_staircase():
    need_dot()
    model, loss = sigmoid_chain(10)
    dot = gg.to_dot(loss, params=model, backward=True)
    # each AccumulateGrad on the rank of the op that sends it its gradient
    assert dot.source.count("rank=same") == 11 * 2  # a weight and a bias per Linear
    width, height, _ = rendered(dot, "21-layer chain, backward")
    forward, _, _ = rendered(gg.to_dot(loss, params=model), "21-layer chain, forward")
    assert width < 1000 < height  # was 4862 x 4879 px: a staircase as wide as it was tall
    assert width < 1.5 * forward  # as narrow as the forward picture, give or take a label


def test_the_backward_view_stacks_the_calls_of_a_short_loop_last_call_first():
    need_dot()
    import runpy
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples" / "debugging"
    model, loss = runpy.run_path(str(examples / "large_graphs.py"),
                                 run_name="long_pictures")["unrolled_loop"](4)
    dot = gg.to_dot(loss, params=model, backward=True)  # 4 calls: one cluster each
    assert "cell, call 3" in dot.source
    assert dot.source.count("style=invis") >= 3  # each call below the one drawn before it
    width, height, _ = rendered(dot, "4-call loop, backward")
    assert width < height
