"""Numba loops for softmax, log-softmax, their backward, and fused softmax cross-entropy.

All loops work on rows of a C-contiguous 2-D view ``(rows, n)``: the wrapper
moves the softmax axis last.  Each row is shifted by its max (so ±1000 does
not overflow), exponentiated once with the vectorisable ``approx.exp`` and
summed in float64; NaN and ±inf rows give what the NumPy reference gives.
No loop here has ``reassoc``: the sums go through ``total``/``dot`` (see
``reduce.py``), so ``(x − max) − lse`` and ``exp``'s range reduction are
evaluated as written.
``row_maxima`` is either empty (short rows: the max is a scalar loop here) or
the maxima computed by NumPy's SIMD max (long rows, where that loop is slow).

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops.approx import exp
from graphgrad.kernels.numba_backend.loops.reduce import dot, row_max, total


@kernel
def softmax_rows(x, out, row_maxima):
    """out[i] = e^(x[i] − max) / Σ e^(x[i] − max)."""
    t = x.dtype.type
    for i in range(x.shape[0]):
        c = row_maxima[i] if row_maxima.size else row_max(x, i)
        for k in range(x.shape[1]):
            out[i, k] = exp(x[i, k] - c)
        inv = t(1.0 / total(out[i]))
        for k in range(x.shape[1]):
            out[i, k] = out[i, k] * inv


@kernel
def log_softmax_rows(x, out, row_maxima):
    """out[i] = (x[i] − max) − ln Σ e^(x[i] − max)."""
    t = x.dtype.type
    for i in range(x.shape[0]):
        c = row_maxima[i] if row_maxima.size else row_max(x, i)
        for k in range(x.shape[1]):  # out holds e^(x − c) until the last loop
            out[i, k] = exp(x[i, k] - c)
        lg = t(math.log(total(out[i])))
        for k in range(x.shape[1]):
            out[i, k] = (x[i, k] - c) - lg


@kernel
def softmax_backward_rows(g, y, out):
    """out[i] = y[i] · (g[i] − Σ_k g[i, k]·y[i, k])."""
    t = g.dtype.type
    for i in range(g.shape[0]):
        dt = t(dot(g[i], y[i]))
        for k in range(g.shape[1]):
            out[i, k] = y[i, k] * (g[i, k] - dt)


@kernel
def log_softmax_backward_rows(g, y, out):
    """out[i] = g[i] − e^y[i] · Σ_k g[i, k]."""
    t = g.dtype.type
    for i in range(g.shape[0]):
        st = t(total(g[i]))
        for k in range(g.shape[1]):
            out[i, k] = g[i, k] - exp(y[i, k]) * st


@kernel
def softmax_cross_entropy(z, labels, loss, probs, row_maxima):
    """loss[i] = ln Σ e^z[i] − z[i, labels[i]], probs[i] = softmax(z[i]).

    Returns −1, or the first row whose label is outside [0, n_classes).
    """
    t = z.dtype.type
    n, c = z.shape
    for i in range(n):
        label = labels[i]
        if label < 0 or label >= c:
            return i
        shift = row_maxima[i] if row_maxima.size else row_max(z, i)
        for k in range(c):
            probs[i, k] = exp(z[i, k] - shift)
        s = total(probs[i])
        inv = t(1.0 / s)
        for k in range(c):
            probs[i, k] = probs[i, k] * inv
        loss[i] = t(math.log(s)) - (z[i, label] - shift)
    return -1


@kernel
def softmax_cross_entropy_backward(g, probs, labels, out):
    """out[i, k] = g[i] · (probs[i, k] − [k == labels[i]]).

    Returns −1, or the first row whose label is outside [0, n_classes).
    """
    t = probs.dtype.type
    one = t(1)
    zero = t(0)
    n, c = probs.shape
    for i in range(n):
        label = labels[i]
        if label < 0 or label >= c:
            return i
        gi = g[i]
        for k in range(c):
            out[i, k] = (probs[i, k] - (one if k == label else zero)) * gi
    return -1
