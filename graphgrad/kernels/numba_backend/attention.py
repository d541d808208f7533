"""Numba wrappers of fused attention (twins in kernels/reference_attention.py).

The wrappers flatten the batch axes (..., L, E) -> (B, L, E), make q, k, v
C-contiguous in one float dtype, broadcast the mask to (B, L, S) as a view
(a copy only when the batch axes cannot be merged), run the matrix products
on BLAS (``np.matmul``) and everything between them in the loops of
``loops/attention.py``.  One (B, L, S) block of the inputs' dtype is the only
score-sized array, in the forward and in the backward: it holds q·kᵀ, then
the probabilities, then (backward) dS, in place; the forward frees it and
keeps the row log-sum-exp.  Mixed dtypes, empty arrays or batch axes that
differ go to the NumPy twin.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import reference_attention as ref
from graphgrad.kernels.numba_backend._checks import c as _c
from graphgrad.kernels.numba_backend._checks import ok
from graphgrad.kernels.numba_backend._jit import lazy_module

_loops = lazy_module("graphgrad.kernels.numba_backend.loops.attention")
_NO_MASK = np.zeros((1, 1, 1))


def _fits(q, k, v, *more) -> bool:
    arrays = (q, k, v) + more
    return (all(ok(a) and a.ndim >= 2 and a.dtype == q.dtype for a in arrays)
            and k.shape[:-2] == q.shape[:-2] == v.shape[:-2] and q.shape[-1] == k.shape[-1]
            and k.shape[-2] == v.shape[-2])


def _as3(a):
    return _c(a).reshape(-1, *a.shape[-2:])


def _mask3(mask, q, k):
    """(mask (B, L, S) view, mode): 0 none, 1 bool, 2 float (cast to q's dtype)."""
    batch, n_l, n_s = q.shape[:-2], q.shape[-2], k.shape[-2]
    b = int(np.prod(batch))
    if mask is None:
        return np.broadcast_to(_NO_MASK, (b, n_l, n_s)), 0
    mask = np.asarray(mask)
    mode = 1 if mask.dtype == np.bool_ else 2
    if mode == 2 and mask.dtype != q.dtype:
        mask = mask.astype(q.dtype)
    return np.broadcast_to(mask, batch + (n_l, n_s)).reshape(b, n_l, n_s), mode


def attention(q, k, v, mask, causal, scale, dropout_p, rng):
    """Fused attention forward; see reference_attention.attention."""
    if not _fits(q, k, v):
        return ref.attention(q, k, v, mask, causal, scale, dropout_p, rng)
    seed = (rng.integers(0, 2 ** 63 - 1, size=1).astype(np.uint64) if dropout_p > 0
            else np.zeros(1, np.uint64))
    m, mode = _mask3(mask, q, k)
    q3, k3, v3 = _as3(q), _as3(k), _as3(v)
    block = np.matmul(q3, k3.transpose(0, 2, 1))
    lse = np.empty(q3.shape[:2])
    _loops.softmax_block(block, m, mode, bool(causal), float(scale), seed[0],
                         float(dropout_p), lse)
    out = np.matmul(block, v3)
    return out.reshape(q.shape[:-1] + (v.shape[-1],)), lse.reshape(q.shape[:-1]), seed


def attention_backward(g, q, k, v, out, lse, seed, mask, causal, scale, dropout_p):
    """The adjoint of fused attention; see reference_attention.attention_backward."""
    if not _fits(q, k, v, g, out) or g.shape != out.shape:
        return ref.attention_backward(g, q, k, v, out, lse, seed, mask, causal, scale,
                                      dropout_p)
    m, mode = _mask3(mask, q, k)
    q3, k3, v3, g3, o3 = _as3(q), _as3(k), _as3(v), _as3(g), _as3(out)
    block = np.matmul(q3, k3.transpose(0, 2, 1))
    _loops.probs_block(block, m, mode, bool(causal), float(scale),
                       _c(lse).reshape(q3.shape[:2]))
    dropout = dropout_p > 0
    dv = np.empty_like(v3) if dropout else np.matmul(block.transpose(0, 2, 1), g3)
    _loops.grad_scores(block, g3, v3, o3, seed[0], float(dropout_p), float(scale), dv)
    dq = np.matmul(block, k3)
    dk = np.matmul(block.transpose(0, 2, 1), q3)
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)
