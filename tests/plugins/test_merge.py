"""Issue 19 items 4 and 5: merges refuse mismatched shapes unless broadcast=True; Multiply,
Subtract, Embedding (gradient = finite differences), Lambda; Linear's activation= and lazy
in_features."""

from __future__ import annotations

import numpy as np
import pytest
from graphgrad_plugins import layers, merge

import graphgrad as gg


def _f64(shape, seed=0):
    return gg.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ------------------------------------------------------------------ merges
@pytest.mark.parametrize("cls, reference", [
    (merge.Add, lambda *xs: sum(xs)),
    (merge.Multiply, lambda *xs: np.prod(np.stack(xs), axis=0)),
])
def test_add_and_multiply_merge_several_inputs(cls, reference):
    a, b, c = _f64((2, 3), 1), _f64((2, 3), 2), _f64((2, 3), 3)
    np.testing.assert_allclose(cls()(a, b, c).data, reference(a.data, b.data, c.data))
    assert gg.check.gradcheck(lambda a, b, c: cls()(a, b, c), [a, b, c])


def test_subtract_takes_exactly_two_inputs_in_order():
    a, b = _f64((2, 3), 1), _f64((2, 3), 2)
    np.testing.assert_array_equal(merge.Subtract()(a, b).data, a.data - b.data)
    with pytest.raises(ValueError, match="Subtract: needs exactly 2 inputs, got 3"):
        merge.Subtract()(a, b, a)
    with pytest.raises(ValueError, match="Add: needs at least 1 input, got 0"):
        merge.Add()()


@pytest.mark.parametrize("cls", [merge.Add, merge.Subtract, merge.Multiply])
def test_merges_refuse_mismatched_shapes_unless_broadcast(cls):
    gate, features = _f64((4, 1), 1), _f64((4, 3), 2)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: inputs have shapes \(4, 1\), "
                                         rf"\(4, 3\); a merge needs equal shapes.*broadcast=True"):
        cls()(gate, features)
    op = {merge.Add: np.add, merge.Subtract: np.subtract, merge.Multiply: np.multiply}[cls]
    np.testing.assert_allclose(cls(broadcast=True)(gate, features).data,
                               op(gate.data, features.data))
    with pytest.raises(ValueError, match=r"broadcast=True\): shapes \(4, 2\), \(4, 3\) cannot"):
        cls(broadcast=True)(_f64((4, 2)), features)
    assert gg.check.gradcheck(lambda g, f: cls(broadcast=True)(g, f), [gate, features])


def test_concat_checks_the_other_axes_and_broadcasts_them_on_request():
    a, b, c = _f64((2, 3), 1), _f64((2, 1), 2), _f64((2, 4), 3)
    cat = merge.Concat()(a, b, c)
    np.testing.assert_array_equal(cat.data, np.concatenate([a.data, b.data, c.data], axis=1))
    assert merge.Concat(axis=0)(a, _f64((5, 3))).shape == (7, 3)
    with pytest.raises(ValueError, match=r"Concat\(axis=0\): inputs have shapes \(2, 3\), "
                                         r"\(2, 1\); they must be equal on every axis but"):
        merge.Concat(axis=0)(a, b)
    with pytest.raises(ValueError, match="one number of axes"):
        merge.Concat()(a, _f64((2, 3, 1)))
    x, t = _f64((2, 1, 3), 4), _f64((2, 5, 2), 5)
    joined = merge.Concat(broadcast=True)(x, t)
    expected = np.concatenate([np.broadcast_to(x.data, (2, 5, 3)), t.data], axis=-1)
    np.testing.assert_array_equal(joined.data, expected)
    assert gg.check.gradcheck(lambda x, t: merge.Concat(broadcast=True)(x, t), [x, t])


def test_a_network_with_mismatched_branches_names_the_merge_node():
    net = gg.Network()
    net.add("wide", layers.Linear(4, 8, rng=0), inputs="x")
    net.add("narrow", layers.Linear(4, 1, rng=1), inputs="x")
    net.add("merge", merge.Add(), inputs=["wide", "narrow"])
    with pytest.raises(ValueError, match="Add: inputs have shapes") as info:
        net.check(np.ones((2, 4), np.float32))
    assert any("node 'merge'" in note and "(2, 1)" in note for note in info.value.__notes__)


# --------------------------------------------------------------- embedding
def test_embedding_looks_up_rows_and_its_gradient_equals_finite_differences():
    emb = layers.Embedding(6, 3, rng=0).double()
    index = np.array([[0, 2, 2], [5, 2, 1]])
    y = emb(index)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.data, emb.weight.data[index])

    upstream = np.random.default_rng(1).standard_normal((2, 3, 3))
    (y * gg.tensor(upstream)).sum().backward()
    analytic = emb.weight.grad.data.copy()

    def loss(w):
        return float(np.sum(w[index] * upstream))

    w, eps = emb.weight.data, 1e-6
    numeric = np.zeros_like(w)
    for k in np.ndindex(*w.shape):
        plus, minus = w.copy(), w.copy()
        plus[k] += eps
        minus[k] -= eps
        numeric[k] = (loss(plus) - loss(minus)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)
    assert np.all(analytic[[3, 4]] == 0)  # rows never looked up
    np.testing.assert_allclose(analytic[2], upstream[0, 1] + upstream[0, 2] + upstream[1, 1])


def test_embedding_refuses_bad_indices():
    emb = layers.Embedding(4, 2, rng=0)
    with pytest.raises(TypeError, match="indices must be integers, got dtype float64"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"in \[0, 4\), got values from 0 to 4"):
        emb(gg.tensor(np.array([0, 4])))


def test_embedding_trains_in_a_network_with_a_numeric_input():
    gg.manual_seed(0)
    net = gg.Network(inputs=["num", "cat"])
    net.add("emb", layers.Embedding(5, 2), inputs="cat")
    net.add("flat", layers.Flatten(), inputs="emb")
    net.add("join", merge.Concat(), inputs=["num", "flat"])
    net.add("out", layers.Linear(3 + 2, 1))
    rng = np.random.default_rng(0)
    num = gg.tensor(rng.standard_normal((16, 3)).astype(np.float32))
    cat = rng.integers(0, 5, size=(16, 1))
    target = gg.tensor((cat[:, :1] == 2).astype(np.float32))
    opt = gg.optimizers.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        loss = ((net(num=num, cat=cat) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ------------------------------------------------------------------ lambda
def test_lambda_applies_its_function_with_gradients():
    a, b = _f64((2, 3), 1), _f64((2, 3), 2)
    gate = layers.Lambda(lambda a, b: a * gg.sigmoid(b), name="gate")
    np.testing.assert_allclose(gate(a, b).data, a.data / (1 + np.exp(-b.data)))
    assert gg.check.gradcheck(lambda a, b: gate(a, b), [a, b])
    assert repr(gate) == "Lambda(gate)" and gate.num_parameters() == 0
    with pytest.raises(TypeError, match="plain function"):
        layers.Lambda(layers.Linear(2, 2))


# ------------------------------------------------------------------ linear
def test_linear_activation_by_name_module_or_function():
    x = _f64((3, 4))
    for act, ref in (("relu", lambda v: np.maximum(v, 0)), (gg.tanh, np.tanh),
                     (gg.layers.Sigmoid(), lambda v: 1 / (1 + np.exp(-v)))):
        fc = layers.Linear(4, 2, rng=0, dtype="float64", activation=act)
        np.testing.assert_allclose(fc(x).data, ref(x.data @ fc.weight.data + fc.bias.data))
    with pytest.raises(TypeError, match="activation must be None"):
        layers.Linear(4, 2, activation=3)


def test_lazy_linear_is_filled_on_the_first_call_and_trained_by_an_earlier_optimizer():
    gg.manual_seed(0)
    fc = layers.Linear(None, 2, activation="tanh")
    assert fc.weight.shape == (0, 2) and "in_features=None" in repr(fc)
    opt = gg.optimizers.SGD(fc.parameters(), lr=0.1, momentum=0.9)  # before the first call
    x = gg.tensor(np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32))
    target = gg.tensor(np.full((8, 2), 0.5, np.float32))
    losses = []
    for _ in range(20):
        loss = ((fc(x) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert fc.in_features == 5 and fc.weight.shape == (5, 2)
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="in_features=5"):
        fc(gg.tensor(np.ones((1, 3), np.float32)))
    net = gg.Network()
    net.add("fc", layers.Linear(None, 3))
    assert net.check(np.ones((2, 7), np.float32))["fc"] == (2, 3)
    assert net["fc"].weight.shape == (7, 3)
