"""Fused row normalisations: ``layer_norm`` and ``rms_norm``, one Function each.

Both normalise the trailing ``normalized_shape`` axes of x per leading index
(a "row" of D values).  The forward is one kernel (one pass over the row for
the statistics, one to write), the backward one kernel (one pass for the two
row sums, one to write ∂x while ∂γ/∂β accumulate).  Without a graph to record
backward calls the fused adjoint kernel; with ``create_graph=True`` it is
written with graphgrad ops from the saved inputs, so it is differentiable again.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap
from graphgrad.ops.elementwise import sqrt


def _n_axes(op, x, normalized_shape, params) -> tuple[int, tuple]:
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    shape = tuple(int(s) for s in normalized_shape)
    if not shape or x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"{op}: the input's last {len(shape)} dims must be normalized_shape "
                         f"{shape}, got input shape {tuple(x.shape)}")
    for name, p in params:
        if p is None:
            continue
        if tuple(p.shape) != shape:
            raise ValueError(f"{op}: {name} must have shape normalized_shape {shape}, "
                             f"got {tuple(p.shape)}")
        if p.dtype != x.dtype:
            raise TypeError(f"{op}: {name} ({p.dtype}) and the input ({x.dtype}) must have one "
                            "dtype; cast one with .astype(...)")
    return len(shape), shape


def _lead_axes(x, n_axes):
    return tuple(range(x.ndim - n_axes))


def _trail_axes(x, n_axes):
    return tuple(range(x.ndim - n_axes, x.ndim))


class LayerNormOp(Function):
    """y = (x − μ)·r·γ + β over the trailing n_axes, r = 1/√(σ² + eps) (σ² biased).

    Backward, with x̂ = (x − μ)·r and ĝ = ∂y·γ, per row of D values:
    ∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)),  ∂γ = Σ_rows ∂y·x̂,  ∂β = Σ_rows ∂y.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, n_axes, eps):
        y, mean, rstd = K.layer_norm(x, weight, bias, n_axes, eps)
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.n_axes, ctx.eps, ctx.has_bias = n_axes, eps, bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, mean, rstd = ctx.saved_tensors
        n = ctx.n_axes
        if not recording():
            dx, dw, db = K.layer_norm_backward(g.data, x.data, mean.data, rstd.data,
                                               None if weight is None else weight.data)
            return (wrap(dx), None if weight is None else wrap(dw),
                    wrap(db) if ctx.has_bias else None, None, None)
        axes, lead = _trail_axes(x, n), _lead_axes(x, n)  # differentiable form
        centred = x - x.mean(axis=axes, keepdims=True)
        r = 1 / sqrt((centred * centred).mean(axis=axes, keepdims=True) + ctx.eps)
        xhat = centred * r
        gw = g * weight if weight is not None else g
        dx = r * (gw - gw.mean(axis=axes, keepdims=True)
                  - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
        return (dx, None if weight is None else (g * xhat).sum(axis=lead),
                g.sum(axis=lead) if ctx.has_bias else None, None, None)


class RMSNormOp(Function):
    """y = x·r·γ over the trailing n_axes, r = 1/√(mean(x²) + eps).

    Backward, with x̂ = x·r and ĝ = ∂y·γ: ∂x = r·(ĝ − x̂·mean(ĝ·x̂)), ∂γ = Σ_rows ∂y·x̂.
    """

    @staticmethod
    def forward(ctx, x, weight, n_axes, eps):
        y, rstd = K.rms_norm(x, weight, n_axes, eps)
        ctx.save_for_backward(x, weight, rstd)
        ctx.n_axes, ctx.eps = n_axes, eps
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, rstd = ctx.saved_tensors
        n = ctx.n_axes
        if not recording():
            dx, dw = K.rms_norm_backward(g.data, x.data, rstd.data,
                                         None if weight is None else weight.data)
            return wrap(dx), None if weight is None else wrap(dw), None, None
        axes, lead = _trail_axes(x, n), _lead_axes(x, n)
        r = 1 / sqrt((x * x).mean(axis=axes, keepdims=True) + ctx.eps)
        xhat = x * r
        gw = g * weight if weight is not None else g
        dx = r * (gw - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
        return dx, None if weight is None else (g * xhat).sum(axis=lead), None, None


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the trailing ``normalized_shape`` axes (``F.layer_norm``).

    Per leading index: μ = mean(x), σ² = mean((x − μ)²) (biased),
    y = (x − μ)/√(σ² + eps)·γ + β, with γ = ``weight`` and β = ``bias`` of shape
    ``normalized_shape`` (None: no scale / no shift).  Forward and backward each
    one fused kernel; the statistics accumulate in float64.
    """
    x = as_tensor(x)
    weight = None if weight is None else as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    n_axes, _ = _n_axes("layer_norm", x, normalized_shape, (("weight", weight), ("bias", bias)))
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"layer_norm: eps must be a number >= 0, got {eps!r}")
    return LayerNormOp.apply(x, weight, bias, n_axes, float(eps))


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """Root-mean-square normalization over the trailing ``normalized_shape`` axes (``F.rms_norm``).

    y = x/√(mean(x²) + eps)·γ, γ = ``weight`` (None: no scale); ``eps=None`` is
    the machine epsilon of x's dtype, as PyTorch.  Forward and backward each one
    fused kernel; the statistic accumulates in float64.
    """
    x = as_tensor(x)
    weight = None if weight is None else as_tensor(weight)
    n_axes, _ = _n_axes("rms_norm", x, normalized_shape, (("weight", weight),))
    if eps is None:
        eps = float(np.finfo(x.dtype).eps) if x.dtype.kind == "f" else float(np.finfo(float).eps)
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"rms_norm: eps must be None or a number >= 0, got {eps!r}")
    return RMSNormOp.apply(x, weight, n_axes, float(eps))
