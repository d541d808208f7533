"""Fused normalisations: ``layer_norm``, ``rms_norm`` and ``batch_norm``, one Function each.

Both normalise the trailing ``normalized_shape`` axes of x per leading index
(a "row" of D values).  The forward is one kernel (one pass over the row for
the statistics, one to write), the backward one kernel (one pass for the two
row sums, one to write ∂x while ∂γ/∂β accumulate).  Without a graph to record
backward calls the fused adjoint kernel; with ``create_graph=True`` it is
written with graphgrad ops from the saved inputs, so it is differentiable again.
``batch_norm`` normalises per channel (axis 1) over the batch and spatial
axes instead, the same way (one kernel each way).
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
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


class BatchNormOp(Function):
    """y = (x − μ)·r·γ + β per channel (axis 1), r = 1/√(σ² + eps), as ``F.batch_norm``.

    With batch statistics (training, or no running statistics) μ, σ² are the
    batch's over N and the spatial axes (σ² biased) and the running buffers, if
    given, move towards them in place (``K.running_stats_update``: momentum, or
    the cumulative average with ``momentum=None``; the running variance unbiased).
    Otherwise μ, σ² are the running statistics, constants of the graph.

    Backward, per channel over its M values, with x̂ = (x − μ)·r, ĝ = ∂y·γ:
    batch statistics ∂x = r·(ĝ − mean ĝ − x̂·mean(ĝ·x̂)), given ones ∂x = r·ĝ;
    ∂γ = Σ ∂y·x̂, ∂β = Σ ∂y.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, count, batch_stats, momentum,
                eps):
        if batch_stats:
            y, mean, var = K.batch_norm(x, weight, bias, None, None, eps)
            if running_mean is not None:
                K.running_stats_update(running_mean, running_var, count, mean, var, momentum,
                                       x.size // x.shape[1])
        else:
            y, mean, var = K.batch_norm(x, weight, bias, running_mean, running_var, eps)
        ctx.save_for_backward(x, weight, mean, var)
        ctx.eps, ctx.batch_stats, ctx.has_bias = eps, batch_stats, bias is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, mean, var = ctx.saved_tensors
        none = (None,) * 6
        if not recording():
            dx, dw, db = K.batch_norm_backward(g.data, x.data,
                                               None if weight is None else weight.data,
                                               mean.data, var.data, ctx.eps, ctx.batch_stats)
            return (wrap(dx), None if weight is None else wrap(dw),
                    wrap(db) if ctx.has_bias else None) + none
        axes = (0,) + tuple(range(2, x.ndim))  # the differentiable form (create_graph)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if ctx.batch_stats:
            centred = x - x.mean(axis=axes, keepdims=True)
            r = 1 / sqrt((centred * centred).mean(axis=axes, keepdims=True) + ctx.eps)
        else:  # the running statistics: constants
            centred = x - wrap(mean.data.astype(x.dtype).reshape(shape))
            r = wrap((1.0 / np.sqrt(var.data + ctx.eps)).astype(x.dtype).reshape(shape))
        xhat = centred * r
        gw = g * weight.reshape(shape) if weight is not None else g
        if ctx.batch_stats:
            dx = r * (gw - gw.mean(axis=axes, keepdims=True)
                      - xhat * (gw * xhat).mean(axis=axes, keepdims=True))
        else:
            dx = r * gw
        return (dx, None if weight is None else (g * xhat).sum(axis=axes),
                g.sum(axis=axes) if ctx.has_bias else None) + none


def _array(a):
    return a.data if isinstance(a, Tensor) else a


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5, num_batches_tracked=None):
    """Batch normalization per channel (axis 1) over the batch and spatial axes (``F.batch_norm``).

    x is (N, C) or (N, C, ...).  With ``training=True`` (or no running
    statistics) μ = mean x, σ² = mean (x − μ)² of the batch per channel, and the
    running statistics (arrays or Tensors of shape (C,), updated in place)
    move towards them: r ← (1 − m)·r + m·s with m = ``momentum``, the variance
    unbiased (σ²·M/(M − 1), M values per channel); ``momentum=None`` uses the
    cumulative average m = 1/count, counting in ``num_batches_tracked`` (a 0-d
    int64 array, incremented in place, as ``BatchNorm``'s buffer).  Otherwise
    μ, σ² are the running statistics.  y = (x − μ)/√(σ² + eps)·γ + β, γ =
    ``weight``, β = ``bias`` of shape (C,) (None: no scale / no shift).
    Forward and backward each one fused kernel; statistics in float64.
    """
    x = as_tensor(x)
    weight = None if weight is None else as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    if x.ndim < 2:
        raise ValueError(f"batch_norm: the input must be (N, C) or (N, C, ...), got shape "
                         f"{tuple(x.shape)}")
    c = x.shape[1]
    stats = [("running_mean", running_mean), ("running_var", running_var)]
    for name, p in (("weight", weight), ("bias", bias)) + tuple(stats):
        if p is None:
            continue
        if tuple(p.shape) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) (the input's channels, "
                             f"axis 1), got {tuple(p.shape)}")
    # mixed float dtypes promote, as the ops y = (x − μ)/√(σ² + eps)·γ + β would
    dtype = np.result_type(*(t.dtype for t in (x, weight, bias) if t is not None))
    if dtype.kind not in "fc":
        raise TypeError(f"batch_norm: the input (and weight, bias) must be floating point, got "
                        f"{dtype}; cast it first, e.g. x.astype('float32')")
    x, weight, bias = (t if t is None or t.dtype == dtype else t.astype(dtype)
                       for t in (x, weight, bias))
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"batch_norm: eps must be a number >= 0, got {eps!r}")
    batch_stats = bool(training) or running_mean is None
    count = _array(num_batches_tracked)
    if batch_stats:  # the running statistics are buffers updated in place, not graph inputs
        running_mean, running_var = _array(running_mean), _array(running_var)
        if x.data.size // max(c, 1) < 2:
            raise ValueError(f"batch_norm: training needs more than one value per channel to "
                             f"estimate a variance, got input of shape {tuple(x.shape)}; use a "
                             "larger batch or evaluate with the running statistics")
        if running_mean is not None:
            if momentum is None and count is None:
                raise ValueError("batch_norm: momentum=None (the cumulative average) needs "
                                 "num_batches_tracked to count the batches")
            if momentum is not None and not 0.0 <= momentum <= 1.0:
                raise ValueError(f"batch_norm: momentum must be in [0, 1] or None, got "
                                 f"{momentum!r}")
            for name, a in (("running_mean", running_mean), ("running_var", running_var)):
                if not (isinstance(a, np.ndarray) and a.flags.writeable):
                    raise TypeError(f"batch_norm: {name} is updated in place in training: "
                                    "give a writeable ndarray or Tensor")
            if count is None:
                count = np.zeros((), np.int64)
            elif not (isinstance(count, np.ndarray) and count.shape == () and count.dtype.kind
                      in "iu" and count.flags.writeable):
                raise TypeError(f"batch_norm: num_batches_tracked is counted in place: give a "
                                f"writeable 0-d integer ndarray or Tensor (as BatchNorm's "
                                f"buffer), got {type(count).__name__} {count!r}")
    return BatchNormOp.apply(x, weight, bias, running_mean, running_var, count, batch_stats,
                             None if momentum is None else float(momentum), float(eps))
