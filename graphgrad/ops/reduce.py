"""Reductions over axes: sum, mean, max, min, var, logsumexp.

`axis` is None (all axes), an int or a tuple of ints; `keepdims` as in NumPy.
Backward re-inserts the reduced axes and broadcasts the gradient back.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, normalize_axis, recording, wrap
from graphgrad.ops.broadcast import broadcast_to
from graphgrad.ops.elementwise import exp
from graphgrad.ops.shape import reshape


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand(g, ctx, scale=None):
    """Reshape g·scale to the input's rank (reduced axes as 1) and broadcast to its shape."""
    shape = ctx.in_shapes[0]
    if not recording():  # nobody differentiates this gradient: skip the graph ops
        arr = g.data if scale is None else g.data * scale
        if len(ctx.axes) == len(shape):
            return wrap(np.full(shape, arr.reshape(()), dtype=arr.dtype))
        return wrap(np.broadcast_to(arr.reshape(_kept_shape(shape, ctx.axes)), shape))
    if scale is not None:
        g = g * scale
    return broadcast_to(reshape(g, _kept_shape(shape, ctx.axes)), shape)


class Sum(Function):
    """Σ x over axes;  ∂/∂x = g broadcast back."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        ctx.axes = normalize_axis("sum", axis, np.ndim(x))
        return K.sum(x, ctx.axes if axis is not None else None, keepdims)

    @staticmethod
    def backward(ctx, g):
        return _expand(g, ctx), None, None


class Mean(Function):
    """Σ x / n over axes;  ∂/∂x = g / n broadcast back."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = normalize_axis("mean", axis, np.ndim(x))
        ctx.axes = axes
        if x.size == 0:
            raise ValueError(f"mean: the tensor is empty (shape {x.shape})")
        ctx.count = x.size if axis is None else int(np.prod([x.shape[a] for a in axes]))
        return K.mean(x, axes if axis is not None else None, keepdims)

    @staticmethod
    def backward(ctx, g):
        return _expand(g, ctx, 1.0 / ctx.count), None, None


class _Extremum(Function):
    """max or min over axes, picked by the subclass's `kernel`."""

    kernel = "max"

    @classmethod
    def forward(cls, ctx, x, axis, keepdims):
        axes = normalize_axis(cls.kernel, axis, np.ndim(x))
        if x.size == 0:
            raise ValueError(f"{cls.kernel}: the tensor is empty (shape {x.shape})")
        y = getattr(K, cls.kernel)(x, axes if axis is not None else None, True)
        ctx.axes = axes
        if ctx.needs_input_grad:
            hits = x == y
            ctx.weights = hits / np.sum(hits, axis=axes, keepdims=True).astype(x.dtype)
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        # Ties share the gradient evenly, as PyTorch's amax/amin do.
        return _expand(g, ctx) * ctx.weights.astype(g.dtype), None, None


class Max(_Extremum):
    """max over axes;  ∂/∂x = g at the maxima (split evenly between ties)."""

    kernel = "max"


class Min(_Extremum):
    """min over axes;  ∂/∂x = g at the minima (split evenly between ties)."""

    kernel = "min"


class Var(Function):
    """Σ (x − x̄)² / (n − ddof);  ∂/∂x = 2 (x − x̄) g / (n − ddof)."""

    @staticmethod
    def forward(ctx, x, axis, ddof, keepdims):
        axes = normalize_axis("var", axis, np.ndim(x))
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        if n - ddof <= 0:
            raise ValueError(f"var: {n} values with ddof={ddof} leave no degrees of freedom")
        ctx.axes, ctx.denominator = axes, n - ddof
        ctx.save_for_backward(x)
        return K.var(x, axes if axis is not None else None, ddof, keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        centred = x - mean(x, axis=ctx.axes, keepdims=True)
        return _expand(g, ctx) * centred * (2.0 / ctx.denominator), None, None, None


class LogSumExp(Function):
    """ln Σ e^x over axes (max-shifted);  ∂/∂x = g · e^(x − y) = g · softmax(x)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = normalize_axis("logsumexp", axis, np.ndim(x))
        ctx.axes = axes
        y = K.logsumexp(x, axes if axis is not None else None, True)
        ctx.save_for_backward(x, y)
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, y_kept = ctx.saved_tensors
        if recording():  # create_graph: y must depend on x in the new graph
            y_kept = LogSumExp.apply(x, ctx.axes, True)
        return _expand(g, ctx) * exp(x - y_kept), None, None


def sum(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Σ x over axis (None: all)."""
    return Sum.apply(as_tensor(x), axis, keepdims)


def mean(x, axis=None, keepdims=False) -> Tensor:
    """Mean of x over axis (None: all)."""
    return Mean.apply(as_tensor(x), axis, keepdims)


def max(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Max of x over axis; the gradient is split evenly between ties."""
    return Max.apply(as_tensor(x), axis, keepdims)


def min(x, axis=None, keepdims=False) -> Tensor:  # noqa: A001
    """Min of x over axis; the gradient is split evenly between ties."""
    return Min.apply(as_tensor(x), axis, keepdims)


def var(x, axis=None, ddof=0, keepdims=False) -> Tensor:
    """Variance over axis, Σ (x − x̄)² / (n − ddof) (NumPy's ddof=0 by default)."""
    return Var.apply(as_tensor(x), axis, ddof, keepdims)


def logsumexp(x, axis=None, keepdims=False) -> Tensor:
    """ln Σ e^x over axis, computed stably (inputs of ±1000 are fine)."""
    return LogSumExp.apply(as_tensor(x), axis, keepdims)
