"""Numba loops of fused scaled dot-product attention, one query row at a time.

Arrays are 3-D: q (B, L, E), k (B, S, E), v (B, S, Ev) C-contiguous, ``mask``
(B, L, S) of any strides (a broadcast view: zero strides cost nothing), read
as ``mode`` says: 0 none, 1 bool (True takes part), 2 float (added).  Scores
and sums are float64 whatever the dtype; ``exp`` is ``approx``'s (float32
approximation, exact for float64), chosen by the dtype of the shifted score.

Forward, per row i: the S scores in one float64 row buffer, their max, e^(s −
max) and its sum in the same pass, then out_i = Σ_j p_ij·z_ij·v_j; only the
row's log-sum-exp is kept.  Backward, per row, recomputes p_ij = e^(s_ij −
lse_i) and adds its terms to dq_i, dk_j and dv_j at once (dk and dv of the
current head accumulate in float64 (S, E) buffers): no (L, S) block exists
at any time.  Dropout factors come from the SplitMix64 hash of the twin
(``reference_attention``), recomputed in the backward.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops.approx import exp
from graphgrad.kernels.numba_backend.loops.reduce import dot

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
def score(q, k, mask, mode, causal, scale, b, i, j):
    """s_ij = scale·q_i·k_j + M_ij in float64 (−inf where blocked)."""
    if causal and j > i:
        return -math.inf
    if mode == 1 and not mask[b, i, j]:
        return -math.inf
    s = scale * dot(q[b, i], k[b, j])
    if mode == 2:
        s += mask[b, i, j]
    return s


@kernel
def attention_forward(q, k, v, mask, mode, causal, scale, seed, dropout_p, out, lse):
    """out_i = Σ_j softmax(s_i)_j·z_ij·v_j and lse_i = log Σ_j e^(s_ij) (+inf: row all −inf)."""
    nb, nl, _ = q.shape
    ns, nv = k.shape[1], v.shape[2]
    t = q.dtype.type
    inv_keep = 1.0 / (1.0 - dropout_p)
    row = np.empty(ns)
    acc = np.empty(nv)
    for b in range(nb):
        for i in range(nl):
            mx = -math.inf
            for j in range(ns):
                s = score(q, k, mask, mode, causal, scale, b, i, j)
                row[j] = s
                if s > mx or s != s:
                    mx = s
            acc[:] = 0.0
            if mx == -math.inf:
                lse[b, i] = math.inf
            else:
                tot = 0.0
                for j in range(ns):
                    e = exp(t(row[j] - mx))
                    row[j] = e
                    tot += e
                lse[b, i] = mx + math.log(tot)
                inv = 1.0 / tot
                base = (b * nl + i) * ns
                for j in range(ns):
                    p = row[j] * inv * keep_factor(seed, base + j, dropout_p, inv_keep)
                    for e in range(nv):
                        acc[e] += p * v[b, j, e]
            for e in range(nv):
                out[b, i, e] = acc[e]


@kernel
def attention_backward(g, q, k, v, out, lse, seed, mask, mode, causal, scale, dropout_p,
                       dq, dk, dv):
    """dv_j = Σ_i p_ij z_ij g_i, dS_ij = p_ij (z_ij g_i·v_j − g_i·out_i),
    dq_i = scale Σ_j dS_ij k_j, dk_j = scale Σ_i dS_ij q_i (p from the saved lse)."""
    nb, nl, ne = q.shape
    ns, nv = k.shape[1], v.shape[2]
    t = q.dtype.type
    inv_keep = 1.0 / (1.0 - dropout_p)
    dk_acc = np.empty((ns, ne))
    dv_acc = np.empty((ns, nv))
    dq_acc = np.empty(ne)
    for b in range(nb):
        dk_acc[:] = 0.0
        dv_acc[:] = 0.0
        for i in range(nl):
            dq_acc[:] = 0.0
            li = lse[b, i]
            if li != math.inf:
                d = dot(g[b, i], out[b, i])
                base = (b * nl + i) * ns
                for j in range(ns):
                    s = score(q, k, mask, mode, causal, scale, b, i, j)
                    if s == -math.inf:
                        continue
                    p = exp(t(s - li))
                    z = keep_factor(seed, base + j, dropout_p, inv_keep)
                    pz = p * z
                    for e in range(nv):
                        dv_acc[j, e] += pz * g[b, i, e]
                    ds = scale * p * (z * dot(g[b, i], v[b, j]) - d)
                    for e in range(ne):
                        dq_acc[e] += ds * k[b, j, e]
                        dk_acc[j, e] += ds * q[b, i, e]
            for e in range(ne):
                dq[b, i, e] = dq_acc[e]
        for j in range(ns):
            for e in range(ne):
                dk[b, j, e] = dk_acc[j, e]
            for e in range(nv):
                dv[b, j, e] = dv_acc[j, e]
