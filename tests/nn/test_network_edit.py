"""Issue 19 items 2 and 3: editing a built Network, errors that name the node, check(inputs)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn.module import Module
from graphgrad.nn.network import Network


class Sum(Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


def _x(shape=(5, 4), seed=0):
    return gg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _mlp():
    gg.manual_seed(0)
    net = Network()
    net.add("fc1", gg.layers.Linear(4, 8))
    net.add("act", gg.layers.Tanh())
    net.add("fc2", gg.layers.Linear(8, 4))
    net.add("res", Sum(), inputs=["fc2", "x"])
    return net


def _train(net, steps=30):
    """A few SGD steps towards a fixed target; returns the losses."""
    x = _x()
    target = _x(net(x).shape, seed=1)
    opt = gg.optimizers.SGD(net.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        loss = ((net(x) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _weights(net):
    return {k: v.copy() for k, v in net.state_dict().items()}


def _assert_bit_identical(before, after, names):
    for name in names:
        assert before[name].tobytes() == after[name].tobytes(), name


# ------------------------------------------------------------------ editing
def test_replace_keeps_other_weights_bit_identical_and_trains():
    net = _mlp()
    _train(net, 5)
    before = _weights(net)
    old = net["fc2"]
    new = gg.layers.Linear(8, 4, rng=3)
    assert net.replace("fc2", new) is old
    assert net["fc2"] is new and net.fc2 is new
    after = _weights(net)
    _assert_bit_identical(before, after, ["fc1.weight", "fc1.bias"])
    np.testing.assert_array_equal(after["fc2.weight"], new.weight.data)
    x = _x()
    expected = np.tanh(x.data @ net["fc1"].weight.data + net["fc1"].bias.data) @ \
        new.weight.data + new.bias.data + x.data
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-5)
    losses = _train(net)
    assert losses[-1] < losses[0]


def test_insert_after_reroutes_consumers_and_outputs():
    net = _mlp()
    before = _weights(net)
    net.insert_after("fc1", "norm", gg.layers.Tanh())
    assert net.graph.nodes["act"]["inputs"] == ["norm"]
    assert net.graph.nodes["norm"]["inputs"] == ["fc1"]
    net.insert_after("x", "scale", gg.layers.Tanh())  # both uses of x now read "scale"
    assert net.graph.nodes["fc1"]["inputs"] == ["scale"]
    assert net.graph.nodes["res"]["inputs"] == ["fc2", "scale"]
    net.insert_after("res", "head", gg.layers.Linear(4, 2, rng=1))  # after the output
    assert net.outputs == ["head"]
    _assert_bit_identical(before, _weights(net), list(before))
    x = _x()
    fc1, fc2, head = net["fc1"], net["fc2"], net["head"]
    s = np.tanh(x.data)
    h = np.tanh(np.tanh(s @ fc1.weight.data + fc1.bias.data))
    expected = (h @ fc2.weight.data + fc2.bias.data + s) @ head.weight.data + head.bias.data
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-5)
    losses = _train(net)
    assert losses[-1] < losses[0]


def test_remove_reconnects_a_chain_and_refuses_an_ambiguous_merge():
    net = _mlp()
    before = _weights(net)
    removed = net["act"]
    assert net.remove("act") is removed
    assert net.graph.nodes["fc2"]["inputs"] == ["fc1"]
    _assert_bit_identical(before, _weights(net), list(before))
    x = _x()
    fc1, fc2 = net["fc1"], net["fc2"]
    expected = (x.data @ fc1.weight.data + fc1.bias.data) @ fc2.weight.data + fc2.bias.data
    np.testing.assert_allclose(net(x).data, expected + x.data, rtol=1e-5)

    with pytest.raises(ValueError, match=r"remove\('res'\): it merges \['fc2', 'x'\].*reconnect="):
        net.remove("res")  # the output: which branch should become it?
    assert "res" in net.graph and net.outputs == ["res"]
    net.remove("res", reconnect="fc2")
    assert net.outputs == ["fc2"]
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-5)
    losses = _train(net)
    assert losses[-1] < losses[0]


def test_remove_a_dead_branch_and_the_last_layer():
    net = _mlp()
    net.outputs = ["res"]
    net.add("aux", gg.layers.Linear(8, 2, rng=0), inputs="act")
    net.remove("aux")  # feeds nothing: no reconnection needed
    assert "aux" not in net.graph and [n for n, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    chain = Network()
    chain.add("a", gg.layers.Tanh())
    chain.add("b", gg.layers.Tanh())
    chain.remove("b")
    assert chain.outputs == ["a"]
    chain.add("c", gg.layers.Tanh())
    assert chain.graph.nodes["c"]["inputs"] == ["a"] and chain.outputs == ["c"]


def test_rewire_checks_names_and_cycles_and_changes_nothing_on_error():
    net = _mlp()
    net.rewire("res", inputs=["fc2", "fc2"])
    assert net.graph.nodes["res"]["inputs"] == ["fc2", "fc2"]
    assert net.graph.edges["fc2", "res"]["ports"] == [0, 1]
    assert not net.graph.has_edge("x", "res")
    x = _x()
    fc1, fc2 = net["fc1"], net["fc2"]
    h = np.tanh(x.data @ fc1.weight.data + fc1.bias.data) @ fc2.weight.data + fc2.bias.data
    np.testing.assert_allclose(net(x).data, 2 * h, rtol=1e-5)
    edges = sorted(net.graph.edges)
    with pytest.raises(KeyError, match=r"no node\(s\) \['fc3'\]"):
        net.rewire("res", inputs=["fc3"])
    with pytest.raises(ValueError, match="cycle .*nothing was changed"):
        net.rewire("fc1", inputs=["fc2"])
    assert sorted(net.graph.edges) == edges
    assert net.graph.nodes["fc1"]["inputs"] == ["x"]
    np.testing.assert_allclose(net(x).data, 2 * h, rtol=1e-5)


def test_edit_errors_name_the_problem():
    net = _mlp()
    with pytest.raises(KeyError, match="no layer 'x' .it is a network input"):
        net.replace("x", gg.layers.Tanh())
    with pytest.raises(TypeError, match="instantiate it"):
        net.replace("act", gg.layers.Tanh)
    with pytest.raises(KeyError, match="no node 'zz'"):
        net.insert_after("zz", "n", gg.layers.Tanh())
    with pytest.raises(ValueError, match="already a layer named 'act'"):
        net.insert_after("fc1", "act", gg.layers.Tanh())
    with pytest.raises(KeyError, match="reconnect='zz' is not another node"):
        net.remove("act", reconnect="zz")


def test_add_after_the_network_ran_keeps_the_output_and_warns():
    net = _mlp()
    x = _x()
    y = net(x).data
    with pytest.warns(UserWarning, match=r"already run with output \['res'\]"):
        net.add("aux", gg.layers.Linear(4, 2), inputs="res")
    assert net.outputs == ["res"]
    np.testing.assert_array_equal(net(x).data, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # explicit outputs: no warning
        net.add("aux2", gg.layers.Tanh(), inputs="res")
    net.outputs = ["res", "aux"]
    assert net(x)[1].shape == (5, 2)


# ------------------------------------------------------------------- errors
def _branches():
    net = Network(inputs=["x"])
    net.add("wide", gg.layers.Linear(4, 8, rng=0), inputs="x")
    net.add("narrow", gg.layers.Linear(4, 3, rng=1), inputs="x")
    net.add("merge", Sum(), inputs=["wide", "narrow"])
    return net


def test_an_error_inside_a_node_names_the_node_layer_and_input_shapes():
    net = _branches()
    with pytest.raises(ValueError) as info:
        net(_x((2, 4)))
    notes = getattr(info.value, "__notes__", [])
    assert ("in Network node 'merge' (layer Sum) fed by 'wide' (2, 8) float32, "
            "'narrow' (2, 3) float32") in notes


def test_nested_networks_name_each_level():
    inner = _branches()
    outer = Network()
    outer.add("block", inner)
    with pytest.raises(ValueError) as info:
        outer(_x((2, 4)))
    notes = info.value.__notes__
    merge = next(i for i, n in enumerate(notes) if "node 'merge'" in n)
    block = next(i for i, n in enumerate(notes) if "node 'block' (layer Network)" in n)
    assert merge < block  # innermost first, as the traceback reads


def test_check_with_example_inputs_returns_every_shape_and_leaves_state_alone():
    gg.manual_seed(0)
    net = Network(inputs=["num", "cat"], outputs=["out", "emb"])
    net.add("emb", gg.layers.Linear(3, 2), inputs="cat")
    net.add("drop", gg.layers.Dropout(0.5), inputs="num")
    net.add("bn", gg.layers.BatchNorm(4), inputs="drop")
    net.add("join", gg.layers.Concat(), inputs=["bn", "emb"])
    net.add("out", gg.layers.Linear(6, 1))
    state = _weights(net)
    shapes = net.check({"num": np.ones((7, 4), np.float32), "cat": np.ones((7, 3), np.float32)})
    assert shapes == {"num": (7, 4), "cat": (7, 3), "emb": (7, 2), "drop": (7, 4),
                      "bn": (7, 4), "join": (7, 6), "out": (7, 1)}
    assert list(shapes)[:2] == ["num", "cat"]
    assert all(m.training for m in net.modules())
    _assert_bit_identical(state, _weights(net), list(state))  # running stats untouched
    assert net.check((_x((2, 4)), _x((2, 3))))["out"] == (2, 1)
    assert net.check() == ["emb", "drop", "bn", "join", "out"]


def test_check_with_example_inputs_reports_the_failing_node():
    net = _branches()
    with pytest.raises(ValueError) as info:
        net.check(np.ones((2, 4), np.float32))
    assert any("node 'merge'" in n and "(2, 8)" in n for n in info.value.__notes__)
