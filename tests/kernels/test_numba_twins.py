"""Every Numba kernel equals its NumPy twin in graphgrad/kernels/reference.py.

Float32 and float64; same-shape, scalar, row- and column-broadcast and
exotic-broadcast operands; non-contiguous inputs; empty and 0-d arrays; shapes
from hypothesis.  The tolerances are rounding-level: a few ulp for elementwise
kernels (FMA contraction and the float32 approximations, see
test_numba_approx.py), and for sums the pairwise-summation bound
log2(n)·eps·Σ|x| that NumPy's own result satisfies.
"""

from __future__ import annotations

import importlib
import inspect
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from graphgrad.kernels import reference  # noqa: E402

numba_backend = pytest.importorskip("graphgrad.kernels.numba_backend")
# the numba kernels by name, as the kernel table sees them, and their twins
nb = SimpleNamespace(KERNELS=numba_backend.KERNELS, **numba_backend.KERNELS)
ref = reference
DTYPES = [np.float32, np.float64]


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def close(got, want, dtype, scale=1.0, ulps=8):
    """got ≈ want to `ulps` rounding errors relative to the value or to `scale`."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    tol = ulps * _eps(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.max(np.abs(scale)))


def data(shape, dtype, seed=0, positive=False):
    x = np.random.default_rng(seed).standard_normal(shape) * 3
    return (np.abs(x) + 0.1 if positive else x).astype(dtype)


def test_every_kernel_has_a_twin_with_the_same_signature():
    assert nb.KERNELS, "the numba backend registers no kernels"
    for name, fn in nb.KERNELS.items():
        assert name in ref.KERNELS, f"{name} has no NumPy twin"
        assert inspect.signature(fn) == inspect.signature(ref.KERNELS[name]), name


# ------------------------------------------------------------------ unary
UNARY = ["sigmoid", "softplus", "relu"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY + ["leaky_relu"])
def test_unary(name, dtype):
    x = data((7, 33), dtype)
    args = (0.2,) if name == "leaky_relu" else ()
    want = ref.KERNELS[name](x, *args)
    close(nb.KERNELS[name](x, *args), want, dtype, scale=want)
    xt = x.T  # non-contiguous input
    close(nb.KERNELS[name](xt, *args), ref.KERNELS[name](xt, *args), dtype, scale=want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["erf", "erfc", "gelu", "silu"])
def test_erf_family_and_silu(name, dtype):
    # libm's erf per element against the reference's; gelu and silu within a few
    # ulp of |x| (1 + erf(x/√2) cancels for very negative x in both)
    special = [0, -0.0, 9, -9, np.nan] + ([np.inf, -np.inf] if name.startswith("erf") else [])
    x = np.concatenate([data((7, 33), dtype).ravel(), np.array(special, dtype)])
    want = ref.KERNELS[name](x)
    scale = np.where(np.isfinite(x), np.abs(x), 0) if name in ("gelu", "silu") else want
    close(nb.KERNELS[name](x), want, dtype, scale=np.nan_to_num(scale, posinf=0), ulps=16)
    close(nb.KERNELS[name](x[::2]), ref.KERNELS[name](x[::2]), dtype,
          scale=np.nan_to_num(scale[::2], posinf=0), ulps=16)


@given(shape=array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
       dtype=st.sampled_from(DTYPES), name=st.sampled_from(UNARY))
def test_unary_any_shape(shape, dtype, name):
    x = data(shape, dtype)
    want = np.asarray(ref.KERNELS[name](x))
    close(nb.KERNELS[name](x), want, dtype, scale=want if want.size else 1.0)


def test_unary_fallbacks_keep_numpy_semantics():
    ints = np.arange(-3, 4)
    np.testing.assert_array_equal(nb.relu(ints), ref.relu(ints))
    assert nb.relu(ints).dtype == ref.relu(ints).dtype
    half = np.linspace(-2, 2, 5).astype(np.float16)
    assert nb.sigmoid(half).dtype == np.float16
    assert nb.sigmoid(np.float32(1.0)) == ref.sigmoid(np.float32(1.0))


# --------------------------------------------------------- fused backward
FUSED = {
    "tanh_backward": lambda g, x, dt: (g, np.tanh(x)),
    "sigmoid_backward": lambda g, x, dt: (g, ref.sigmoid(x)),
    "relu_backward": lambda g, x, dt: (g, np.maximum(x, 0)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(FUSED) + ["leaky_relu_backward"])
def test_fused_backward(name, dtype):
    g, x = data((9, 17), dtype, 1), data((9, 17), dtype, 2)
    x[0, :3] = 0.0  # the kink
    if name == "leaky_relu_backward":
        args = (g, x, 0.3)
    else:
        args = FUSED[name](g, x, dtype)
    want = ref.KERNELS[name](*args)
    close(nb.KERNELS[name](*args), want, dtype, scale=g)
    strided = tuple(a[:, ::2] if isinstance(a, np.ndarray) else a for a in args)
    close(nb.KERNELS[name](*strided), ref.KERNELS[name](*strided), dtype, scale=g)


def test_fused_backward_special_values():
    g = np.array([np.inf, np.nan, 1.0, -np.inf, 2.0], np.float32)
    y = np.array([0.0, 0.5, np.nan, 2.0, -1.0], np.float32)
    with np.errstate(all="ignore"):
        for name in ("relu_backward", "tanh_backward", "sigmoid_backward"):
            np.testing.assert_array_equal(nb.KERNELS[name](g, y), ref.KERNELS[name](g, y))


# ----------------------------------------------------------------- binary
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum"]


@pytest.fixture(params=["numba loops", "numpy below the size threshold"])
def broadcast_threshold(request, monkeypatch):
    """Run with the size threshold off (every row/column broadcast takes the loop) and on."""
    if request.param == "numba loops":
        monkeypatch.setattr(numba_backend.elementwise, "BROADCAST_MIN_SIZE", 0)
    return request.param

LAYOUTS = {
    "same": ((6, 5), (6, 5)),
    "rows": ((6, 5), (5,)),
    "rows_keepdims": ((4, 6, 5), (1, 6, 5)),
    "cols": ((6, 5), (6, 1)),
    "cols_3d": ((3, 4, 5), (3, 4, 1)),
    "rows_first": ((5,), (6, 5)),
    "cols_first": ((6, 1), (6, 5)),
    "one_element": ((6, 5), (1, 1)),
    "outer": ((6, 1), (1, 5)),  # both broadcast: the reference runs
    "middle": ((3, 4, 5), (3, 1, 5)),  # a middle axis: the reference runs
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name", BINARY)
def test_binary_layouts(name, layout, dtype, broadcast_threshold):
    sa, sb = LAYOUTS[layout]
    a = data(sa, dtype, 3)
    b = data(sb, dtype, 4, positive=name == "div")
    want = ref.KERNELS[name](a, b)
    close(nb.KERNELS[name](a, b), want, dtype, scale=want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BINARY)
def test_binary_python_scalars_are_weak(name, dtype):
    a = data((4, 3), dtype, 5, positive=True)
    for s in (2.5, -3, 0.1):
        for args in ((a, s), (s, a)):
            want = ref.KERNELS[name](*args)
            got = nb.KERNELS[name](*args)
            assert got.dtype == dtype
            close(got, want, dtype, scale=want)


@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, min_side=0, max_side=4),
       dtype=st.sampled_from(DTYPES), name=st.sampled_from(BINARY))
def test_binary_hypothesis_shapes(shapes, dtype, name, broadcast_threshold):
    sa, sb = shapes.input_shapes
    a, b = data(sa, dtype, 6), data(sb, dtype, 7, positive=name == "div")
    want = np.asarray(ref.KERNELS[name](a, b))
    got = np.asarray(nb.KERNELS[name](a, b))
    assert got.shape == shapes.result_shape
    close(got, want, dtype, scale=want if want.size else 1.0)


def test_big_broadcasts_take_the_loops_and_match():
    a, row, col = data((96, 64), np.float32, 20), data((64,), np.float32, 21), data(
        (96, 1), np.float32, 22)
    assert a.size >= numba_backend.elementwise.BROADCAST_MIN_SIZE
    for name in BINARY:
        for x, y in ((a, row), (row, a), (a, col), (col, a)):
            want = ref.KERNELS[name](x, y)
            close(nb.KERNELS[name](x, y), want, np.float32, scale=want)


def test_binary_mixed_dtypes_and_non_contiguous(broadcast_threshold):
    a32, b64 = data((5, 4), np.float32, 8), data((4,), np.float64, 9)
    np.testing.assert_array_equal(nb.add(a32, b64), ref.add(a32, b64))
    assert nb.add(a32, b64).dtype == np.float64
    a = data((8, 6), np.float64, 10)
    close(nb.mul(a[::2, ::3], a[1::2, 1::3]), ref.mul(a[::2, ::3], a[1::2, 1::3]), np.float64)
    close(nb.sub(a.T, a[0, :, None]), ref.sub(a.T, a[0, :, None]), np.float64, scale=a)


def test_binary_nan_and_inf():
    a = np.array([np.nan, 1.0, np.inf, -np.inf, 0.0, 2.0], np.float32)
    b = np.array([1.0, np.nan, np.inf, 1.0, 0.0, -np.inf], np.float32)
    with np.errstate(all="ignore"):
        for name in BINARY:
            want = ref.KERNELS[name](a, b)
            got = nb.KERNELS[name](a, b)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
            finite = ~np.isnan(want)
            np.testing.assert_array_equal(got[finite], want[finite], err_msg=name)


# ------------------------------------------------------------ where, clip
@pytest.mark.parametrize("dtype", DTYPES)
def test_where(dtype):
    a, b = data((5, 7), dtype, 11), data((5, 7), dtype, 12)
    cond = a > 0
    for args in ((cond, a, b), (cond, a, 0.0), (cond, -1.5, b), (cond, a, b[0]),
                 (cond, a[:, ::-1], b), (cond.T, a.T, 2)):
        want = ref.where(*args)
        got = nb.where(*args)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip(dtype):
    x = data((6, 7), dtype, 13)
    x[0, 0] = np.nan
    for lo, hi in ((-1.0, 1.5), (None, 0.5), (-0.25, None), (2, 1), (0.1, 0.1)):
        want = ref.clip(x, lo, hi)
        got = nb.clip(x, lo, hi)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(nb.clip(x.T, -1.0, 1.0), ref.clip(x.T, -1.0, 1.0))
    np.testing.assert_array_equal(nb.clip(x, np.nan, 1.0), ref.clip(x, np.nan, 1.0))


# ------------------------------------------------------------- reductions
def _count(x, axis):
    return x.size if axis is None else math.prod(x.shape[a] for a in np.atleast_1d(axis))


def _sum_scale(x, axis):
    """Per-output bound scale for sums: (log2(n) + 1)·Σ|x| along the reduced axes."""
    return (math.log2(max(_count(x, axis), 2)) + 1) * np.sum(np.abs(x), axis=axis)


def _scale(name, x, axis, want):
    """The size of the rounding error each reduction may make, as a multiple of eps."""
    n = _count(x, axis)
    if name == "sum":
        return _sum_scale(x, axis)
    if name == "mean":
        return _sum_scale(x, axis) / n
    if name == "var":
        return 4 * _sum_scale(x * x, axis) / n
    return np.abs(want) + 1  # max, min: exact; logsumexp: a few ulp of the result


REDUCTIONS = ["sum", "mean", "var", "logsumexp"]


@pytest.fixture(params=["maxima in the loop", "maxima from numpy"])
def long_row(request, monkeypatch):
    """Softmax-like kernels take row maxima from NumPy for long rows: test both paths."""
    reductions = importlib.import_module("graphgrad.kernels.numba_backend.reductions")
    long_row = 10**9 if request.param == "maxima in the loop" else 1
    monkeypatch.setattr(reductions, "LONG_ROW", long_row)
    return request.param
AXES = [None, 0, 1, 2, -1, (0, 1), (1, 2), (0, 1, 2), (0, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions(name, keepdims, dtype, long_row):
    x = data((4, 5, 6), dtype, 14)
    for axis in AXES:
        want = np.asarray(ref.KERNELS[name](x, axis, keepdims=keepdims))
        got = np.asarray(nb.KERNELS[name](x, axis, keepdims=keepdims))
        close(got, want, dtype, scale=np.max(_scale(name, x, axis, want)), ulps=4)
    strided = x[:, ::2, ::-1]
    want = ref.KERNELS[name](strided, 1)
    close(nb.KERNELS[name](strided, 1), want, dtype,
          scale=np.max(_scale(name, strided, 1, want)), ulps=4)


@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6),
       data_=st.data(), dtype=st.sampled_from(DTYPES))
def test_reductions_hypothesis(shape, data_, dtype, long_row):
    x = data(shape, dtype, 15)
    start = data_.draw(st.integers(0, len(shape) - 1))
    stop = data_.draw(st.integers(start + 1, len(shape)))
    axis = tuple(range(start, stop))
    for name in REDUCTIONS:
        want = np.asarray(ref.KERNELS[name](x, axis))
        got = np.asarray(nb.KERNELS[name](x, axis))
        close(got, want, dtype, scale=np.max(_scale(name, x, axis, want)), ulps=4)


def test_reductions_special_values_and_fallbacks(long_row):
    x = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, -np.inf], [-np.inf, -np.inf, -np.inf]],
                 np.float32)
    with np.errstate(all="ignore"):
        for name in ("sum", "mean", "logsumexp"):
            np.testing.assert_array_equal(nb.KERNELS[name](x, 1), ref.KERNELS[name](x, 1), name)
    big = np.array([[1000.0, 999.0], [-1000.0, -1001.0]])
    close(nb.logsumexp(big, 1), ref.logsumexp(big, 1), np.float64, scale=1000)
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(nb.sum(ints, 0), ref.sum(ints, 0))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        assert np.isnan(nb.var(np.ones(3), ddof=3))  # n − ddof = 0: NumPy's answer
    with pytest.raises(ValueError):
        nb.logsumexp(np.empty((0, 3), np.float32), 0)
    np.testing.assert_array_equal(nb.sum(np.empty((0, 3), np.float32), 0), np.zeros(3))


@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
       dtype=st.sampled_from(DTYPES))
def test_sum_to_shape(shapes, dtype):
    target = shapes.input_shapes[0]
    g = data(shapes.result_shape, dtype, 16)
    want = ref.sum_to_shape(g, target)
    got = nb.sum_to_shape(g, target)
    assert got.shape == tuple(target)
    close(got, want, dtype, scale=(math.log2(max(g.size, 2)) + 1) * np.sum(np.abs(g)), ulps=4)


# ---------------------------------------------------------------- softmax
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_family(axis, dtype, long_row):
    x = data((5, 4, 7), dtype, 17)
    g = data((5, 4, 7), dtype, 18)
    for name in ("softmax", "log_softmax"):
        want = ref.KERNELS[name](x, axis)
        close(nb.KERNELS[name](x, axis), want, dtype, scale=want, ulps=16)
        y = ref.KERNELS[name](x, axis)
        back = name + "_backward"
        want_b = ref.KERNELS[back](g, y, axis)
        close(nb.KERNELS[back](g, y, axis), want_b, dtype, scale=np.abs(g).sum(axis), ulps=16)
    xt = np.swapaxes(x, 0, 2)  # non-contiguous
    close(nb.softmax(xt, axis), ref.softmax(xt, axis), dtype, ulps=16)


def test_softmax_extreme_rows(long_row):
    x = np.array([[1000.0, -1000.0, 0.0], [np.nan, 1.0, 2.0], [-np.inf, -np.inf, -np.inf],
                  [np.inf, 1.0, 0.0]], np.float32)
    with np.errstate(all="ignore"):
        for name in ("softmax", "log_softmax"):
            want = ref.KERNELS[name](x, -1)
            got = nb.KERNELS[name](x, -1)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
            ok = ~np.isnan(want)
            close(got[ok], want[ok], np.float32, scale=np.where(np.isinf(want), 0, want)[ok])


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 40), c=st.integers(1, 12), seed=st.integers(0, 1000))
def test_softmax_cross_entropy(n, c, seed, dtype, long_row):
    logits = data((n, c), dtype, seed)
    labels = np.random.default_rng(seed).integers(0, c, n)
    want_loss, want_p = ref.softmax_cross_entropy(logits, labels)
    loss, p = nb.softmax_cross_entropy(logits, labels)
    close(loss, want_loss, dtype, scale=np.abs(logits).max(), ulps=16)
    close(p, want_p, dtype, scale=1.0, ulps=16)
    g = data((n,), dtype, seed + 1)
    close(nb.softmax_cross_entropy_backward(g, p, labels),
          ref.softmax_cross_entropy_backward(g, p, labels), dtype, scale=g, ulps=4)


def test_softmax_cross_entropy_bad_labels_raise_like_numpy():
    logits = data((3, 4), np.float32)
    with pytest.raises(IndexError):
        nb.softmax_cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(IndexError):
        nb.softmax_cross_entropy_backward(np.ones(3, np.float32), logits, np.array([0, 9, 1]))


# ---------------------------------------------------------------- scatter
@pytest.mark.parametrize("dtype", DTYPES)
@given(rows=st.integers(1, 8), cols=st.integers(0, 3), n=st.integers(1, 20),
       seed=st.integers(0, 1000))
def test_index_add(rows, cols, n, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = (rows,) + (3,) * cols
    index = rng.integers(-rows, rows, n)  # repeats and negative indices
    g = data((n,) + shape[1:], dtype, seed)
    want = ref.index_add(shape, index, g)
    got = nb.index_add(shape, index, g)
    close(got, want, dtype, scale=np.abs(g).sum(), ulps=4)
    close(nb.index_add(shape, (index,), g), want, dtype, scale=np.abs(g).sum(), ulps=4)


def test_index_add_fallbacks():
    g = data((2, 3), np.float64)
    with pytest.raises(IndexError):
        nb.index_add((4, 3), np.array([0, 4]), g)
    mask = np.array([True, False, True, False])
    np.testing.assert_array_equal(nb.index_add((4, 3), mask, g), ref.index_add((4, 3), mask, g))
    two = (np.array([0, 1]), np.array([2, 2]))
    np.testing.assert_array_equal(nb.index_add((4, 3), two, g[:, 0]),
                                  ref.index_add((4, 3), two, g[:, 0]))
