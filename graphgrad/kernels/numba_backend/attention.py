"""Numba wrappers of fused attention (twins in kernels/reference_attention.py).

The wrappers run the matrix products on BLAS (``np.matmul``) on q, k, v as
they come — (…, L, E) views of any strides, such as the heads of a (N, L, H·E)
projection, one GEMM per head and no copy — and everything between them in
the loops of ``loops/attention.py`` on the fresh (B, L, S) score block (the
batch axes merged, the mask broadcast to it as a view, a copy only when its
batch axes cannot be merged).  Results and gradients are written by the last
product straight into arrays with their input's memory layout, so the heads'
transpose back to (N, L, H·E) needs no copy.  The forward holds one score
block (q·kᵀ, then the probabilities, in place) and keeps the row
log-sum-exp; the backward without dropout holds two (P, then dS in place;
dP = g·vᵀ from BLAS), with dropout one (its loop forms dP and dv row by row,
on C-contiguous copies).  Mixed dtypes, empty arrays or batch axes that
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


def _view4(a):
    """a as (B1, B2, L, E): a view for up to 4 axes (any strides: a head view of a
    (N, L, H·E) projection stays one), a C-contiguous copy's view beyond."""
    if a.ndim <= 4:
        return a.reshape((1,) * (4 - a.ndim) + a.shape)
    return _c(a).reshape(-1, *a.shape[-3:])


def _like(a, shape):
    """A new array of `shape` in a's memory layout (np.empty_like, order K), so a result
    (or gradient) of head views is a head view of a (N, L, H·E) array too; C order beyond
    4 axes (where ``_view4`` must be a view of it)."""
    if a.ndim > 4:
        return np.empty(shape, a.dtype)
    return np.empty_like(a, shape=shape)


def attention(q, k, v, mask, causal, scale, dropout_p, rng):
    """Fused attention forward; see reference_attention.attention.

    q·kᵀ and P·v are ``np.matmul`` on the (strided) operands themselves, one GEMM
    per (L, S) block and no copy of q, k, v; the output is written by the second
    product straight into an array with q's memory layout."""
    if not _fits(q, k, v):
        return ref.attention(q, k, v, mask, causal, scale, dropout_p, rng)
    seed = (rng.integers(0, 2 ** 63 - 1, size=1).astype(np.uint64) if dropout_p > 0
            else np.zeros(1, np.uint64))
    m, mode = _mask3(mask, q, k)
    q4, k4, v4 = _view4(q), _view4(k), _view4(v)
    block = np.matmul(q4, k4.swapaxes(-1, -2))
    b3 = block.reshape(-1, *block.shape[-2:])
    lse = np.empty(b3.shape[:2])
    _loops.softmax_block(b3, m, mode, bool(causal), float(scale), seed[0],
                         float(dropout_p), lse)
    out = _like(q, q.shape[:-1] + (v.shape[-1],))
    np.matmul(block, v4, out=_view4(out))
    return out, lse.reshape(q.shape[:-1]), seed


def attention_backward(g, q, k, v, out, lse, seed, mask, causal, scale, dropout_p):
    """The adjoint of fused attention; see reference_attention.attention_backward.

    Without dropout the five products are BLAS on the operands as they come (no
    copies): S = q·kᵀ (then P in place, recomputed from the log-sum-exp), dv = Pᵀ·g,
    dP = g·vᵀ in a second block, dS = scale·P⊙(dP − D) in place in the first (one
    Numba pass), dq = dS·k, dk = dSᵀ·q; each gradient has its input's memory layout.
    So at most two (L, S) blocks per head exist.  With dropout, one block and
    C-contiguous copies: dP and dv = (P⊙Z)ᵀ·g are formed row by row in the loop.
    """
    if not _fits(q, k, v, g, out) or g.shape != out.shape:
        return ref.attention_backward(g, q, k, v, out, lse, seed, mask, causal, scale,
                                      dropout_p)
    if dropout_p > 0:
        return _backward_dropout(g, q, k, v, out, lse, seed, mask, causal, scale, dropout_p)
    m, mode = _mask3(mask, q, k)
    q4, k4, v4, g4, o4 = _view4(q), _view4(k), _view4(v), _view4(g), _view4(out)
    block = np.matmul(q4, k4.swapaxes(-1, -2))
    b3 = block.reshape(-1, *block.shape[-2:])
    _loops.probs_block(b3, m, mode, bool(causal), float(scale), _c(lse).reshape(b3.shape[:2]))
    dv = _like(v, v.shape)
    np.matmul(block.swapaxes(-1, -2), g4, out=_view4(dv))
    dp = np.matmul(g4, v4.swapaxes(-1, -2))
    _loops.scores_grad(b3, dp.reshape(b3.shape), g4, o4, float(scale))
    dq, dk = _like(q, q.shape), _like(k, k.shape)
    np.matmul(block, k4, out=_view4(dq))
    np.matmul(block.swapaxes(-1, -2), q4, out=_view4(dk))
    return dq, dk, dv


def _backward_dropout(g, q, k, v, out, lse, seed, mask, causal, scale, dropout_p):
    m, mode = _mask3(mask, q, k)
    q3, k3, v3, g3, o3 = _as3(q), _as3(k), _as3(v), _as3(g), _as3(out)
    block = np.matmul(q3, k3.transpose(0, 2, 1))
    _loops.probs_block(block, m, mode, bool(causal), float(scale),
                       _c(lse).reshape(q3.shape[:2]))
    dv = np.empty_like(v3)
    _loops.grad_scores(block, g3, v3, o3, seed[0], float(dropout_p), float(scale), dv)
    dq = np.matmul(block, k3)
    dk = np.matmul(block.transpose(0, 2, 1), q3)
    return dq.reshape(q.shape), dk.reshape(k.shape), dv.reshape(v.shape)
