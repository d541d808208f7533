"""Reductions, softmax family and cross-entropy: forward vs NumPy, backward vs finite diffs."""

from __future__ import annotations

import numpy as np
import pytest
from cases import REDUCTIONS
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck


def _axes(draw_shape, draw):
    ndim = len(draw_shape)
    choice = draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none" or ndim == 0:
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.sets(st.integers(0, ndim - 1), min_size=1, max_size=ndim)))


@st.composite
def shape_and_axis(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, max_side=3))
    return shape, _axes(shape, draw), draw(st.booleans())


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@given(case=shape_and_axis(), seed=st.integers(0, 1000))
def test_reduction_forward_and_gradcheck(name, case, seed, backend):
    shape, axis, keepdims = case
    fn, ref = REDUCTIONS[name]
    x = np.random.default_rng(seed).standard_normal(shape)
    out = fn(gg.tensor(x), axis=axis, keepdims=keepdims)
    expected = ref(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda t: fn(t, axis=axis, keepdims=keepdims),
                     [gg.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("name", ["sum", "mean", "var", "logsumexp"])
def test_reduction_double_backward(name, backend):
    fn, _ = REDUCTIONS[name]
    x = np.random.default_rng(5).standard_normal((3, 4))
    assert gradgradcheck(lambda t: fn(t, axis=1) ** 2, [gg.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduction_dtypes(dtype, backend):
    x = np.random.default_rng(6).standard_normal((4, 5)).astype(dtype)
    for name, (fn, ref) in REDUCTIONS.items():
        out = fn(gg.tensor(x), axis=0)
        assert out.dtype == dtype, name
        np.testing.assert_allclose(out.data, ref(x.astype(np.float64), axis=0),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_max_splits_gradient_between_ties():
    x = gg.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [1, 0, 0]])


def test_var_ddof():
    x = np.random.default_rng(7).standard_normal(6)
    np.testing.assert_allclose(gg.var(gg.tensor(x), ddof=1).data, np.var(x, ddof=1))
    assert gradcheck(lambda t: gg.var(t, ddof=1), [gg.tensor(x, requires_grad=True)])


def test_reduction_bad_axis():
    with pytest.raises(ValueError, match="sum: axis 2 is out of range"):
        gg.tensor(np.ones((2, 2))).sum(axis=2)


def _softmax(x, axis):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_family_forward_backward(axis, backend):
    x = np.random.default_rng(8).standard_normal((3, 4))
    np.testing.assert_allclose(gg.softmax(gg.tensor(x), axis).data, _softmax(x, axis), rtol=1e-12)
    np.testing.assert_allclose(gg.log_softmax(gg.tensor(x), axis).data,
                               np.log(_softmax(x, axis)), rtol=1e-12)
    w = np.random.default_rng(9).standard_normal((3, 4))
    for fn in (gg.softmax, gg.log_softmax):
        assert gradcheck(lambda t, fn=fn: fn(t, axis) * w, [gg.tensor(x, requires_grad=True)])
        assert gradgradcheck(lambda t, fn=fn: fn(t, axis) * w, [gg.tensor(x, requires_grad=True)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_at_1000(dtype, backend):
    x = np.array([[1000.0, -1000.0, 999.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    p = gg.softmax(gg.tensor(x)).data
    lp = gg.log_softmax(gg.tensor(x)).data
    lse = gg.logsumexp(gg.tensor(x), axis=1).data
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp)) and np.all(np.isfinite(lse))
    e = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(p[0], [e, 0, 1 - e], rtol=1e-5)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-5)
    np.testing.assert_allclose(lse, [1000 + np.log(1 + np.exp(-1.0)), -1000 + np.log(3)], rtol=1e-6)
    np.testing.assert_allclose(lp[0, 1], -2000 - np.log(1 + np.exp(-1.0)), rtol=1e-6)


def test_softmax_cross_entropy_matches_closed_form(backend):
    rng = np.random.default_rng(10)
    z = rng.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    loss = gg.softmax_cross_entropy(gg.tensor(z), y)
    expected = -np.log(_softmax(z, 1))[np.arange(5), y]
    np.testing.assert_allclose(loss.data, expected, rtol=1e-12)
    assert gradcheck(lambda t: gg.softmax_cross_entropy(t, y), [gg.tensor(z, requires_grad=True)])
    assert gradgradcheck(lambda t: gg.softmax_cross_entropy(t, y),
                         [gg.tensor(z, requires_grad=True)])
    big = gg.softmax_cross_entropy(gg.tensor(np.array([[1000.0, -1000.0]])), np.array([1]))
    np.testing.assert_allclose(big.data, [2000.0])


def test_softmax_cross_entropy_bad_labels():
    z = gg.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        gg.softmax_cross_entropy(z, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        gg.softmax_cross_entropy(z, np.array([0, 1, 2]))
