"""Pure-NumPy kernels of the math, activation, scan and indexing ops (the NumPy
twins of issue 14's ops); `reference.KERNELS` includes every one of them.

Where NumPy has a ufunc (SIMD already) the kernel *is* the ufunc; the Numba
backend overrides only the kernels it computes faster (erf, erfc, gelu: NumPy
has no erf).
"""

from __future__ import annotations

import math

import numpy as np

_erf_object = np.frompyfunc(math.erf, 1, 1)
_erfc_object = np.frompyfunc(math.erfc, 1, 1)


def _float_result(out, x):
    return np.asarray(out, dtype=np.result_type(x, np.float32))


# --------------------------------------------------------- elementwise math
def rsqrt(x):
    """1 / √x"""
    return 1 / np.sqrt(x)


def reciprocal(x):
    """1 / x"""
    return 1 / x


def erf(x):
    """erf x = 2/√π ∫₀ˣ e^(−t²) dt (libm's erf per element; NumPy has no erf)."""
    return _float_result(np.asarray(_erf_object(x), dtype=np.float64), x)


def erfc(x):
    """erfc x = 1 − erf x, without cancellation for large x (libm's erfc)."""
    return _float_result(np.asarray(_erfc_object(x), dtype=np.float64), x)


def lerp(start, end, weight):
    """start + weight·(end − start)"""
    return start + weight * (end - start)


def isclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    """|a − b| ≤ atol + rtol·|b| (NumPy's and PyTorch's test)."""
    return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)


# -------------------------------------------------------------- activations
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def gelu(x):
    """x·Φ(x) = x/2 · (1 + erf(x/√2))"""
    return x * 0.5 * (1 + erf(x * (1 / math.sqrt(2))))


def gelu_tanh(x):
    """x/2 · (1 + tanh(√(2/π)·(x + 0.044715 x³))), GELU's tanh approximation."""
    return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


def silu(x):
    """x·σ(x)"""
    e = np.exp(-np.abs(x))
    sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return (x * sig).astype(np.result_type(x), copy=False)


def elu(x, alpha):
    """x if x > 0 else α(e^x − 1)"""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def celu(x, alpha):
    """max(0, x) + min(0, α(e^(x/α) − 1))"""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


def selu(x):
    """λ·(x if x > 0 else α(e^x − 1)) with PyTorch's λ, α."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def softplus_beta(x, beta, threshold):
    """ln(1 + e^(βx))/β, and x itself where βx > threshold (PyTorch's softplus)."""
    z = beta * x
    soft = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(z > threshold, x, soft)


def mish(x):
    """x·tanh(softplus x)"""
    sp = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return x * np.tanh(sp)


def logsigmoid(x):
    """ln σ(x) = −softplus(−x), stable for large |x|."""
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def softsign(x):
    """x / (1 + |x|)"""
    return x / (1 + np.abs(x))


def hardtanh(x, lo, hi):
    """clip(x, lo, hi)"""
    return np.clip(x, lo, hi)


def hardsigmoid(x):
    """clip(x/6 + 1/2, 0, 1)"""
    return np.clip(x / 6 + 0.5, 0, 1)


def hardswish(x):
    """x · clip(x + 3, 0, 6) / 6"""
    return x * np.clip(x + 3, 0, 6) / 6


# -------------------------------------------------------------------- scans
def cumsum(x, axis):
    """Running sum along axis."""
    return np.cumsum(x, axis=axis)


def cumprod(x, axis):
    """Running product along axis."""
    return np.cumprod(x, axis=axis)


def cummax(x, axis):
    """(running max, index of the latest running max) along axis, as PyTorch."""
    values = np.maximum.accumulate(x, axis=axis)
    return values, _running_index(x == values, axis)


def cummin(x, axis):
    """(running min, index of the latest running min) along axis, as PyTorch."""
    values = np.minimum.accumulate(x, axis=axis)
    return values, _running_index(x == values, axis)


def _running_index(hit, axis):
    shape = [1] * hit.ndim
    shape[axis] = hit.shape[axis]
    positions = np.arange(hit.shape[axis]).reshape(shape)
    return np.maximum.accumulate(np.where(hit, positions, 0), axis=axis)


def logcumsumexp(x, axis):
    """ln Σ_{j≤i} e^(x_j) along axis, as a running logaddexp (no overflow)."""
    return np.logaddexp.accumulate(x, axis=axis)


# --------------------------------------------------------------- reductions
def prod(x, axis=None, keepdims=False):
    """Π x over axis."""
    return np.prod(x, axis=axis, keepdims=keepdims)


def sort(x, axis, descending):
    """(sorted values, the indices that sort) along axis; stable."""
    order = np.argsort(-x if descending else x, axis=axis, kind="stable")
    return np.take_along_axis(x, order, axis=axis), order


# ----------------------------------------------------------------- indexing
def gather(x, axis, index):
    """out[..i..] = x[..index[..i..]..] along axis: take_along_axis, with index allowed
    to be smaller than x along the other axes, as torch.gather."""
    return x[_full_index(index, axis)]


def einsum(spec, *operands):
    """np.einsum(spec, *operands), with contraction-order optimisation for three or more."""
    return np.einsum(spec, *operands, optimize=len(operands) > 2)


def scatter(x, axis, index, src, reduce):
    """A copy of x with src written (reduce=None) or reduced into it at index along axis.

    reduce: None (last write wins), "sum", "prod", "amax", "amin" (include_self).
    """
    out = x.copy()
    if reduce is None:
        out[_full_index(index, axis)] = src
        return out
    ufunc = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}[reduce]
    ufunc.at(out, _full_index(index, axis), src)
    return out


def _full_index(index, axis):
    """The fancy index equivalent to take_along_axis(…, index, axis)."""
    grids = list(np.indices(index.shape, sparse=True))
    grids[axis] = index
    return tuple(grids)


ELEMENTWISE_UFUNCS = {
    name: getattr(np, name) for name in (
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh",
        "arccosh", "arctanh", "log2", "log10", "log1p", "exp2", "expm1", "square",
        "floor", "ceil", "round", "trunc", "isnan", "isinf", "isfinite", "arctan2",
        "fmod", "remainder", "floor_divide", "copysign", "logaddexp", "logaddexp2", "fmax", "fmin",
        # comparisons and logic: masks that ops and Tensor.__gt__ & co. compute from data
        # go through the table too, so gg.compile replays them (NumPy is at SIMD speed)
        "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
        "logical_and", "logical_or", "logical_xor", "logical_not",
    )
}

KERNELS = {
    **ELEMENTWISE_UFUNCS,
    **{name: fn for name, fn in list(globals().items()) if callable(fn)
       and not name.startswith("_") and getattr(fn, "__module__", None) == __name__},
}
