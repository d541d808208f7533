"""Reductions over axes: sum, mean, max, min, var, std, logsumexp, prod, norm,
any, all, argmax, argmin.

`axis` is None (all axes), an int or a tuple of ints; `keepdims` as in NumPy.
Backward re-inserts the reduced axes and broadcasts the gradient back.
"""

from __future__ import annotations

import warnings

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import (
    as_tensor,
    dim_alias,
    keepdim_alias,
    normalize_axis,
    recording,
    wrap,
)
from graphgrad.ops.broadcast import broadcast_to
from graphgrad.ops.elementwise import abs, exp, sqrt, where
from graphgrad.ops.scan import cumprod
from graphgrad.ops.shape import concatenate, reshape


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
    """Σ x / n over axes;  ∂/∂x = g / n broadcast back (nan for an empty slice, as PyTorch)."""

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = normalize_axis("mean", axis, np.ndim(x))
        ctx.axes = axes
        ctx.count = x.size if axis is None else int(np.prod([x.shape[a] for a in axes]))
        if ctx.count == 0:
            return np.full(_reduced_shape(x.shape, axes, keepdims), np.nan, dtype=x.dtype)
        return K.mean(x, axes if axis is not None else None, keepdims)

    @staticmethod
    def backward(ctx, g):
        return _expand(g, ctx, 1.0 / ctx.count if ctx.count else np.nan), None, None


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return _kept_shape(shape, axes)
    return tuple(n for i, n in enumerate(shape) if i not in axes)


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
            hits = K.cast(K.equal(x, y), x.dtype)
            ctx.weights = K.div(hits, K.sum(hits, axes, True))
        return y if keepdims else np.squeeze(y, axis=axes)

    @staticmethod
    def backward(ctx, g):
        # Ties share the gradient evenly, as PyTorch's amax/amin do.
        w = ctx.weights if ctx.weights.dtype == g.dtype else K.cast(ctx.weights, g.dtype)
        return _expand(g, ctx) * w, None, None


class Max(_Extremum):
    """max over axes;  ∂/∂x = g at the maxima (split evenly between ties)."""

    kernel = "max"


class Min(_Extremum):
    """min over axes;  ∂/∂x = g at the minima (split evenly between ties)."""

    kernel = "min"


def _no_freedom(x, axes, axis, keepdims):
    """Σ (x − x̄)² / max(n − ddof, 0) with no degrees of freedom left: the sum over 0,
    inf where it is positive and nan where it is 0 (NumPy 2's and PyTorch's value)."""
    squares = K.var(x, axes if axis is not None else None, 0, keepdims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(squares / np.zeros((), dtype=squares.dtype), dtype=x.dtype)


class Var(Function):
    """Σ (x − x̄)² / (n − ddof);  ∂/∂x = 2 (x − x̄) g / (n − ddof)."""

    @staticmethod
    def forward(ctx, x, axis, ddof, keepdims):
        axes = normalize_axis("var", axis, np.ndim(x))
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        ctx.axes, ctx.denominator = axes, n - ddof
        ctx.save_for_backward(x)
        if n - ddof <= 0:
            warnings.warn(f"var: {n} values with ddof={ddof} leave no degrees of freedom; "
                          "the result is inf (nan where the values are all equal), as "
                          "NumPy's and PyTorch's", UserWarning, stacklevel=4)
            return _no_freedom(x, axes, axis, keepdims)
        return K.var(x, axes if axis is not None else None, ddof, keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        centred = x - mean(x, axis=ctx.axes, keepdims=True)
        scale = 2.0 / ctx.denominator if ctx.denominator > 0 else np.nan
        return _expand(g, ctx) * centred * scale, None, None, None


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
        ctx.axes, ctx.denominator = axes, n - ddof
        if n - ddof <= 0:
            warnings.warn(f"std: {n} values with ddof={ddof} leave no degrees of freedom; "
                          "the result is inf (nan where the values are all equal), as "
                          "NumPy's and PyTorch's", UserWarning, stacklevel=4)
            ctx.save_for_backward(x)
            return K.sqrt(_no_freedom(x, axes, axis, keepdims))
        y = K.sqrt(K.var(x, axes if axis is not None else None, ddof, True))
        y = y if keepdims else np.squeeze(y, axis=axes)
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.denominator <= 0:  # no degrees of freedom: nan, like the value (as Var)
            (x,) = ctx.saved_tensors
            return _expand(g, ctx) * x * np.nan, None, None, None
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
        if 0 in [x.shape[a] for a in axes]:  # (`any` here is the op)
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
        if recording():  # create_graph: y must depend on x in the new graph
            y_kept = LogSumExp.apply(x, ctx.axes, True)
        return _expand(g, ctx) * exp(x - y_kept), None, None


class Prod(Function):
    """Π x over axes;  ∂/∂x_j = g · Π_{k ≠ j} x_k, exact with zeros (to any order).

    Without a zero that is g·y/x_j.  With zeros it is the product of an
    exclusive cumprod from the left and one from the right (no division).
    """

    @staticmethod
    def forward(ctx, x, axis, keepdims):
        axes = normalize_axis("prod", axis, np.ndim(x))
        ctx.axes = axes
        ctx.save_for_backward(x)
        return K.prod(x, axes if axis is not None else None, keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        ge = _expand(g, ctx)
        if np.all(x.data != 0):
            return ge * prod(x, ctx.axes, keepdims=True) / x, None, None
        rest = tuple(i for i in range(x.ndim) if i not in ctx.axes)
        order = rest + ctx.axes
        xt = x.transpose(order)
        lead = xt.shape[:len(rest)]
        flat = reshape(xt, lead + (-1,))                     # (..., n)
        ones = wrap(np.ones(lead + (1,), dtype=x.dtype))
        left = cumprod(concatenate([ones, flat[..., :-1]], axis=-1), -1)
        right = cumprod(concatenate([ones, flat[..., :0:-1]], axis=-1), -1)[..., ::-1]
        others = reshape(left * right, xt.shape).transpose(tuple(np.argsort(order)))
        return ge * others, None, None


def sum(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Σ x over axis (None: all)."""
    return Sum.apply(as_tensor(x), dim_alias("sum", axis, dim),
                     keepdim_alias("sum", keepdims, keepdim))


def mean(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """Mean of x over axis (None: all)."""
    return Mean.apply(as_tensor(x), dim_alias("mean", axis, dim),
                      keepdim_alias("mean", keepdims, keepdim))


def max(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Max of x over axis; the gradient is split evenly between ties."""
    return Max.apply(as_tensor(x), dim_alias("max", axis, dim),
                     keepdim_alias("max", keepdims, keepdim))


def min(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Min of x over axis; the gradient is split evenly between ties."""
    return Min.apply(as_tensor(x), dim_alias("min", axis, dim),
                     keepdim_alias("min", keepdims, keepdim))


def var(x, axis=None, ddof=0, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """Variance over axis, Σ (x − x̄)² / (n − ddof) (NumPy's ddof=0 by default)."""
    return Var.apply(as_tensor(x), dim_alias("var", axis, dim), ddof,
                     keepdim_alias("var", keepdims, keepdim))


def std(x, axis=None, ddof=0, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """Standard deviation over axis, √(Σ (x − x̄)² / (n − ddof)); its gradient is 0
    where it is 0 (as PyTorch)."""
    return Std.apply(as_tensor(x), dim_alias("std", axis, dim), ddof,
                     keepdim_alias("std", keepdims, keepdim))


def logsumexp(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """ln Σ e^x over axis, computed stably (inputs of ±1000 are fine)."""
    return LogSumExp.apply(as_tensor(x), dim_alias("logsumexp", axis, dim),
                           keepdim_alias("logsumexp", keepdims, keepdim))


def amax(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """torch.amax: the max over axis (``max`` by PyTorch's name for it)."""
    return Max.apply(as_tensor(x), dim_alias("amax", axis, dim),
                     keepdim_alias("amax", keepdims, keepdim))


def amin(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """torch.amin: the min over axis (``min`` by PyTorch's name for it)."""
    return Min.apply(as_tensor(x), dim_alias("amin", axis, dim),
                     keepdim_alias("amin", keepdims, keepdim))


def prod(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """Π x over axis (None: all); zeros get their exact gradient."""
    return Prod.apply(as_tensor(x), dim_alias("prod", axis, dim),
                      keepdim_alias("prod", keepdims, keepdim))


def norm(x, ord=None, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:  # noqa: A002
    """The vector p-norm (Σ|x|^p)^(1/p) over axis (None: all entries, flattened).

    ord: None or 2 (Euclidean), 1, any p > 0, inf (max |x|), -inf (min |x|), or
    "fro" (the Frobenius norm, the 2-norm of the entries).  Like torch's
    vector_norm: matrix operator norms (ord=2 over two axes) are not provided.
    """
    x = as_tensor(x)
    axis = dim_alias("norm", axis, dim)
    keepdims = keepdim_alias("norm", keepdims, keepdim)
    if ord in (None, 2, "fro"):
        return sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    if ord == 1:
        return abs(x).sum(axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return abs(x).max(axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return abs(x).min(axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and ord > 0:
        return (abs(x) ** float(ord)).sum(axis=axis, keepdims=keepdims) ** (1.0 / ord)
    raise ValueError(f"norm: ord must be None, 'fro', inf, -inf or a number > 0, got {ord!r}")


def _data(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def any(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Whether any entry is nonzero over axis: a boolean tensor, no gradient."""
    axis = dim_alias("any", axis, dim)
    keepdims = keepdim_alias("any", keepdims, keepdim)
    return wrap(np.asarray(np.any(_data(x), axis=axis, keepdims=keepdims)))


def all(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:  # noqa: A001
    """Whether every entry is nonzero over axis: a boolean tensor, no gradient."""
    axis = dim_alias("all", axis, dim)
    keepdims = keepdim_alias("all", keepdims, keepdim)
    return wrap(np.asarray(np.all(_data(x), axis=axis, keepdims=keepdims)))


def argmax(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """Index of the (first) max over axis (None: of the flattened tensor); no gradient."""
    data = _data(x)
    axis = dim_alias("argmax", axis, dim)
    keepdims = keepdim_alias("argmax", keepdims, keepdim)
    if data.size == 0:
        raise ValueError(f"argmax: the tensor is empty (shape {data.shape})")
    return wrap(np.asarray(np.argmax(data, axis=axis, keepdims=keepdims)))


def argmin(x, axis=None, keepdims=False, dim=None, keepdim=None) -> Tensor:
    """Index of the (first) min over axis (None: of the flattened tensor); no gradient."""
    data = _data(x)
    axis = dim_alias("argmin", axis, dim)
    keepdims = keepdim_alias("argmin", keepdims, keepdim)
    if data.size == 0:
        raise ValueError(f"argmin: the tensor is empty (shape {data.shape})")
    return wrap(np.asarray(np.argmin(data, axis=axis, keepdims=keepdims)))
