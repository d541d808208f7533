"""In-place operators (+= -= *= /=) as PyTorch, refused inputs at creation, ReLU's NaN gradient.

Issue 12: ``p -= lr * p.grad`` rebound the loop variable (no ``__isub__``), so
a model never trained, silently; ``gg.tensor(None)`` and complex tensors that
require grad were accepted; ReLU's backward turned the NaN gradient of a NaN
input into 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    previous = gg.get_backend()
    gg.set_backend(request.param)
    yield request.param
    gg.set_backend(previous)


# ------------------------------------------------------------ in place
def test_sgd_step_written_with_minus_equals_trains():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((32, 3)))
    y = gg.tensor(x.data @ np.array([1.0, -2.0, 0.5], np.float32))
    w = gg.tensor(np.zeros(3, np.float32), requires_grad=True)
    params = [w]
    losses = []
    for _ in range(50):
        loss = ((x @ w - y) ** 2).mean()
        losses.append(loss.item())
        w.grad = None
        loss.backward()
        with gg.no_grad():
            for p in params:
                p -= 0.1 * p.grad  # must change w itself, not rebind p
    assert params[0] is w
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(w.data, [1.0, -2.0, 0.5], atol=1e-2)


@pytest.mark.parametrize("op, expected", [
    ("+=", [3.0, 4.0]), ("-=", [-1.0, 0.0]), ("*=", [2.0, 4.0]), ("/=", [0.5, 1.0]),
])
def test_inplace_operators_keep_identity_memory_and_bump_the_version(op, expected):
    t = gg.tensor(np.array([1.0, 2.0]))
    data, version = t.data, t._version[0]
    view = t[0:1]
    ref = t
    exec(f"t {op} 2.0")
    assert t is ref and t.data is data
    np.testing.assert_array_equal(t.data, expected)
    assert t._version[0] == version + 1
    assert view.data[0] == expected[0]  # the view shares the memory


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "add_", "sub_", "mul_", "div_"])
def test_inplace_on_a_leaf_that_requires_grad_needs_no_grad(op):
    p = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad.*no_grad"):
        if op.endswith("="):
            exec(f"p {op} 1.0")
        else:
            getattr(p, op)(1.0)
    np.testing.assert_array_equal(p.data, [1.0, 2.0])  # untouched
    with gg.no_grad():
        p += 1.0
    np.testing.assert_array_equal(p.data, [2.0, 3.0])
    assert p.is_leaf and p.requires_grad


def test_inplace_on_a_non_leaf_is_recorded():
    x = gg.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x * 2
    y += 1
    y *= 3  # Mul saves its inputs: the snapshot, not y's overwritten memory
    y /= gg.tensor(np.array([1.0, 2.0, 4.0]))
    y -= x
    assert not y.is_leaf
    y.sum().backward()
    # y = (2x + 1)·3/d − x  →  ∂y/∂x = 6/d − 1
    np.testing.assert_allclose(x.grad.data, 6 / np.array([1.0, 2.0, 4.0]) - 1)


def test_inplace_change_of_a_saved_value_makes_backward_raise():
    x = gg.tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = x.exp()  # exp saves its output y
    z = y * 1.0
    y += 1
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()


def test_inplace_adding_a_graph_tensor_to_a_constant_records_it():
    w = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    acc = gg.zeros(2, dtype="float64")
    acc += w * 3
    assert acc.requires_grad and not acc.is_leaf
    acc.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 3.0])


def test_inplace_follows_numpy_casting_and_shapes():
    i = gg.tensor(np.array([1, 2]))
    with pytest.raises(TypeError):
        i += 0.5  # same_kind casting, as NumPy
    f = gg.tensor(np.array([1.0, 2.0], np.float32))
    f += np.array([1.0, 1.0])  # float64 into float32: allowed, stays float32
    assert f.dtype == np.float32
    with pytest.raises(ValueError):
        f += np.ones((2, 2))


# ------------------------------------------------------------ creation
@pytest.mark.parametrize("data, named", [
    (None, "None"), ("abc", "str"), (np.array([1, "a"], dtype=object), "object"),
    ([1.0, None], "object"), (np.array(["x", "y"]), "<U1"), ({"a": 1}, "dict"),
])
def test_non_numeric_data_is_refused_at_creation(data, named):
    with pytest.raises(TypeError, match=rf"graphgrad.tensor: cannot make a tensor from.*{named}"):
        gg.tensor(data)


def test_complex_tensors_cannot_require_grad():
    z = gg.tensor(np.array([1 + 2j]))  # holding complex data is fine
    assert z.dtype.kind == "c"
    with pytest.raises(TypeError, match="complex"):
        gg.tensor(np.array([1 + 2j]), requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        z.requires_grad_()
    x = gg.tensor(np.array([1.0]), requires_grad=True)
    with pytest.raises(TypeError, match="complex"):
        x.astype(np.complex128)


# ------------------------------------------------------- relu and NaN
def test_relu_backward_keeps_the_nan_of_a_nan_input(backend):
    x = gg.tensor(np.array([np.nan, -1.0, 2.0, 0.0], np.float32), requires_grad=True)
    y = gg.relu(x)
    (g,) = gg.grad(y, x, grad_outputs=gg.tensor(np.array([np.nan, np.nan, 5.0, np.nan],
                                                          np.float32)))
    # PyTorch: 0 where relu(x) ≤ 0, else the incoming gradient (NaN at the NaN input)
    assert np.isnan(g.data[0])
    np.testing.assert_array_equal(g.data[1:], [0.0, 5.0, 0.0])
    big = gg.tensor(np.full((64, 80), np.nan, np.float32), requires_grad=True)  # the loop path
    (g,) = gg.grad(gg.relu(big).sum(), big)
    np.testing.assert_array_equal(g.data, 1.0)  # passes at NaN inputs (was 0)
