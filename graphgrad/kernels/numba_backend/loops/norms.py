"""Numba loops for the fused LayerNorm and RMSNorm (twins in kernels/reference_norms.py).

Every loop works on C-contiguous (rows, D) views.  Per row, one pass gathers
the statistics in float64: LayerNorm sums x − x₀ and (x − x₀)² (shifted by the
row's first value, so a large common offset does not cancel the variance
away), RMSNorm sums x²; a second pass writes the output.  The backward makes
one pass for the two row sums Σĝ and Σĝ·x̂ and one that writes ∂x, adding
g·x̂ and g into the float64 ∂γ/∂β accumulators on the way.  LayerNorm's row
sums run in ``reduce.py``'s ``total``/``dot`` on a float64 scratch row (the
only loops with ``reassoc``), so they vectorise: 4–6× faster than the
sequential float64 sums at W6's rows of 64 (docs/performance.md).  ``weight``/``bias``
of size 0 mean "absent".

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops.reduce import dot, total


@kernel
def layer_norm(x, weight, bias, eps, y, mean, rstd):
    """y[i] = (x[i] − μ_i)·r_i·γ + β; μ, r (float64) per row.

    The row, shifted by x₀ and widened to float64, goes into a scratch row once;
    its two sums are ``total`` and ``dot`` (vector lanes, ``reassoc`` only there);
    the affine case is chosen once per call, not per element, so each output
    loop is one branch-free vector pass."""
    t = y.dtype.type
    n, d = x.shape
    v = np.empty(d)
    has_w = weight.size > 0
    has_b = bias.size > 0
    for i in range(n):
        k0 = x[i, 0] * 1.0
        for k in range(d):
            v[k] = x[i, k] - k0
        m = total(v) / d
        mu = k0 + m
        var = dot(v, v) / d - m * m
        if var < 0.0:  # rounding; a NaN variance stays NaN
            var = 0.0
        r = 1.0 / math.sqrt(var + eps)
        mean[i] = mu
        rstd[i] = r
        if has_w and has_b:
            for k in range(d):
                y[i, k] = t((x[i, k] - mu) * r * weight[k] + bias[k])
        elif has_w:
            for k in range(d):
                y[i, k] = t((x[i, k] - mu) * r * weight[k])
        elif has_b:
            for k in range(d):
                y[i, k] = t((x[i, k] - mu) * r + bias[k])
        else:
            for k in range(d):
                y[i, k] = t((x[i, k] - mu) * r)


@kernel
def layer_norm_backward(g, x, mean, rstd, weight, dx, dw, db):
    """∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)); dw += g·x̂ and db += g (float64 accumulators).

    Per row, x̂ and ĝ go into float64 scratch rows in one pass (adding g·x̂ and
    g into dw, db on the way: lane-wise along k); the two row sums are ``total``
    and ``dot``; a second pass writes ∂x."""
    t = dx.dtype.type
    n, d = x.shape
    xh = np.empty(d)
    gw = np.empty(d)
    has_w = weight.size > 0
    for i in range(n):
        mu = mean[i]
        r = rstd[i]
        for k in range(d):
            gk = g[i, k] * 1.0
            xk = (x[i, k] - mu) * r
            xh[k] = xk
            dw[k] += gk * xk
            db[k] += gk
        if has_w:
            for k in range(d):
                gw[k] = g[i, k] * 1.0 * weight[k]
        else:
            for k in range(d):
                gw[k] = g[i, k]
        a = total(gw) / d
        b = dot(gw, xh) / d
        for k in range(d):
            dx[i, k] = t(r * (gw[k] - a - xh[k] * b))


@kernel
def rms_norm(x, weight, eps, y, rstd):
    """y[i] = x[i]·r_i·γ, r_i = 1/√(mean(x[i]²) + eps) (float64)."""
    t = y.dtype.type
    n, d = x.shape
    for i in range(n):
        s2 = 0.0
        for k in range(d):
            v = x[i, k] * 1.0
            s2 += v * v
        r = 1.0 / math.sqrt(s2 / d + eps)
        rstd[i] = r
        for k in range(d):
            v = x[i, k] * r
            if weight.size:
                v = v * weight[k]
            y[i, k] = t(v)


@kernel
def rms_norm_backward(g, x, rstd, weight, dx, dw):
    """∂x = r·(ĝ − x̂·mean(ĝ·x̂)); dw += g·x̂ (a float64 accumulator)."""
    t = dx.dtype.type
    n, d = x.shape
    for i in range(n):
        r = rstd[i]
        b = 0.0
        for k in range(d):
            gk = g[i, k] * 1.0
            gw = gk * weight[k] if weight.size else gk
            b += gw * (x[i, k] * r)
        b /= d
        for k in range(d):
            xh = x[i, k] * r
            gk = g[i, k] * 1.0
            gw = gk * weight[k] if weight.size else gk
            dx[i, k] = t(r * (gw - xh * b))
            dw[k] += gk * xh
