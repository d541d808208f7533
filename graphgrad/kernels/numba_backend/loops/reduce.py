"""Numba loops for reductions over one contiguous block of axes.

Any reduction over a contiguous block of axes of a C-contiguous array is a
reduction over the middle axis of a 3-D view ``(p, n, m)``: ``p`` is the
product of the axes before the block, ``n`` of the block, ``m`` of the axes
after it.  ``m == 1`` (the block is trailing, e.g. a row sum) gets an
``_inner`` loop that keeps the accumulator in a register; ``m > 1`` gets a
``_middle`` loop that sweeps whole rows of ``m`` (vectorised along ``j``).

Sums accumulate in float64, whatever the input dtype.  Only a loop whose one
floating-point operation is the accumulation is compiled with ``reassoc``
(``total``, ``dot``, ``sum_inner``, ``var_inner``): LLVM splits it into vector
lanes, and float64 partial sums make that reordering harmless (more accurate
than NumPy's float32 pairwise sum; tests/kernels/test_edge_values.py checks
it on offset data).  A loop that also subtracts a shift or evaluates ``exp``
must not have it: reassociation folds ``(x − c) − l`` into ``x − (c + l)``
(catastrophic at |x| ≈ 10^4) and the two-constant range reduction of ``exp``
into one constant.  Such loops call ``total``/``dot`` instead; a flag belongs
to the instructions of the function compiled with it, so it stays inside the
helper even where LLVM inlines the call.  The ``_middle`` loops sum lane-wise
along ``j`` and vectorise without it.

max and min are not here: LLVM vectorises a max-reduction only under
``nnan``, which the fastmath policy excludes, and NumPy's SIMD max is 5x faster
than the scalar loop.  ``nan_max`` is the exception for short scratch rows
(attention's scores): an integer max on the IEEE bit patterns, which does
vectorise (10× the scalar loop on W6's rows of 32).  logsumexp takes the row max from
NumPy for long rows.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.kernels.numba_backend._jit import by_dtype, kernel
from graphgrad.kernels.numba_backend.loops.approx import exp


@kernel(reduction=True)
def total(v):
    """Σ_k v[k] in float64 (a 1-D array; ``reassoc``: the add is its only float op)."""
    s = 0.0
    for k in range(v.size):
        s += v[k]
    return s


@kernel(reduction=True)
def dot(a, b):
    """Σ_k a[k]·b[k] in float64 (1-D arrays of one length; ``reassoc`` as ``total``)."""
    s = 0.0
    for k in range(a.size):
        s += a[k] * b[k]
    return s


@kernel
def row_max(x, i):
    """max_k x[i, k], NaN-propagating (a scalar loop: short rows only, see logsumexp)."""
    c = x[i, 0]
    for k in range(1, x.shape[1]):
        v = x[i, k]
        c = v if v > c or v != v else c
    return c


@kernel(inline=True)
def nan_max_f32(row):
    """max of a C-contiguous float32 row, NaN if it holds a NaN, on the bit patterns.

    The IEEE bits as int32, with the non-sign bits of negatives flipped, order like
    the floats (−0 below +0), so the max is an integer max-reduction, which LLVM
    vectorises (a float max it vectorises only under ``nnan``); a second integer
    max of |bits| finds a NaN (|bits| above +inf's).  The key is its own inverse.
    """
    bits = row.view(np.int32)
    low = np.int32(0x7FFFFFFF)
    m = np.int32(-2147483648)
    a = np.int32(0)
    for k in range(bits.size):
        x = bits[k]
        m = max(m, x ^ ((x >> 31) & low))
        a = max(a, x & low)
    if a > np.int32(0x7F800000):
        return np.float32(np.nan)
    return np.int32(m ^ ((m >> 31) & low)).view(np.float32)


@kernel(inline=True)
def nan_max_f64(row):
    """``nan_max_f32`` for a float64 row, on int64 bit patterns."""
    bits = row.view(np.int64)
    low = np.int64(0x7FFFFFFFFFFFFFFF)
    m = np.int64(-9223372036854775807 - 1)
    a = np.int64(0)
    for k in range(bits.size):
        x = bits[k]
        m = max(m, x ^ ((x >> 63) & low))
        a = max(a, x & low)
    if a > np.int64(0x7FF0000000000000):
        return np.nan
    return np.int64(m ^ ((m >> 63) & low)).view(np.float64)


nan_max = by_dtype("nan_max", nan_max_f32, nan_max_f64)


@kernel(reduction=True)
def sum_inner(x, out, count):
    """out[i] = Σ_k x[i, k] / count."""
    p, n = x.shape
    for i in range(p):
        acc = 0.0
        for k in range(n):
            acc += x[i, k]
        out[i] = acc / count


@kernel
def sum_middle(x, out, count):
    """out[i, j] = Σ_k x[i, k, j] / count."""
    p, n, m = x.shape
    acc = np.empty(m)
    for i in range(p):
        acc[:] = 0.0
        for k in range(n):
            for j in range(m):
                acc[j] += x[i, k, j]
        for j in range(m):
            out[i, j] = acc[j] / count


@kernel(reduction=True)
def var_inner(x, out, ddof):
    """out[i] = Σ_k (x[i, k] − x̄_i)² / (n − ddof), two passes in float64."""
    p, n = x.shape
    for i in range(p):
        s = 0.0
        for k in range(n):
            s += x[i, k]
        mean = s / n
        q = 0.0
        for k in range(n):
            d = x[i, k] - mean
            q += d * d
        out[i] = q / (n - ddof)


@kernel
def var_middle(x, out, ddof):
    """out[i, j] = Σ_k (x[i, k, j] − x̄_ij)² / (n − ddof), two passes in float64."""
    p, n, m = x.shape
    mean = np.empty(m)
    q = np.empty(m)
    for i in range(p):
        mean[:] = 0.0
        q[:] = 0.0
        for k in range(n):
            for j in range(m):
                mean[j] += x[i, k, j]
        for j in range(m):
            mean[j] /= n
        for k in range(n):
            for j in range(m):
                d = x[i, k, j] - mean[j]
                q[j] += d * d
        for j in range(m):
            out[i, j] = q[j] / (n - ddof)


@kernel
def logsumexp_inner(x, out, row_maxima):
    """out[i] = ln Σ_k e^(x[i, k] − c_i) + c_i with c_i = max_k x[i, k] (0 if not finite).

    `row_maxima` holds the c_i when the caller computed them (NumPy, for long
    rows), or is empty and they are computed here.  The exponentials go to a
    row buffer summed by ``total`` (no ``reassoc`` here, see the module doc).
    """
    p, n = x.shape
    zero = x.dtype.type(0)
    e = np.empty(n, x.dtype)
    for i in range(p):
        c = row_maxima[i] if row_maxima.size else row_max(x, i)
        c = c if abs(c) < math.inf else zero
        for k in range(n):
            e[k] = exp(x[i, k] - c)
        out[i] = math.log(total(e)) + c


@kernel
def logsumexp_middle(x, out):
    """out[i, j] = ln Σ_k e^(x[i, k, j] − c_ij) + c_ij, the shift as in logsumexp_inner."""
    p, n, m = x.shape
    zero = x.dtype.type(0)
    c = np.empty(m, x.dtype)
    e = np.empty(m, x.dtype)
    s = np.empty(m)
    for i in range(p):
        for j in range(m):
            c[j] = x[i, 0, j]
        for k in range(1, n):
            for j in range(m):  # elementwise along j: this max vectorises
                v = x[i, k, j]
                c[j] = v if v > c[j] or v != v else c[j]
        for j in range(m):
            c[j] = c[j] if abs(c[j]) < math.inf else zero
            s[j] = 0.0
        for k in range(n):
            xk = x[i, k]
            for j in range(m):  # two simple loops vectorise better than one fused
                e[j] = exp(xk[j] - c[j])
            for j in range(m):
                s[j] += e[j]
        for j in range(m):
            out[i, j] = math.log(s[j]) + c[j]
