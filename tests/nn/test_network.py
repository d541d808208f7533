"""Network: a DAG of named layers (graphgrad/network.py).

Every forward is compared with the same model written as plain Tensor code
(or as NumPy), using the network's own parameters.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad.autograd import topological_order
from graphgrad.nn.module import Module, Parameter
from graphgrad.nn.network import Network


class Dense(Module):
    def __init__(self, n_in, n_out, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = Parameter(rng.standard_normal((n_in, n_out)))
        self.bias = Parameter(rng.standard_normal(n_out))

    def forward(self, x):
        return x @ self.weight + self.bias


class Tanh(Module):
    def forward(self, x):
        return gg.tanh(x)


class Sum(Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Cat(Module):
    def forward(self, *xs):
        return gg.concatenate(list(xs), axis=-1)


def _x(shape=(3, 4), seed=0):
    return gg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ------------------------------------------------------------------ structure
def test_skip_connection_equals_plain_tensor_code_forward_and_backward():
    net = Network(inputs=["x"])
    net.add("fc1", Dense(4, 6, 1), inputs=["x"])
    net.add("act", Tanh())
    net.add("fc2", Dense(6, 4, 2))
    net.add("skip", Sum(), inputs=["fc2", "x"])
    x = _x()
    y = net(x)
    fc1, fc2 = net["fc1"], net["fc2"]
    expected = gg.tanh(x @ fc1.weight + fc1.bias) @ fc2.weight + fc2.bias + x
    np.testing.assert_allclose(y.data, expected.data, rtol=1e-12)

    y.sum().backward()
    grads = {n: p.grad.data.copy() for n, p in net.named_parameters()}
    x_grad = x.grad.data.copy()
    net.zero_grad()
    x.grad = None
    expected.sum().backward()
    for name, p in net.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.data, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(x_grad, x.grad.data, rtol=1e-12)


def test_diamond_equals_plain_tensor_code_and_passes_gradcheck():
    net = Network(inputs="x")
    net.add("stem", Dense(4, 5, 1), inputs="x")
    net.add("left", Dense(5, 3, 2), inputs="stem")
    net.add("right", Dense(5, 2, 3), inputs="stem")
    net.add("act", Tanh(), inputs="right")
    net.add("join", Cat(), inputs=["left", "act"])
    x = _x()
    s, lf, r = net["stem"], net["left"], net["right"]
    h = x @ s.weight + s.bias
    expected = gg.concatenate([h @ lf.weight + lf.bias, gg.tanh(h @ r.weight + r.bias)], axis=-1)
    np.testing.assert_allclose(net(x).data, expected.data, rtol=1e-12)
    assert gg.check.gradcheck(lambda x: net(x), [x])
    report = gg.check.module(net, x)
    assert report.ok, str(report)  # gradients wrt every parameter, too


def test_layers_may_be_added_in_any_order():
    net = Network(inputs=["x"], outputs="out")
    net.add("out", Sum(), inputs=["b", "a"])  # forward references
    net.add("b", Dense(4, 4, 2), inputs="a")
    net.add("a", Dense(4, 4, 1), inputs="x")
    assert net.check() == ["a", "b", "out"]
    x = _x()
    a, b = net["a"], net["b"]
    ha = x @ a.weight + a.bias
    np.testing.assert_allclose(net(x).data, (ha @ b.weight + b.bias + ha).data, rtol=1e-12)


def test_the_same_input_twice_and_a_shared_layer():
    shared = Dense(4, 4, 1)
    net = Network()
    net.add("double", Sum(), inputs=["x", "x"])
    net.add("f1", shared)
    net.add("f2", shared)
    x = _x()
    h = shared(x + x)
    np.testing.assert_allclose(net(x).data, shared(h).data, rtol=1e-12)
    assert [n for n, _ in net.named_parameters()] == ["f1.weight", "f1.bias"]
    assert net.to_networkx().edges["x", "double"]["ports"] == [0, 1]
    paths = [node.module[0] for node in topological_order([net(x).grad_fn])]
    assert {"f1", "f2", "double"} == set(paths)  # each call recorded under its node name


# ------------------------------------------------------------------- errors
def test_cycle_is_an_error_naming_the_nodes():
    net = Network()
    net.add("a", Sum(), inputs=["x", "c"])
    net.add("b", Tanh(), inputs="a")
    net.add("c", Tanh(), inputs="b")
    with pytest.raises(ValueError, match=r"cycle .*a.*->.*b.*->.*c|cycle .*c -> a"):
        net(_x())
    with pytest.raises(ValueError, match="DAG"):
        net.check()


def test_missing_input_is_an_error_naming_the_nodes():
    net = Network(inputs=["x"])
    net.add("fc", Dense(4, 4, 0), inputs="x")
    net.add("join", Sum(), inputs=["fc", "hiden"])
    with pytest.raises(ValueError, match=r"'hiden' \(wanted by 'join'\)"):
        net(_x())


def test_building_errors():
    net = Network(inputs=["x", "y"])
    with pytest.raises(ValueError, match="several inputs"):
        net.add("fc", Dense(4, 4, 0))
    net.add("fc", Dense(4, 4, 0), inputs="x")
    with pytest.raises(ValueError, match="already a layer named 'fc'"):
        net.add("fc", Tanh(), inputs="fc")
    with pytest.raises(ValueError, match="already an input named 'y'"):
        net.add("y", Tanh(), inputs="fc")
    with pytest.raises(TypeError, match="instantiate it"):
        net.add("act", Tanh, inputs="fc")
    with pytest.raises(ValueError, match="without '.'"):
        net.add("a.b", Tanh(), inputs="fc")
    with pytest.raises(ValueError, match="repeat"):
        Network(inputs=["x", "x"])
    with pytest.raises(ValueError, match="no layers"):
        Network()(_x())
    with pytest.raises(KeyError, match="no layer named 'zz'"):
        net["zz"]
    net.outputs = "nowhere"
    with pytest.raises(ValueError, match=r"output\(s\) \['nowhere'\]"):
        net(_x(), _x())


# ------------------------------------------------------------------ calling
def _two_input_net():
    net = Network(inputs=["a", "b"], outputs=["sum", "cat"])
    net.add("sum", Sum(), inputs=["a", "b"])
    net.add("cat", Cat(), inputs=["b", "a"])
    return net


def test_inputs_by_position_dict_and_keyword_and_several_outputs():
    net = _two_input_net()
    a, b = _x(seed=1), _x(seed=2)
    for s, c in (net(a, b), net({"a": a, "b": b}), net(b=b, a=a), net(a, b=b)):
        np.testing.assert_array_equal(s.data, a.data + b.data)
        np.testing.assert_array_equal(c.data, np.concatenate([b.data, a.data], axis=-1))


def test_calling_with_wrong_inputs_names_them():
    net = _two_input_net()
    with pytest.raises(TypeError, match=r"missing \['b'\]"):
        net(_x())
    with pytest.raises(TypeError, match=r"unknown \['c'\]"):
        net(a=_x(), b=_x(), c=_x())
    with pytest.raises(TypeError, match="3 positional inputs"):
        net(_x(), _x(), _x())
    with pytest.raises(TypeError, match="given twice"):
        net(_x(), a=_x(), b=_x())


def test_only_the_layers_the_outputs_need_are_run():
    calls = []

    class Spy(Module):
        def forward(self, x):
            calls.append(1)
            return x

    net = Network(outputs="used")
    net.add("used", Tanh(), inputs="x")
    net.add("dead", Spy(), inputs="x")
    net(_x())
    assert calls == []


# ---------------------------------------------------------- Module behaviour
def test_network_is_a_module_with_parameters_named_by_node(tmp_path):
    net = Network()
    net.add("fc1", Dense(4, 3, 1))
    net.add("fc2", Dense(3, 2, 2))
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert net.num_parameters() == 4 * 3 + 3 + 3 * 2 + 2
    net.eval()
    assert not net["fc1"].training

    other = Network()
    other.add("fc1", Dense(4, 3, 10))
    other.add("fc2", Dense(3, 2, 20))
    x = _x()
    assert not np.allclose(net(x).data, other(x).data)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(net(x).data, other(x).data)

    third = Network()
    third.add("fc1", Dense(4, 3, 30))
    third.add("fc2", Dense(3, 2, 40))
    net.save(tmp_path / "net.npz")
    third.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(net(x).data, third(x).data)
    assert [p.name for p in tmp_path.iterdir()] == ["net.npz"]

    wrong = Network()
    wrong.add("fc1", Dense(4, 3, 1))
    with pytest.raises(ValueError, match=r"unexpected keys .*fc2\.weight"):
        wrong.load(tmp_path / "net.npz")


def test_nodes_record_the_layer_node_name_as_module_path():
    net = Network()
    net.add("hidden", Dense(4, 3, 1))
    net.add("squash", Tanh())
    y = net(_x())
    modules = {node.module for node in topological_order([y.grad_fn])}
    assert modules == {("hidden", "Dense"), ("squash", "Tanh")}


def test_to_networkx_has_layer_types_and_parameters():
    net = Network()
    net.add("fc", Dense(4, 3, 1))
    net.add("act", Tanh())
    net.add("res", Sum(), inputs=["act", "fc"])
    g = net.to_networkx()
    assert isinstance(g, nx.DiGraph)
    assert list(g.nodes) == ["x", "fc", "act", "res"]
    assert set(g.edges) == {("x", "fc"), ("fc", "act"), ("act", "res"), ("fc", "res")}
    assert g.nodes["x"]["kind"] == "input"
    fc = g.nodes["fc"]
    assert fc["type"] == "Dense" and fc["num_parameters"] == 15
    assert fc["params"] == {"weight": (4, 3), "bias": (3,)}
    assert g.nodes["res"]["inputs"] == ["act", "fc"] and g.nodes["res"]["is_output"]
    assert g.edges["fc", "res"]["ports"] == [1]
    assert g.graph["outputs"] == ["res"]
    g.remove_node("fc")  # a copy: the network is untouched
    assert "fc" in net.graph


def test_repr_shows_wiring_and_counts():
    net = Network()
    net.add("fc", Dense(2, 2, 1))
    net.add("res", Sum(), inputs=["fc", "x"])
    text = repr(net)
    assert text.splitlines()[0] == "Network(inputs=['x'], outputs=['res'])("
    assert "(fc <- x): Dense()  # 6 parameters" in text
    assert "(res <- fc, x): Sum()" in text
    assert text.endswith(")  # 6 parameters")


# --------------------------------------------------- random DAGs (hypothesis)
@st.composite
def dags(draw):
    """A random DAG: node k reads one or two earlier nodes; layers added in random order."""
    n = draw(st.integers(1, 7))
    nodes = []
    for k in range(n):
        kind = draw(st.sampled_from(["dense", "tanh", "sum"]))
        pool = ["x"] + [f"n{j}" for j in range(k)]
        count = 2 if kind == "sum" else 1
        inputs = draw(st.lists(st.sampled_from(pool), min_size=count, max_size=count))
        nodes.append((f"n{k}", kind, inputs))
    order = draw(st.permutations(range(n)))
    return nodes, order


@settings(max_examples=25, deadline=None)
@given(dags())
def test_random_dags_match_direct_evaluation(spec):
    nodes, order = spec
    d = 3
    layers = {}
    for k, (name, kind, _) in enumerate(nodes):
        layers[name] = {"dense": lambda k=k: Dense(d, d, k), "tanh": Tanh, "sum": Sum}[kind]()
    net = Network(outputs=nodes[-1][0])
    for k in order:
        name, _, inputs = nodes[k]
        net.add(name, layers[name], inputs=inputs)
    x = np.random.default_rng(0).standard_normal((2, d))

    values = {"x": x}  # the same maths in NumPy, in the order written
    for name, kind, inputs in nodes:
        args = [values[i] for i in inputs]
        if kind == "dense":
            values[name] = args[0] @ layers[name].weight.data + layers[name].bias.data
        elif kind == "tanh":
            values[name] = np.tanh(args[0])
        else:
            values[name] = args[0] + args[1]
    np.testing.assert_allclose(net(gg.tensor(x)).data, values[nodes[-1][0]], rtol=1e-12)
