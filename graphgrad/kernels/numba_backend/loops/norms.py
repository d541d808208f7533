"""Numba loops for the fused LayerNorm, RMSNorm and BatchNorm (twins in kernels/reference_norms.py).

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

BatchNorm's loops take C-contiguous (N, C, S) views and work per channel over
its N·S values: the forward sums x − x₀ and (x − x₀)² in float64 (x₀ a value
of the channel, as LayerNorm) unless the statistics are given, then writes y;
the backward sums Σg and Σg·x̂, then writes ∂x.  The sums are loops of their
own, pure accumulations compiled with ``reassoc`` (they vectorise).

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


@kernel(reduction=True)
def batch_norm_sums(x, shift, s1, s2):
    """Per channel j of x (N, C, S): s1 = Σ(x − shift_j), s2 = Σ(x − shift_j)² (float64).

    Shifted by a value of the channel, so a large common offset does not cancel
    the variance away; a pure accumulation, so it may reassociate (vectorises).
    """
    n, c, s = x.shape
    for j in range(c):
        a = 0.0
        b = 0.0
        x0 = shift[j]
        for i in range(n):
            for k in range(s):
                v = x[i, j, k] - x0
                a += v
                b += v * v
        s1[j] = a
        s2[j] = b


@kernel
def batch_norm_apply(x, mean, var, weight, bias, eps, y):
    """y = (x − μ_c)·r_c·γ_c + β_c over x (N, C, S), r_c = 1/√(σ²_c + eps)."""
    t = y.dtype.type
    n, c, s = x.shape
    for j in range(c):
        mu = mean[j]
        a = 1.0 / math.sqrt(var[j] + eps)
        if weight.size:
            a = a * weight[j]
        b = bias[j] * 1.0 if bias.size else 0.0
        for i in range(n):
            for k in range(s):
                y[i, j, k] = t((x[i, j, k] - mu) * a + b)


@kernel(reduction=True)
def batch_norm_grad_sums(g, x, mean, var, eps, sg, sgx):
    """Per channel: sg = Σg, sgx = Σg·x̂ with x̂ = (x − μ)/√(σ² + eps) (float64 sums)."""
    n, c, s = x.shape
    for j in range(c):
        mu = mean[j]
        r = 1.0 / math.sqrt(var[j] + eps)
        a = 0.0
        b = 0.0
        for i in range(n):
            for k in range(s):
                gk = g[i, j, k] * 1.0
                a += gk
                b += gk * ((x[i, j, k] - mu) * r)
        sg[j] = a
        sgx[j] = b


@kernel
def batch_norm_backward(g, x, mean, var, eps, weight, batch_stats, sg, sgx, dx):
    """∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)) with batch statistics, r·ĝ with given ones
    (ĝ = g·γ), from the sums of batch_norm_grad_sums."""
    t = dx.dtype.type
    n, c, s = x.shape
    m = n * s
    for j in range(c):
        mu = mean[j]
        r = 1.0 / math.sqrt(var[j] + eps)
        w = weight[j] * 1.0 if weight.size else 1.0
        if batch_stats:  # mean ĝ = γ·mean g, mean(ĝ·x̂) = γ·mean(g·x̂)
            a = w * (sg[j] / m)
            b = w * (sgx[j] / m)
            for i in range(n):
                for k in range(s):
                    xh = (x[i, j, k] - mu) * r
                    dx[i, j, k] = t(r * (w * g[i, j, k] - a - xh * b))
        else:
            for i in range(n):
                for k in range(s):
                    dx[i, j, k] = t(r * (w * g[i, j, k]))
