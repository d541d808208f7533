"""Shape ops, indexing and matmul."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck


def t(x, grad=True):
    return gg.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 2, 4), (4, 5)),  # N-D x 2-D: flattened GEMMs forward and backward
    ((2, 1, 3, 4), (3, 4, 2)),
    ((5,), (2, 5, 3)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_forward_backward(sa, sb, backend):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = t(a, False) @ t(b, False)
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-12)
    assert gradcheck(lambda x, y: x @ y, [t(a), t(b)])
    assert gradgradcheck(lambda x, y: x @ y, [t(a), t(b)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_dtype(dtype):
    a = np.ones((2, 3), dtype)
    assert (gg.tensor(a) @ gg.tensor(a.T)).dtype == dtype


def test_matmul_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        gg.tensor(np.ones((2, 3))) @ gg.tensor(np.ones((4, 5)))


def test_reshape_transpose_broadcast():
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(t(x).reshape(6, 4).data, x.reshape(6, 4))
    np.testing.assert_array_equal(t(x).transpose(2, 0, 1).data, x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t(x).T.data, x.T)
    np.testing.assert_array_equal(gg.broadcast_to(t(x[0, 0]), (3, 4)).data,
                                  np.broadcast_to(x[0, 0], (3, 4)))
    w = np.random.default_rng(1).standard_normal((4, 2, 3))
    assert gradcheck(lambda v: v.transpose(2, 0, 1) * w, [t(x)])
    assert gradcheck(lambda v: v.reshape(4, 6).sum(axis=0), [t(x)])
    assert gradcheck(lambda v: gg.broadcast_to(v, (5, 3, 4)) * 2, [t(x[0])])
    with pytest.raises(ValueError, match=r"reshape: cannot reshape .* \(2, 3, 4\)"):
        t(x).reshape(5, 5)


@pytest.mark.parametrize("axes", [(-1, 0, 1), (2, -3, -2), (-1, -2, -3)])
def test_transpose_with_negative_axes_backward(axes):
    # Regression: backward inverted the permutation with argsort of the raw axes,
    # so negative axes gave a gradient of the wrong shape (or wrong values).
    x = gg.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    y = x.transpose(*axes)
    assert y.shape == np.transpose(x.data, axes).shape
    assert gradcheck(lambda t: t.transpose(*axes), [x])


def test_transpose_rejects_axes_that_are_not_a_permutation():
    x = gg.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0, 1\) are not a permutation"):
        x.transpose(0, 0, 1)


def test_concatenate_and_stack():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    np.testing.assert_array_equal(gg.concatenate([t(a), t(b)]).data, np.concatenate([a, b]))
    assert gradcheck(lambda x, y: gg.concatenate([x, y], axis=0) ** 2, [t(a), t(b)])
    c = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(gg.stack([t(a), t(c)], axis=1).data, np.stack([a, c], 1))
    assert gradcheck(lambda x, y: gg.stack([x, y], axis=-1) ** 2, [t(a), t(c)])
    with pytest.raises(ValueError, match="concatenate: shapes"):
        gg.concatenate([t(a), t(np.ones((2, 4)))])


@given(idx=st.lists(st.integers(0, 4), min_size=1, max_size=8))
def test_getitem_integer_array_with_repeats_scatter_adds(idx):
    x = np.random.default_rng(3).standard_normal((5, 2))
    xt = t(x)
    xt[np.array(idx)].sum().backward()
    expected = np.zeros_like(x)
    for i in idx:
        expected[i] += 1
    np.testing.assert_array_equal(xt.grad.data, expected)


INDICES = [
    (1,),
    (slice(1, None),),
    ((slice(None), 1),),
    ((Ellipsis, slice(None, None, -1)),),
    ((None, 0),),
    ((np.array([2, 0, 2]),),),
    ((np.array([0, 1]), np.array([1, 2])),),
]


@pytest.mark.parametrize("index", INDICES)
def test_getitem_forward_backward(index, backend):
    (index,) = index
    x = np.random.default_rng(4).standard_normal((3, 4))
    np.testing.assert_array_equal(t(x)[index].data, x[index])
    assert gradcheck(lambda v: v[index] * 3, [t(x)])
    assert gradgradcheck(lambda v: v[index] ** 2, [t(x)])


def test_getitem_boolean_mask():
    x = np.random.default_rng(5).standard_normal((3, 4))
    mask = x > 0
    np.testing.assert_array_equal(t(x)[mask].data, x[mask])
    xt = t(x)
    (xt[gg.tensor(mask)] * 2).sum().backward()
    np.testing.assert_array_equal(xt.grad.data, 2.0 * mask)


def test_astype_roundtrip_gradient():
    x = gg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [2, 2, 2])
