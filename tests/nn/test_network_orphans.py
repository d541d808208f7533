"""Issue 27: an edit that orphans a layer warns naming it; Network.prune(); inputs= a Tensor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn.network import Network


def _chain():
    net = Network()
    net.add("fc1", gg.layers.Linear(4, 8, rng=0))
    net.add("act", gg.layers.Tanh())
    net.add("fc2", gg.layers.Linear(8, 4, rng=1))
    return net


def test_rewire_that_bypasses_a_layer_warns_naming_it():
    net = _chain()
    with pytest.warns(UserWarning, match=r"\['fc1', 'act'\].*prune"):
        net.rewire("fc2", inputs=["x"])  # fc2 was 8 -> 4: rebuild it to read x
    assert net.unreachable() == ["fc1", "act"]


def test_edit_leaving_everything_reachable_does_not_warn():
    net = _chain()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.insert_after("act", "act2", gg.layers.Tanh())
        net.remove("act2")


def test_prune_removes_the_orphans_from_parameters_and_state_dict():
    net = Network()
    net.add("fc1", gg.layers.Linear(4, 8, rng=0))
    net.add("dead", gg.layers.Linear(8, 8, rng=2))
    net.add("fc2", gg.layers.Linear(8, 4, rng=1), inputs="dead")
    with pytest.warns(UserWarning, match="dead"):
        net.rewire("fc2", inputs="fc1")
    x = gg.tensor(np.ones((2, 4), np.float32))
    net(x).sum().backward()
    # the orphan's parameters are still there, and they got no gradient
    assert net["dead"].weight.grad is None
    removed = net.prune()
    assert list(removed) == ["dead"]
    assert not any(k.startswith("dead.") for k in net.state_dict())
    assert [n for n, _ in net.named_parameters()] == [
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert net.unreachable() == [] and net.prune() == {}


def test_a_tensor_as_inputs_is_a_clear_error():
    x = gg.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"node names.*Tensor of shape \(2, 3\).*net\(x\)"):
        Network(inputs=x)
    net = _chain()
    with pytest.raises(TypeError, match="node names"):
        net.rewire("fc2", inputs=x)
