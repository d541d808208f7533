"""Reductions over axes: sum, mean, max, min, var, std, logsumexp.

`axis` is None (all axes), an int or a tuple of ints; `keepdims` as in NumPy.
Backward re-inserts the reduced axes and broadcasts the gradient back.
"""

from __future__ import annotations

import builtins

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import is_grad_enabled
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap
from graphgrad.ops.elementwise import exp, where
from graphgrad.ops.shape import broadcast_to, reshape


def normalize_axis(op, axis, ndim):
    """axis as a sorted tuple of non-negative ints, with an error naming the op.

    A 0-d tensor accepts axis 0 and −1, as PyTorch's dim does: it has one
    value and nothing to reduce, so the axes are ``()``.
    """
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if all(a in (0, -1) for a in axes):
            return ()
        raise ValueError(f"{op}: axis {axis} is out of range for a 0-d tensor "
                         "(only 0, -1 or None)")
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis % ndim,)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand(g, ctx, scale=None):
    """Reshape g·scale to the input's rank (reduced axes as 1) and broadcast to its shape."""
    shape = ctx.in_shapes[0]
    if not recording():  # nobody differentiates this gradient: skip the graph ops
        # Through the kernel table and views only, so gg.compile can replay it.
        if len(ctx.axes) == len(shape):
            return wrap(K.fill_like_scalar(g.data, shape, scale))
        arr = g.data if scale is None else K.mul(g.data, scale)
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
    kernel = "max"

    @classmethod
    def _forward(cls, ctx, x, axis, keepdims):
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

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        return Max._forward(ctx, x, axis, keepdims)


class Min(_Extremum):
    """min over axes;  ∂/∂x = g at the minima (split evenly between ties)."""

    kernel = "min"

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        return Min._forward(ctx, x, axis, keepdims)


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


class Std(Function):
    """σ = √var over axes;  ∂/∂x = g·(x − x̄) / ((n − ddof)·σ), and 0 where σ = 0.

    σ = 0 (one value on the reduced axis, or all equal) makes the formula
    0/0; the gradient there is 0, as PyTorch's (the subgradient at the
    minimum of σ), not NaN.  Backward uses the saved output σ, so it is
    differentiable again (Hessian-vector products of std).
    """

    @staticmethod
    def forward(ctx, x, axis, ddof, keepdims):
        axes = normalize_axis("std", axis, np.ndim(x))
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        if n - ddof <= 0:
            raise ValueError(f"std: {n} values with ddof={ddof} leave no degrees of freedom")
        ctx.axes, ctx.denominator = axes, n - ddof
        y = K.sqrt(K.var(x, axes if axis is not None else None, ddof, True))
        y = y if keepdims else np.squeeze(y, axis=axes)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        kept = _kept_shape(ctx.in_shapes[0], ctx.axes)
        g, y = reshape(g, kept), reshape(y, kept)
        positive = y.data > 0
        # where(σ > 0, σ, 1) in the denominator: no 0/0 even in the unused branch,
        # whose own backward would otherwise turn a zero gradient into NaN.
        coef = where(positive, g / (where(positive, y, 1.0) * ctx.denominator), 0.0)
        centred = x - mean(x, axis=ctx.axes, keepdims=True)
        return coef * centred, None, None, None


class LogSumExp(Function):
    """ln Σ e^x over axes (max-shifted);  ∂/∂x = g · e^(x − y) = g · softmax(x)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = normalize_axis("logsumexp", axis, np.ndim(x))
        if any(x.shape[a] == 0 for a in axes):
            raise ValueError(
                f"logsumexp: the input (shape {x.shape}) has no values along axis "
                f"{axis}; reduce over a non-empty axis"
            )
        ctx.axes = axes
        y = K.logsumexp(x, axes if axis is not None else None, True)
        ctx.save_for_backward(x, y)
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, y_kept = ctx.saved_tensors
        if is_grad_enabled():  # create_graph: y must depend on x in the new graph
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


def std(x, axis=None, ddof=0, keepdims=False) -> Tensor:
    """Standard deviation over axis, √(Σ (x − x̄)² / (n − ddof)); its gradient is 0
    where it is 0 (as PyTorch)."""
    return Std.apply(as_tensor(x), axis, ddof, keepdims)


def logsumexp(x, axis=None, keepdims=False) -> Tensor:
    """ln Σ e^x over axis, computed stably (inputs of ±1000 are fine)."""
    return LogSumExp.apply(as_tensor(x), axis, keepdims)
