"""Scaled dot-product attention as one fused op (``torch.nn.functional`` semantics).

One Function: the forward is one kernel (the products on BLAS; scale, mask,
a numerically stable softmax in one sweep per row, in Numba) that keeps only
the row log-sum-exp; the backward is one kernel that recomputes the
probabilities from it (FlashAttention's recomputation).  Memory saved beyond
the inputs and the output: the log-sum-exp (..., L) in float64 and a 64-bit
dropout seed; while running, the forward holds one (L, S) block per head
(scores, then probabilities, in place) and the backward at most two (P, then
dS in place, and dP = g·vᵀ from BLAS; with dropout one, its loop forming g·vᵀ
row by row).  q, k and v may be strided views (the heads of a projection):
the kernels read them in place and return the output and the gradients in
their inputs' memory layout.  Dropout is counter-based (a
hash of seed and position), so the backward regenerates the mask instead of
storing it.  With ``create_graph=True`` the backward is written with
graphgrad ops instead, so it is differentiable again.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap
from graphgrad.ops.broadcast import broadcast_shapes, broadcast_to
from graphgrad.ops.linalg import matmul
from graphgrad.ops.nn import softmax
from graphgrad.ops.reduce import sum as _sum
from graphgrad.ops.shape import swapaxes

#: The global generator's cell; graphgrad.random (a layer above the ops) puts its own here.
GENERATOR = [None]


class ScaledDotProductAttention(Function):
    """out = (softmax(s) ⊙ Z)·v with s = scale·q·kᵀ + M, for q (…, L, E), k (…, S, E), v (…, S, Ev).

    M is 0 / −inf (bool mask: True takes part; causal: j ≤ i) or a float mask,
    Z the dropout factors (all 1 at p = 0).  Backward, with P the softmax and
    D_i = g_i·out_i:  ∂v = (P ⊙ Z)ᵀ·g,  dS = P ⊙ (Z ⊙ g·vᵀ − D),
    ∂q = scale·dS·k,  ∂k = scale·dSᵀ·q.  A row whose scores are all −inf gives
    out 0 and passes no gradient (PyTorch 2.13).
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, scale, dropout_p, rng):
        out, lse, seed = K.attention(q, k, v, mask, causal, scale, dropout_p, rng)
        ctx.save_for_backward(q, k, v, out)
        ctx.lse, ctx.seed, ctx.mask = lse, seed, mask
        ctx.spec = (causal, scale, dropout_p)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, out = ctx.saved_tensors
        causal, scale, dropout_p = ctx.spec
        if not recording():
            dq, dk, dv = K.attention_backward(g.data, q.data, k.data, v.data, out.data,
                                              ctx.lse, ctx.seed, ctx.mask, causal, scale,
                                              dropout_p)
            return wrap(dq), wrap(dk), wrap(dv), None, None, None, None, None
        # differentiable form (create_graph=True): the same formulas with graphgrad ops
        s = matmul(q, swapaxes(k, -1, -2)) * scale
        add = np.zeros(s.shape[-2:])
        if causal:
            add = np.where(np.tril(np.ones(s.shape[-2:], bool)), 0.0, -np.inf)
        if ctx.mask is not None:
            add = (np.where(ctx.mask, add, -np.inf) if ctx.mask.dtype == np.bool_
                   else add + ctx.mask)
        add = np.broadcast_to(add, s.shape)
        alive = ~np.isneginf(add).all(axis=-1, keepdims=True)
        s = s + np.where(alive, add, 0.0).astype(s.dtype)
        p = softmax(s, axis=-1) * alive.astype(s.dtype)
        z = K.attention_keep(ctx.seed, s.shape, dropout_p).astype(s.dtype)
        d = _sum(g * out, axis=-1, keepdims=True)
        ds = p * (matmul(g, swapaxes(v, -1, -2)) * z - d) * scale
        dv = matmul(swapaxes(p * z, -1, -2), g)
        return matmul(ds, k), matmul(swapaxes(ds, -1, -2), q), dv, None, None, None, None, None


def _rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    return GENERATOR[0] if rng is None else np.random.default_rng(rng)


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None,
                                 dropout_p=0.0, rng=None) -> Tensor:
    """Attention as ``torch.nn.functional.scaled_dot_product_attention``, one fused op.

        out = (softmax(q·kᵀ·s + M) ⊙ Z)·v,   s = ``scale`` or 1/√E

    q is (…, L, E), k (…, S, E), v (…, S, Ev); the batch axes broadcast.
    ``attn_mask`` broadcastable to (…, L, S): bool **True = takes part**
    (False blocked), or float, added to the scores.  ``is_causal=True`` is the
    top-left lower triangle ``tril(ones(L, S))``; it cannot be combined with a
    mask.  A row with every position blocked gives 0 and no gradient, as
    PyTorch 2.13 does (its CPU kernels and its math path both give 0 there).
    ``dropout_p`` drops attention weights (the kept ones scaled by 1/(1 − p))
    whenever it is > 0, as PyTorch's function does (pass 0 in eval); the
    numbers come from ``rng`` (a Generator or a seed; None: graphgrad's global
    generator, so ``gg.manual_seed`` makes them reproducible).
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: expected q (..., L, E), k (..., S, E), "
                         f"v (..., S, Ev), got q {tuple(q.shape)}, k {tuple(k.shape)}, "
                         f"v {tuple(v.shape)}")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: q, k and v must share one floating "
                        f"dtype, got {q.dtype}, {k.dtype}, {v.dtype}; cast with .astype(...)")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), "
                         f"got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass attn_mask or is_causal=True, not "
                         "both (fold the causal triangle into your mask)")
    batch = broadcast_shapes("scaled_dot_product_attention", q.shape[:-2], k.shape[:-2],
                             v.shape[:-2])
    q, k, v = (t if t.shape[:-2] == batch else broadcast_to(t, batch + t.shape[-2:])
               for t in (q, k, v))
    L, S = q.shape[-2], k.shape[-2]
    mask = attn_mask
    if mask is not None:
        m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if m.dtype != np.bool_ and m.dtype.kind != "f":
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or floating "
                            f"point, got dtype {m.dtype}")
        try:
            np.broadcast_shapes(m.shape, batch + (L, S))
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {m.shape} does "
                             f"not broadcast to the scores' shape {batch + (L, S)}") from None
        if not isinstance(mask, Tensor):
            mask = m
    s = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    gen = _rng(rng) if dropout_p > 0 else None
    return ScaledDotProductAttention.apply(q, k, v, mask, bool(is_causal), s, float(dropout_p),
                                           gen)
