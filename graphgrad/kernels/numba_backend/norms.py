"""Numba wrappers for the fused LayerNorm/RMSNorm/BatchNorm kernels (twins in
kernels/reference_norms.py).

The loops take one float dtype for x, g, γ and β; anything else (other
dtypes, mixed dtypes, empty arrays, 0-d) runs the NumPy twin.  The wrapper
flattens to (rows, D) views (BatchNorm: (N, C, S)), makes them C-contiguous
and allocates: the output in x's dtype, the statistics and the ∂γ/∂β
accumulators in float64.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import reference_norms as ref
from graphgrad.kernels.numba_backend._checks import c as _c
from graphgrad.kernels.numba_backend._checks import ok
from graphgrad.kernels.numba_backend._jit import lazy_module

_loops = lazy_module("graphgrad.kernels.numba_backend.loops.norms")
_NONE = {np.dtype(np.float32): np.empty(0, np.float32), np.dtype(np.float64): np.empty(0)}


def _fits(x, *others) -> bool:
    return ok(x) and all(o is None or (type(o) is np.ndarray and o.dtype == x.dtype)
                         for o in others)


def _affine(a, dtype):
    return _NONE[dtype] if a is None else _c(a).reshape(-1)


def _rows(a, n_axes):
    lead = a.shape[:a.ndim - n_axes]
    return _c(a).reshape(int(np.prod(lead, dtype=np.int64)), -1), lead


def layer_norm(x, weight, bias, n_axes, eps):
    """Fused LayerNorm forward; see reference_norms.layer_norm."""
    if not _fits(x, weight, bias):
        return ref.layer_norm(x, weight, bias, n_axes, eps)
    rows, lead = _rows(x, n_axes)
    y = np.empty(rows.shape, x.dtype)
    mean, rstd = np.empty(len(rows)), np.empty(len(rows))
    _loops.layer_norm(rows, _affine(weight, x.dtype), _affine(bias, x.dtype), float(eps),
                      y, mean, rstd)
    return y.reshape(x.shape), mean.reshape(lead), rstd.reshape(lead)


def layer_norm_backward(g, x, mean, rstd, weight):
    """Fused LayerNorm backward; see reference_norms.layer_norm_backward."""
    if not (_fits(x, g, weight) and g.shape == x.shape):
        return ref.layer_norm_backward(g, x, mean, rstd, weight)
    n_axes = x.ndim - mean.ndim
    rows, _ = _rows(x, n_axes)
    dx = np.empty(rows.shape, x.dtype)
    dw, db = np.zeros(rows.shape[1]), np.zeros(rows.shape[1])
    _loops.layer_norm_backward(_rows(g, n_axes)[0], rows, _c(mean).reshape(-1),
                               _c(rstd).reshape(-1), _affine(weight, x.dtype), dx, dw, db)
    trailing = x.shape[x.ndim - n_axes:]
    return (dx.reshape(x.shape), dw.astype(x.dtype).reshape(trailing),
            db.astype(x.dtype).reshape(trailing))


def rms_norm(x, weight, n_axes, eps):
    """Fused RMSNorm forward; see reference_norms.rms_norm."""
    if not _fits(x, weight):
        return ref.rms_norm(x, weight, n_axes, eps)
    rows, lead = _rows(x, n_axes)
    y, rstd = np.empty(rows.shape, x.dtype), np.empty(len(rows))
    _loops.rms_norm(rows, _affine(weight, x.dtype), float(eps), y, rstd)
    return y.reshape(x.shape), rstd.reshape(lead)


def rms_norm_backward(g, x, rstd, weight):
    """Fused RMSNorm backward; see reference_norms.rms_norm_backward."""
    if not (_fits(x, g, weight) and g.shape == x.shape):
        return ref.rms_norm_backward(g, x, rstd, weight)
    n_axes = x.ndim - rstd.ndim
    rows, _ = _rows(x, n_axes)
    dx, dw = np.empty(rows.shape, x.dtype), np.zeros(rows.shape[1])
    _loops.rms_norm_backward(_rows(g, n_axes)[0], rows, _c(rstd).reshape(-1),
                             _affine(weight, x.dtype), dx, dw)
    return dx.reshape(x.shape), dw.astype(x.dtype).reshape(x.shape[x.ndim - n_axes:])


def _channels(a):
    return _c(a).reshape(a.shape[0], a.shape[1], -1)


def _stat(a):
    """A float64 copy of a (C,) statistic (never a view of a running buffer)."""
    return np.array(a, dtype=np.float64).reshape(-1)


def batch_norm(x, weight, bias, mean, var, eps):
    """Fused BatchNorm forward; see reference_norms.batch_norm."""
    if not (_fits(x, weight, bias) and x.ndim >= 2):
        return ref.batch_norm(x, weight, bias, mean, var, eps)
    xs = _channels(x)
    if mean is not None:
        mean, var = _stat(mean), _stat(var)
    else:  # μ = x₀ + Σ(x − x₀)/M,  σ² = Σ(x − x₀)²/M − (μ − x₀)²
        m = xs.shape[0] * xs.shape[2]
        shift = xs[0, :, 0].astype(np.float64)
        s1, s2 = np.empty(xs.shape[1]), np.empty(xs.shape[1])
        _loops.batch_norm_sums(xs, shift, s1, s2)
        d = s1 / m
        mean, var = shift + d, np.maximum(s2 / m - d * d, 0.0)  # rounding; NaN stays NaN
    y = np.empty(xs.shape, x.dtype)
    _loops.batch_norm_apply(xs, mean, var, _affine(weight, x.dtype), _affine(bias, x.dtype),
                            float(eps), y)
    return y.reshape(x.shape), mean, var


def batch_norm_backward(g, x, weight, mean, var, eps, batch_stats):
    """Fused BatchNorm backward; see reference_norms.batch_norm_backward."""
    if not (_fits(x, g, weight) and g.shape == x.shape and x.ndim >= 2):
        return ref.batch_norm_backward(g, x, weight, mean, var, eps, batch_stats)
    xs, gs = _channels(x), _channels(g)
    c = xs.shape[1]
    mean, var = np.ascontiguousarray(mean, np.float64), np.ascontiguousarray(var, np.float64)
    sg, sgx = np.empty(c), np.empty(c)
    _loops.batch_norm_grad_sums(gs, xs, mean, var, float(eps), sg, sgx)
    dx = np.empty(xs.shape, x.dtype)
    _loops.batch_norm_backward(gs, xs, mean, var, float(eps), _affine(weight, x.dtype),
                               bool(batch_stats), sg, sgx, dx)
    return dx.reshape(x.shape), sgx.astype(x.dtype), sg.astype(x.dtype)
