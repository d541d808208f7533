"""Issue 19 item 1: attribute assignment on a Network cannot silently add an unused layer,
and state_dict refuses two arrays under one name."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.nn.module import Module, Parameter
from graphgrad.nn.network import Network
from graphgrad.nn.sequential import Sequential


def _net():
    net = Network()
    net.add("fc", gg.layers.Linear(3, 4, rng=0), inputs="x")
    return net


def test_assigning_a_layer_to_a_node_name_raises_and_changes_nothing():
    net = _net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    with pytest.raises(AttributeError, match=r"net\.replace\('fc', layer\)"):
        net.fc = gg.layers.Linear(3, 4, rng=1)
    assert [n for n, _ in net.named_parameters()] == ["fc.weight", "fc.bias"]
    after = net.state_dict()
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_assigning_a_layer_or_parameter_to_a_new_attribute_raises():
    net = _net()
    with pytest.raises(AttributeError, match=r"net\.add\('head', layer"):
        net.head = gg.layers.Linear(4, 2)
    with pytest.raises(AttributeError, match="Parameter"):
        net.scale = Parameter(np.ones(3))
    assert [n for n, _ in net.named_parameters()] == ["fc.weight", "fc.bias"]
    net.note = "plain attributes are fine"
    assert net.note == "plain attributes are fine"


def test_a_layer_is_readable_as_an_attribute():
    net = _net()
    assert net.fc is net["fc"]
    with pytest.raises(AttributeError, match="no attribute or layer 'nothere'"):
        net.nothere  # noqa: B018


def test_state_dict_refuses_two_arrays_with_one_name(tmp_path):
    class Clash(Module):
        def __init__(self):
            super().__init__()
            # a dict key with a dot and a child both end up as "a.b.weight"
            self.a = {"b.weight": Parameter(np.zeros(2)), "b": gg.layers.Linear(1, 2, rng=0)}

    model = Clash()
    names = [n for n, _ in model.named_parameters()]
    assert names.count("a.b.weight") == 2
    with pytest.raises(ValueError, match=r"both named 'a\.b\.weight'"):
        model.state_dict()
    with pytest.raises(ValueError, match=r"both named 'a\.b\.weight'"):
        model.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_sequential_refuses_a_layer_in_an_attribute_too():
    seq = Sequential(gg.layers.Linear(3, 4, rng=0))
    with pytest.raises(AttributeError, match=r"seq\.append\(layer, name='head'\)"):
        seq.head = gg.layers.Linear(4, 2)
    assert len(seq) == 1 and [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
