"""Pure-NumPy twins of the fused attention kernels (``scaled_dot_product_attention``).

These are the oracle: they form every (L, S) score block at once, in float64,
and round the results to the inputs' dtype.  The Numba loops compute the same
quantities one row at a time (``numba_backend/loops/attention.py``).

Dropout is counter-based, as in FlashAttention: the forward draws one 64-bit
seed from the generator, and the keep decision of score (b, i, j) is a
SplitMix64 hash of ``seed + index·γ`` (index = (b·L + i)·S + j), so the
backward regenerates it instead of storing a mask.  Both twins compute the
same bits, so they agree exactly on which weights are dropped.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _uniform(seed, n):
    """n uniforms in [0, 1): the top 53 bits of SplitMix64(seed + k·γ), k = 0 … n − 1."""
    z = np.arange(n, dtype=np.uint64) * _GOLDEN + seed.astype(np.uint64)
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def attention_keep(seed, shape, dropout_p):
    """The dropout factors z (shape (..., L, S)): 1/(1 − p) where u ≥ p, else 0; all 1 at p = 0."""
    if dropout_p <= 0.0:
        return np.ones(shape)
    u = _uniform(seed, int(np.prod(shape))).reshape(shape)
    return np.where(u >= dropout_p, 1.0 / (1.0 - dropout_p), 0.0)


def _scores(q, k, mask, causal, scale):
    """s = scale·q·kᵀ + M in float64, M = 0 / −inf (bool mask: True takes part; causal
    j ≤ i) or the float mask itself."""
    s = scale * (q.astype(np.float64) @ np.swapaxes(k.astype(np.float64), -1, -2))
    L, S = s.shape[-2:]
    if causal:
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask
    return s


def attention(q, k, v, mask, causal, scale, dropout_p, rng):
    """Fused attention forward: (out, lse, seed).

    q (..., L, E), k (..., S, E), v (..., S, Ev); ``mask`` None or broadcastable
    to (..., L, S), bool (True = takes part) or float (added to the scores).
    With s = scale·q·kᵀ + M, lse_i = log Σ_j e^(s_ij), P = e^(s − lse),
    out = (P ⊙ Z)·v with Z the dropout factors.  A row with every score −inf
    gives out = 0 and lse = +inf (so P = 0 there in the backward), as PyTorch
    2.13 does.  lse is float64 (…, L); seed a (1,) uint64 array, drawn from
    ``rng`` only when dropout_p > 0.
    """
    seed = (rng.integers(0, 2 ** 63 - 1, size=1).astype(np.uint64) if dropout_p > 0
            else np.zeros(1, np.uint64))
    s = _scores(q, k, mask, causal, scale)
    m = s.max(axis=-1, keepdims=True)
    dead = np.isneginf(m)
    m = np.where(dead, 0.0, m)
    e = np.exp(s - m)
    total = e.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(dead, 0.0, e / total)
        lse = np.where(dead, np.inf, m + np.log(total))[..., 0]
    p = p * attention_keep(seed, p.shape, dropout_p)
    out = (p @ v.astype(np.float64)).astype(q.dtype)
    return out, lse, seed


def attention_backward(g, q, k, v, out, lse, seed, mask, causal, scale, dropout_p):
    """Adjoint of ``attention``: (dq, dk, dv) from g = ∂L/∂out.

    P = e^(s − lse) recomputed from the saved row log-sum-exp, Z the regenerated
    dropout factors, D_i = Σ_e g_ie·out_ie (= Σ_j P_ij Z_ij g_i·v_j);
    dv = (P ⊙ Z)ᵀ·g,  dS = P ⊙ (Z ⊙ g·vᵀ − D),  dq = scale·dS·k,  dk = scale·dSᵀ·q.
    """
    f = np.float64
    g64, v64 = g.astype(f), v.astype(f)
    p = np.exp(_scores(q, k, mask, causal, scale) - lse[..., None])
    z = attention_keep(seed, p.shape, dropout_p)
    d = (g64 * out.astype(f)).sum(axis=-1, keepdims=True)
    dv = np.swapaxes(p * z, -1, -2) @ g64
    ds = p * (z * (g64 @ np.swapaxes(v64, -1, -2)) - d)
    dq = scale * (ds @ k.astype(f))
    dk = scale * (np.swapaxes(ds, -1, -2) @ q.astype(f))
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)


def attention_mask(attn_mask, key_padding_mask, num_heads, dtype):
    """MultiheadAttention's two masks as one additive mask (N, H or 1, L, S) of `dtype`.

    Both follow MultiheadAttention's polarity: bool True = blocked (−inf), float
    added.  ``attn_mask`` is (L, S) or (N·H, L, S) (index n·H + h), or None;
    ``key_padding_mask`` (N, S) or None.  Shapes are checked by the caller.
    """
    def additive(m):
        m = np.asarray(m)
        return np.where(m, -np.inf, 0.0) if m.dtype == np.bool_ else m.astype(np.float64)

    total = np.zeros((1, 1, 1, 1))
    if attn_mask is not None:
        a = additive(attn_mask)
        total = a.reshape(1, 1, *a.shape) if a.ndim == 2 else a.reshape(
            -1, num_heads, *a.shape[1:])
    if key_padding_mask is not None:
        p = additive(key_padding_mask)
        total = total + p.reshape(p.shape[0], 1, 1, p.shape[1])
    return total.astype(dtype)


KERNELS = {name: globals()[name] for name in
           ("attention", "attention_backward", "attention_keep", "attention_mask")}
