"""A Loss as a Network node (weighted multi-output losses) and calling with only the inputs
the outputs need."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn.network import LossNode, Network


def _two_heads():
    gg.manual_seed(0)
    net = Network(inputs=["x", "ya", "yb"], outputs=["total"])
    net.add("a", gg.layers.Linear(3, 2), inputs="x")
    net.add("b", gg.layers.Linear(3, 1), inputs="x")
    net.add("loss_a", gg.losses.MSE(), inputs=["a", "ya"])
    net.add("loss_b", gg.losses.L1(), inputs=["b", "yb"])
    net.add("total", gg.layers.Lambda(lambda p, q: 0.7 * p + 0.3 * q),
            inputs=["loss_a", "loss_b"])
    return net


def _data():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((6, 3)), rng.standard_normal((6, 2)),
            rng.standard_normal((6, 1)))


def test_a_weighted_sum_of_loss_nodes_equals_the_losses_computed_outside():
    net = _two_heads().double()
    x, ya, yb = (gg.tensor(v) for v in _data())
    total = net(x, ya, yb)
    a, b = net["a"], net["b"]
    pa = x.data @ a.weight.data + a.bias.data
    pb = x.data @ b.weight.data + b.bias.data
    expected = 0.7 * np.mean((pa - ya.data) ** 2) + 0.3 * np.mean(np.abs(pb - yb.data))
    np.testing.assert_allclose(total.item(), expected, rtol=1e-12)
    assert isinstance(net["loss_a"], LossNode) and net.num_parameters() == 8 + 4
    assert gg.check.gradcheck(lambda w: _with_weight(net, w, x, ya, yb),
                              [gg.tensor(a.weight.data.copy(), requires_grad=True)])


def _with_weight(net, w, x, ya, yb):
    a = net["a"]
    saved = a.weight
    object.__setattr__(a, "weight", w)
    try:
        return net(x, ya, yb)
    finally:
        object.__setattr__(a, "weight", saved)


def test_only_the_inputs_the_outputs_need_are_required():
    net = _two_heads()
    x, ya, yb = (v.astype(np.float32) for v in _data())
    with pytest.raises(TypeError, match=r"missing \['yb'\]"):
        net(x=x, ya=ya)
    net.outputs = ["a", "b"]
    a, b = net(x=gg.tensor(x))       # predicting needs no targets
    assert a.shape == (6, 2) and b.shape == (6, 1)
    assert list(net.check({"x": x})) == ["x", "a", "b"]


def test_a_class_or_other_object_is_refused_with_a_hint():
    net = Network()
    with pytest.raises(TypeError, match="must be a Module or a Loss, got type.*instantiate"):
        net.add("l", gg.losses.MSE)
