"""Issue 14's ops beyond the case table: integer and boolean results (indices of
sort/topk/cummax, nonzero, one_hot, isnan...), scatter variants with their
gradients, constants (eye, linspace), and PyTorch's edge cases of mean/var."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5))


def test_sort_argsort_topk_indices_match_numpy():
    values, indices = gg.sort(gg.tensor(X), axis=1)
    np.testing.assert_array_equal(indices.data, np.argsort(X, axis=1, kind="stable"))
    np.testing.assert_array_equal(gg.argsort(X, dim=0).data, np.argsort(X, axis=0))
    np.testing.assert_array_equal(gg.argsort(X, descending=True).data, np.argsort(-X, axis=1))
    v, i = gg.topk(gg.tensor(X), 3, largest=False)
    np.testing.assert_array_equal(i.data, np.argsort(X, axis=1)[:, :3])
    np.testing.assert_array_equal(v.data, np.sort(X, axis=1)[:, :3])


def test_cummax_cummin_indices_are_the_latest_extremum():
    x = np.array([1.0, 3.0, 2.0, 3.0, 0.0, 5.0])
    values, indices = gg.cummax(gg.tensor(x), 0)
    np.testing.assert_array_equal(values.data, [1, 3, 3, 3, 3, 5])
    np.testing.assert_array_equal(indices.data, [0, 1, 1, 3, 3, 5])
    values, indices = gg.cummin(gg.tensor(x), dim=0)
    np.testing.assert_array_equal(indices.data, [0, 0, 0, 0, 4, 4])
    t = gg.tensor(x, requires_grad=True)
    gg.cummax(t, 0)[0].sum().backward()
    np.testing.assert_array_equal(t.grad.data, [1, 2, 0, 2, 0, 1])


def test_argmax_any_all_nonzero_where_one_hot():
    np.testing.assert_array_equal(gg.argmax(X, dim=1).data, np.argmax(X, axis=1))
    np.testing.assert_array_equal(gg.tensor(X).argmin(axis=0, keepdims=True).data,
                                  np.argmin(X, axis=0, keepdims=True))
    assert gg.any(X > 2).item() == np.any(X > 2) and gg.all(X > -5, dim=1).shape == (3,)
    for ours, theirs in zip(gg.nonzero(X > 0, as_tuple=True), np.nonzero(X > 0)):
        np.testing.assert_array_equal(ours.data, theirs)
    np.testing.assert_array_equal(gg.nonzero(X > 0).data, np.argwhere(X > 0))
    for ours, theirs in zip(gg.where(gg.tensor(X) > 0), np.where(X > 0)):
        np.testing.assert_array_equal(ours.data, theirs)
    codes = gg.one_hot(np.array([[0, 2], [1, 0]]))
    assert codes.dtype == np.int64 and codes.shape == (2, 2, 3)
    np.testing.assert_array_equal(codes.data[0, 1], [0, 0, 1])
    with pytest.raises(TypeError, match="where: give both a and b, or neither"):
        gg.where(X > 0, gg.tensor(X))


def test_float_tests_are_boolean_and_carry_no_gradient():
    x = gg.tensor(np.array([1.0, np.nan, np.inf, -np.inf]), requires_grad=True)
    np.testing.assert_array_equal(gg.isnan(x).data, [False, True, False, False])
    np.testing.assert_array_equal(x.isinf().data, [False, False, True, True])
    np.testing.assert_array_equal(gg.isfinite(x).data, [True, False, False, False])
    np.testing.assert_array_equal(gg.isclose(x, 1.0 + 1e-9).data, [True, False, False, False])
    assert gg.isclose(x, x, equal_nan=True).data[1]
    assert not gg.isnan(x).requires_grad


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_values_and_gradients(reduce, include_self):
    x = RNG.standard_normal((3, 4))
    src = RNG.standard_normal((2, 4))
    index = np.array([[0, 2, 2, 1], [0, 0, 2, 1]])
    out = gg.scatter_reduce(gg.tensor(x), 0, index, gg.tensor(src), reduce, include_self)
    expected = x.copy()
    groups = {}
    for i in range(2):
        for j in range(4):
            groups.setdefault((index[i, j], j), []).append(src[i, j])
    for (r, j), vals in groups.items():
        vals = ([x[r, j]] if include_self else []) + vals
        expected[r, j] = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max,
                          "amin": np.min}[reduce](vals)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert gradcheck(lambda a, b: gg.scatter_reduce(a, 0, index, b, reduce, include_self),
                     [gg.tensor(x, requires_grad=True), gg.tensor(src, requires_grad=True)])


def test_scatter_and_put_along_axis():
    x = RNG.standard_normal((3, 4))
    index = np.array([[2, 0, 1, 1]])
    out = gg.scatter(gg.tensor(x), 0, index, 7.0)
    expected = x.copy()
    np.put_along_axis(expected, index, 7.0, axis=0)
    np.testing.assert_array_equal(out.data, expected)
    src = RNG.standard_normal((1, 4))
    np.put_along_axis(expected, index, src, axis=0)
    np.testing.assert_array_equal(gg.put_along_axis(x, index, src, 0).data, expected)
    assert gradcheck(lambda a, b: gg.scatter(a, 0, index, b),
                     [gg.tensor(x, requires_grad=True), gg.tensor(src, requires_grad=True)])
    assert gradgradcheck(lambda a, b: gg.scatter_add(a, 1, index.T[:1].repeat(3, 0), b),
                         [gg.tensor(x, requires_grad=True),
                          gg.tensor(RNG.standard_normal((3, 1)), requires_grad=True)])


def test_constants():
    np.testing.assert_array_equal(gg.eye(2, 3).data, np.eye(2, 3, dtype=np.float32))
    np.testing.assert_allclose(gg.linspace(0, 1, 5).data, np.linspace(0, 1, 5))
    np.testing.assert_allclose(gg.logspace(0, 2, 3, base=2.0).data, [1, 2, 4])
    assert gg.linspace(0, 1, 3).dtype == np.float32


def test_var_std_and_mean_edge_cases_follow_pytorch():
    with pytest.warns(UserWarning, match="var: 1 values with ddof=1 leave no degrees"):
        v = gg.var(gg.tensor(np.array([2.0])), ddof=1)
    assert np.isnan(v.item())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert np.all(np.isnan(gg.std(gg.tensor(np.ones((2, 1))), axis=1, ddof=1).data))
    assert np.isnan(gg.mean(gg.tensor(np.zeros((0,)))).item())
    assert gg.mean(gg.tensor(np.zeros((0, 3))), axis=0).shape == (3,)
    assert gg.mean(gg.tensor(np.zeros((0, 3))), axis=1).shape == (0,)


def test_float32_stays_float32_through_the_new_ops():
    x = gg.tensor(np.abs(X).astype(np.float32) + 0.5, requires_grad=True)
    outs = [gg.gelu(x), gg.silu(x), gg.erf(x), gg.cumsum(x, 1), gg.prod(x, 1), gg.norm(x),
            gg.einsum("ij,kj->ik", x, x), gg.pad(x, (1, 1), mode="reflect"), gg.sort(x)[0],
            gg.gather(x, 1, np.zeros((3, 2), int)), gg.logcumsumexp(x, 0), gg.lerp(x, x, 0.3),
            gg.softplus(x, beta=2.0), gg.kron(x, x), gg.cross(x[:, :3], x[:, 1:4])]
    for out in outs:
        assert out.dtype == np.float32, out
        x.grad = None
        out.sum().backward()
        assert x.grad.dtype == np.float32
