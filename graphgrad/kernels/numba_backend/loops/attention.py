"""Numba loops of fused scaled dot-product attention: everything between the matrix products.

The products (q·kᵀ, P·v, and in the backward Pᵀ·g, g·vᵀ, dS·k, dSᵀ·q) are BLAS
(``np.matmul`` in the wrapper, DESIGN rule 6); these loops do the rest on the
one (B, L, S) block of raw products q·kᵀ, in place, a row at a time.  ``mask``
is (B, L, S) of any strides (a broadcast view: zero strides cost nothing),
read as ``mode`` says: 0 none, 1 bool (True takes part), 2 float (added).
Row sums are float64 (``total``); scores are the block's dtype; ``exp`` is ``approx``'s
(the float32 approximation, exact ``math`` for float64), chosen by the block's dtype.

* ``softmax_block`` (forward): scale, mask, max (``reduce.nan_max``, on the bit
  patterns), e^(s − max) and its sum in one sweep of the row, then P⊙Z and the row's
  log-sum-exp (+inf for a row with every score −inf, whose P is 0).
* ``probs_block`` (backward): P = e^(scale·q·kᵀ + M − lse) again from the saved
  log-sum-exp (FlashAttention's recomputation: no P is stored).
* ``scores_grad`` (backward, no dropout): P → dS = scale·P⊙(dP − D) in place,
  with dP = g·vᵀ a second block from BLAS and D_i = g_i·out_i (g and out as
  strided 4-D views).
* ``grad_scores`` (backward with dropout): P → dS = scale·P⊙(Z⊙g·vᵀ − D) in
  place, with D_i = g_i·out_i and the row g_i·vᵀ formed on the fly, while
  accumulating dv = (P⊙Z)ᵀ·g.

Dropout factors come from the SplitMix64 hash of the twin
(``reference_attention``), regenerated in the backward.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops.approx import exp
from graphgrad.kernels.numba_backend.loops.reduce import dot, nan_max, total

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@kernel(inline=True)
def keep_factor(seed, index, dropout_p, inv_keep):
    """1/(1 − p) where SplitMix64(seed + index·γ)'s top 53 bits / 2^53 ≥ p, else 0."""
    if dropout_p <= 0.0:
        return 1.0
    z = np.uint64(index) * _GOLDEN + seed
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    u = np.float64(z >> _S11) * 1.1102230246251565e-16
    return inv_keep if u >= dropout_p else 0.0


@kernel(inline=True)
def masked_row(s, mask, mode, causal, scale, b, i, row):
    """row = scale·s[b, i] + M_i (−inf where blocked), in s's dtype.

    One short pass per rule (scale, then the mask, then the causal tail), so the
    scale pass vectorises."""
    ns = row.size
    t = s.dtype.type
    for j in range(ns):
        row[j] = t(scale) * s[b, i, j]
    if mode == 2:
        for j in range(ns):
            row[j] += mask[b, i, j]
    elif mode == 1:
        for j in range(ns):
            if not mask[b, i, j]:
                row[j] = -np.inf
    if causal:
        for j in range(i + 1, ns):
            row[j] = -np.inf


@kernel
def softmax_block(s, mask, mode, causal, scale, seed, dropout_p, lse):
    """s[b, i] ← softmax(scale·s[b, i] + M)⊙Z (in place), lse[b, i] = log Σ_j e^(…)."""
    nb, nl, ns = s.shape
    t = s.dtype.type
    inv_keep = 1.0 / (1.0 - dropout_p)
    row = np.empty(ns, s.dtype)
    for b in range(nb):
        for i in range(nl):
            masked_row(s, mask, mode, causal, scale, b, i, row)
            mx = nan_max(row)  # NaN-propagating, on the bits (vector lanes)
            if mx == -np.inf:
                lse[b, i] = math.inf
                for j in range(ns):
                    s[b, i, j] = 0.0
                continue
            for j in range(ns):
                row[j] = exp(row[j] - mx)
            tot = total(row)
            lse[b, i] = mx + math.log(tot)
            inv = t(1.0 / tot)
            for j in range(ns):
                s[b, i, j] = row[j] * inv
            if dropout_p > 0.0:
                base = (b * nl + i) * ns
                for j in range(ns):
                    s[b, i, j] = s[b, i, j] * keep_factor(seed, base + j, dropout_p, inv_keep)


@kernel
def probs_block(s, mask, mode, causal, scale, lse):
    """s[b, i] ← e^(scale·s[b, i] + M − lse[b, i]) (0 where blocked or the row is all −inf)."""
    nb, nl, ns = s.shape
    t = s.dtype.type
    row = np.empty(ns, s.dtype)
    for b in range(nb):
        for i in range(nl):
            masked_row(s, mask, mode, causal, scale, b, i, row)
            li = t(lse[b, i])
            for j in range(ns):
                s[b, i, j] = exp(row[j] - li)


@kernel
def grad_scores(s, g, v, out, seed, dropout_p, scale, dv):
    """s[b, i, j] ← scale·P_ij·(Z_ij·g_i·v_j − g_i·out_i) in place (s holds P on entry);
    with dropout also dv[b] = Σ_i (P⊙Z)_iᵀ g_i.  The row g_i·vᵀ is formed in s's dtype
    (as BLAS would), D_i = g_i·out_i and dv in float64."""
    nb, nl, ns = s.shape
    nv = v.shape[2]
    t = s.dtype.type
    inv_keep = 1.0 / (1.0 - dropout_p)
    vt = np.empty((nv, ns), s.dtype)
    dp = np.empty(ns, s.dtype)
    gi = np.empty(nv, s.dtype)
    dv_acc = np.empty((ns, nv))
    for b in range(nb):
        for j in range(ns):
            for e in range(nv):
                vt[e, j] = v[b, j, e]
        dv_acc[:] = 0.0
        for i in range(nl):
            for e in range(nv):
                gi[e] = g[b, i, e]
            d = t(dot(gi, out[b, i]))
            dp[:] = 0.0
            for e in range(nv):
                ge = gi[e]
                for j in range(ns):
                    dp[j] += ge * vt[e, j]
            if dropout_p > 0.0:
                base = (b * nl + i) * ns
                for j in range(ns):
                    p = np.float64(s[b, i, j])
                    z = keep_factor(seed, base + j, dropout_p, inv_keep)
                    pz = p * z
                    for e in range(nv):
                        dv_acc[j, e] += pz * gi[e]
                    s[b, i, j] = scale * p * (z * dp[j] - d)
            else:
                ts = t(scale)
                for j in range(ns):
                    s[b, i, j] = ts * s[b, i, j] * (dp[j] - d)
        if dropout_p > 0.0:
            for j in range(ns):
                for e in range(nv):
                    dv[b, j, e] = dv_acc[j, e]


@kernel
def scores_grad(s, dp, g, out, scale):
    """s[b, i, j] ← scale·P_ij·(dP_ij − D_i) in place (s holds P, dp = g·vᵀ from BLAS),
    D_i = g_i·out_i in float64; g and out are (B1, B2, L, Ev) of any strides with
    b = b1·B2 + b2 (the backward without dropout)."""
    nb, nl, ns = s.shape
    n2 = g.shape[1]
    ne = g.shape[3]
    t = s.dtype.type
    ts = t(scale)
    for b in range(nb):
        b1 = b // n2
        b2 = b - b1 * n2
        for i in range(nl):
            d = 0.0
            for e in range(ne):
                d += g[b1, b2, i, e] * 1.0 * out[b1, b2, i, e]
            dt = t(d)
            for j in range(ns):
                s[b, i, j] = ts * s[b, i, j] * (dp[b, i, j] - dt)
