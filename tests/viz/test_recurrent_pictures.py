"""Recurrent layers in pictures: rolled ("× T steps") by default, unrolled with loops="steps"."""

from __future__ import annotations

import numpy as np

import graphgrad as gg


class Tagger(gg.Module):
    def __init__(self):
        super().__init__()
        self.lstm = gg.layers.LSTM(3, 8, bidirectional=True, rng=0)
        self.head = gg.layers.Linear(16, 2, rng=0)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


def _loss(steps=64):
    model = Tagger()
    x = gg.tensor(np.random.default_rng(0).standard_normal((2, steps, 3)).astype(np.float32),
                  name="x")
    return model, model(x).sum()


def test_a_64_step_lstm_is_drawn_rolled_by_default():
    model, loss = _loss()
    loss.backward(retain_graph=True)
    src = gg.to_dot(loss, params=model).source
    assert "lstm.l0: LSTM × 64 steps" in src and "lstm.l0_reverse: LSTM × 64 steps" in src
    assert "call 3" not in src
    assert len(src.splitlines()) < 120  # readable: a few dozen nodes, not 64 clusters
    graph = gg.to_networkx(loss, params=model)
    steps = [d for _, d in graph.nodes(data=True) if d["kind"] == "op" and d["time_step"]]
    assert {d["module"] for d in steps} == {"lstm.l0", "lstm.l0_reverse"}
    assert max(d["call"] for d in steps) == 63


def test_the_unrolled_view_is_one_argument_away():
    model, loss = _loss(steps=5)
    src = gg.to_dot(loss, params=model, loops="steps").source
    assert "lstm.l0, call 4" in src and "× 5 steps" not in src
    collapsed = gg.to_dot(loss, params=model, depth=0).source
    assert "lstm: LSTM" in collapsed and "(2, 5, 16)" in collapsed  # by name, with its shape


def test_a_user_loop_keeps_its_per_call_default_and_rolls_on_request():
    cell = gg.layers.GRUCell(2, 3, rng=0)

    class Unrolled(gg.Module):
        def __init__(self):
            super().__init__()
            self.cell = cell

        def forward(self, xs):
            h = None
            for t in range(xs.shape[0]):
                h = self.cell(xs[t], h)
            return h

    model = Unrolled()
    xs = gg.tensor(np.ones((4, 1, 2), np.float32), name="xs")
    loss = model(xs).sum()
    assert "cell, call 3" in gg.to_dot(loss, params=model).source
    assert "cell: GRUCell × 4 calls" in gg.to_dot(loss, params=model, loops="roll").source


def test_a_cell_shared_by_several_network_nodes_rolls():
    cell = gg.layers.RNNCell(3, 3, rng=0)
    net = gg.Network(inputs=["x"])
    net.add("s1", cell, inputs="x").add("s2", cell, inputs="s1").add("s3", cell, inputs="s2")
    x = gg.tensor(np.ones((2, 3), np.float32), name="x")
    loss = net(x).sum()
    rolled = gg.to_dot(loss, params=net, loops="roll").source
    assert "s1: RNNCell × 3 calls" in rolled and "cluster_s2" not in rolled
    plain = gg.to_dot(loss, params=net).source  # default: each use drawn as its node
    assert "cluster_s2" in plain and "× 3" not in plain


def test_summary_counts_the_steps_of_an_lstm_and_lists_its_outputs():
    model = Tagger()
    x = gg.tensor(np.zeros((2, 6, 3), np.float32))
    summary = gg.summary(model, x)
    row = next(r for r in summary.rows if r.path == "lstm")
    assert row.type == "LSTM" and row.output_shapes == ((2, 6, 16),)
    assert row.saved_bytes > 0.5 * summary.saved_bytes  # the 12 steps' saved arrays
    alone = gg.summary(gg.layers.LSTM(3, 4), x)
    assert alone.output_shapes == ((2, 6, 4), (1, 2, 4), (1, 2, 4))
