"""Generic tests over the op case table (tests/ops/cases.py): forward against the
reference in float32 and float64, gradcheck and gradgradcheck in float64, 0-d
and empty inputs, on both kernel backends; then bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
from cases import CASES, special

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck

IDS = [c.name for c in CASES]


def _skip_without_scipy(case):
    if case.scipy and special is None:
        pytest.skip("the reference needs SciPy")


def _inputs(case, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [np.asarray(d(rng.standard_normal(s)), dtype=np.float64)
            for d, s in zip(case.domains(), shapes)]


def _check_forward(case, arrays, dtype):
    cast = [a.astype(dtype) for a in arrays]
    out = case.fn(*[gg.tensor(a) for a in cast])
    expected = np.asarray(case.ref(*[a.astype(np.float64) for a in cast]))
    assert out.shape == expected.shape, (out.shape, expected.shape)
    if out.dtype.kind == "f":
        assert out.dtype == dtype, (out.dtype, dtype)
    rtol, atol = (case.rtol32, 1e-5) if dtype == np.float32 else (1e-10, 1e-12)
    np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol)


def _empty_shapes(shapes):
    top = max(len(s) for s in shapes)
    return tuple((0,) + tuple(s[1:]) if len(s) == top and s else s for s in shapes)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_reference(case, dtype, backend):
    _skip_without_scipy(case)
    if dtype not in case.dtypes:
        pytest.skip(f"{case.name} does not take {dtype.__name__}")
    _check_forward(case, _inputs(case, case.shapes), dtype)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck(case, backend):
    _skip_without_scipy(case)
    arrays = _inputs(case, case.shapes, seed=1)
    assert gradcheck(case.fn, [gg.tensor(a, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("case", [c for c in CASES if c.twice], ids=[c.name for c in CASES
                                                                     if c.twice])
def test_gradgradcheck(case, backend):
    _skip_without_scipy(case)
    arrays = _inputs(case, case.shapes, seed=2)
    assert gradgradcheck(case.fn, [gg.tensor(a, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("case", [c for c in CASES if c.zero_d], ids=[c.name for c in CASES
                                                                      if c.zero_d])
def test_zero_d_inputs(case, backend):
    _skip_without_scipy(case)
    arrays = _inputs(case, ((),) * len(case.shapes), seed=3)
    _check_forward(case, arrays, np.float64)
    tensors = [gg.tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(case.fn, tensors)
    if case.twice:
        assert gradgradcheck(case.fn, tensors)


@pytest.mark.parametrize("case", [c for c in CASES if c.empty], ids=[c.name for c in CASES
                                                                     if c.empty])
def test_empty_inputs(case, backend):
    _skip_without_scipy(case)
    arrays = _inputs(case, _empty_shapes(case.shapes), seed=4)
    _check_forward(case, arrays, np.float64)
    tensors = [gg.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(*tensors)
    if out.requires_grad:
        out.sum().backward()
        for t in tensors:
            assert t.grad is None or t.grad.shape == t.shape


def _x(*shape):
    return gg.tensor(np.ones(shape))


BAD_INPUTS = [
    (lambda: gg.arctan2(_x(2, 3), _x(4)), ValueError, r"arctan2: shapes \(2, 3\) and \(4,\)"),
    (lambda: gg.lerp(_x(2, 3), _x(4), 0.5), ValueError, r"lerp: shapes"),
    (lambda: gg.gelu(_x(2), approximate="fast"), ValueError, "gelu: approximate must be"),
    (lambda: gg.celu(_x(2), alpha=0), ValueError, "celu: alpha must not be 0"),
    (lambda: gg.softplus(_x(2), beta=-1.0), ValueError, "softplus: beta must be > 0"),
    (lambda: gg.hardtanh(_x(2), 1.0, -1.0), ValueError, "hardtanh: min_val"),
    (lambda: gg.cumsum(_x(2, 3), axis=2), ValueError, "cumsum: axis 2 is out of range"),
    (lambda: gg.norm(_x(2), ord="nuc"), ValueError, "norm: ord must be"),
    (lambda: gg.topk(_x(2, 3), 4), ValueError, r"topk: k=4 must lie in \[0, 3\]"),
    (lambda: gg.einsum("ij,jk->ik", _x(2, 3), _x(4, 2)), ValueError, "einsum: letter 'j'"),
    (lambda: gg.einsum("ij->ik", _x(2, 3)), ValueError, "einsum: output subscript"),
    (lambda: gg.einsum("ijk->i", _x(2, 3)), ValueError, "einsum: subscript 'ijk' does not fit"),
    (lambda: gg.tensordot(_x(2, 3), _x(4, 2), 1), ValueError, "tensordot: axis 1 of a"),
    (lambda: gg.trace(_x(2, 3, 4)), ValueError, "trace: needs a 2-D tensor"),
    (lambda: gg.cross(_x(2, 4), _x(2, 4)), ValueError, "cross: axis 1 must have length 3"),
    (lambda: gg.diagonal(_x(3)), ValueError, "diagonal: needs a tensor of at least 2 dims"),
    (lambda: gg.pad(_x(2, 3), (1,)), ValueError, r"pad: pad \(1,\) must hold"),
    (lambda: gg.pad(_x(2, 3), (3, 0), mode="reflect"), ValueError, "pad: reflect padding"),
    (lambda: gg.pad(_x(2, 3), (1, 1), mode="mirror"), ValueError, "pad: mode must be one of"),
    (lambda: gg.split(_x(2, 3), [1, 1], dim=1), ValueError, r"split: sizes \[1, 1\] add up"),
    (lambda: gg.unflatten(_x(2, 6), 1, (4, -1)), ValueError, "unflatten: sizes"),
    (lambda: gg.squeeze(_x(2, 3), axis=0), ValueError, "squeeze: axis 0 has length 2"),
    (lambda: gg.repeat(_x(2, 3), 2), ValueError, "repeat: 1 sizes for a tensor of 2 dims"),
    (lambda: gg.gather(_x(2, 3), 0, np.array([[0.5]])), TypeError, "gather: index must hold"),
    (lambda: gg.gather(_x(2, 3), 0, np.array([[2]])), IndexError, "gather: index values 2..2"),
    (lambda: gg.gather(_x(2, 3), 0, np.array([0])), ValueError, "gather: index of shape"),
    (lambda: gg.scatter_reduce(_x(2), 0, np.array([0]), _x(1), "max"), ValueError,
     "scatter_reduce: reduce must be one of"),
    (lambda: gg.masked_fill(_x(2, 3), np.ones((2, 3)), 0.0), TypeError,
     "masked_fill: mask must be boolean"),
    (lambda: gg.masked_select(_x(2, 3), np.ones(4, bool)), ValueError,
     r"masked_select: mask of shape \(4,\)"),
    (lambda: gg.one_hot(np.array([0, 3]), 3), ValueError, r"one_hot: labels must lie in \[0, 3\)"),
    (lambda: gg.index_select(_x(2, 3), 0, np.array([[0]])), ValueError,
     "index_select: index must be a 1-D integer array"),
    (lambda: gg.cumsum(_x(2, 3), axis=0, dim=1), TypeError, "cumsum: give axis or dim"),
]


@pytest.mark.parametrize("call,error,match", BAD_INPUTS, ids=[m.split(":")[0] + f"-{i}" for i, (
    _, _, m) in enumerate(BAD_INPUTS)])
def test_bad_input_errors_name_the_op(call, error, match):
    with pytest.raises(error, match=match):
        call()
