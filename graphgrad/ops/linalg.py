"""Matrix products, on NumPy's BLAS (a Numba loop cannot beat it)."""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap
from graphgrad.ops.broadcast import unbroadcast
from graphgrad.ops.shape import reshape, swapaxes


class MatMul(Function):
    """a @ b for 1-D, 2-D and batched (broadcast) operands, as np.matmul.

    For 2-D: ∂/∂a = g @ bᵀ, ∂/∂b = aᵀ @ g; 1-D operands are promoted to a row
    (a) or a column (b) and the promotion is undone; batch axes are summed back.
    An N-D a against a 2-D b (a Linear layer on (B, L, E)) runs as 2-D products
    over the flattened rows: forward A2·b, ∂a = G2·bᵀ, ∂b = A2ᵀ·G2 (``matmul_t_flat``)
    with A2 = a.reshape(-1, K), G2 = g.reshape(-1, N).
    """

    @staticmethod
    def forward(ctx, a, b):
        sa, sb = np.shape(a), np.shape(b)
        if not sa or not sb:
            raise ValueError(f"matmul: operands must be at least 1-D, got shapes {sa} and {sb}")
        ka, kb = sa[-1], (sb[0] if len(sb) == 1 else sb[-2])
        if ka != kb:
            raise ValueError(
                f"matmul: shapes {sa} and {sb} are not aligned: {ka} (last axis of the "
                f"first) != {kb} ({'axis 0' if len(sb) == 1 else 'second-to-last axis'} "
                "of the second)"
            )
        try:
            if len(sa) > 2 and len(sb) == 2 and a.flags.c_contiguous and a.size and b.size:
                # (…, K)·(K, N): one GEMM over the flattened rows (NumPy would loop over
                # the batch calling one small GEMM per matrix, slower still for a strided b)
                out = K.matmul(a.reshape(-1, ka), b).reshape(sa[:-1] + sb[-1:])
            else:
                out = K.matmul(a, b)
        except ValueError:
            raise ValueError(
                f"matmul: batch dimensions of shapes {sa} and {sb} cannot be broadcast"
            ) from None
        ctx.save_for_backward(a, b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2 and not recording():
            ga = wrap(K.matmul(g.data, b.data.T)) if na else None
            gb = wrap(K.matmul(a.data.T, g.data)) if nb else None
            return ga, gb
        if a.ndim > 2 and b.ndim == 2 and a.data.size and b.data.size and not recording():
            # x (…, K) @ W (K, N): ∂x = g·Wᵀ and ∂W = Σ_rows xᵀ·g, each one flattened GEMM
            gd = g.data if g.data.flags.c_contiguous else K.contiguous(g.data)
            ga = wrap(K.matmul(gd.reshape(-1, gd.shape[-1]), b.data.T).reshape(
                a.shape[:-1] + b.shape[:1])) if na else None
            gb = wrap(K.matmul_t_flat(a.data, gd)) if nb else None
            return ga, gb
        a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
        b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
        g_shape = list(g.shape)
        if a.ndim == 1:
            g_shape.insert(len(g_shape) - (0 if b.ndim == 1 else 1), 1)
        if b.ndim == 1:
            g_shape.append(1)
        g2 = reshape(g, tuple(g_shape))
        ga = gb = None
        if na:
            ga = unbroadcast(g2 @ swapaxes(b2, -1, -2), a2.shape)
            ga = reshape(ga, a.shape) if a.ndim == 1 else ga
        if nb:
            gb = unbroadcast(swapaxes(a2, -1, -2) @ g2, b2.shape)
            gb = reshape(gb, b.shape) if b.ndim == 1 else gb
        return ga, gb


def matmul(a, b) -> Tensor:
    """a @ b (NumPy semantics: vectors, matrices, broadcast batches)."""
    return MatMul.apply(as_tensor(a), as_tensor(b))
