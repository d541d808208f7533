"""Indexing along an axis: gather / take_along_axis, scatter / scatter_add /
scatter_reduce / put_along_axis, index_select, masked_fill, masked_select,
nonzero (one-argument where) and one_hot.

gather and scatter_add are each other's gradient, so both are differentiable
to any order.  Index arrays carry no gradient.  Names and argument order
follow PyTorch (``gather(x, dim, index)``); the NumPy spellings
(``take_along_axis(x, indices, axis)``) are thin aliases.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, holds_tensor, normalize_dim, wrap
from graphgrad.ops.broadcast import broadcast_to
from graphgrad.ops.elementwise import where
from graphgrad.ops.shape import IndexBackward, getitem

_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def _index_array(op, x, index, axis, src_shape=None):
    """index as an integer ndarray that fits x (same rank, in range along axis)."""
    index = index.data if isinstance(index, Tensor) else np.asarray(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {index.dtype}")
    if index.ndim != x.ndim:
        raise ValueError(f"{op}: index of shape {index.shape} must have the rank of the "
                         f"input, shape {x.shape}")
    n = x.shape[axis] if x.ndim else 1
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"{op}: index values {index.min()}..{index.max()} are out of range "
                         f"for axis {axis} of size {n} (input shape {x.shape})")
    if src_shape is not None and any(i > s for i, s in zip(index.shape, src_shape)):
        raise ValueError(f"{op}: index of shape {index.shape} is larger than src of shape "
                         f"{src_shape}")
    return index.astype(np.intp, copy=False) % max(n, 1)


class Gather(Function):
    """out[i][j] = x[index[i][j]][j] (along axis 0; any axis likewise);
    ∂/∂x = scatter_add(zeros, axis, index, g)."""

    @staticmethod
    def forward(ctx, x, axis, index):
        ctx.axis, ctx.index = axis, index
        return K.gather(x, axis, index)

    @staticmethod
    def backward(ctx, g):
        zeros = wrap(np.zeros(ctx.in_shapes[0], dtype=g.dtype))
        return ScatterAdd.apply(zeros, ctx.axis, ctx.index, g), None, None


class ScatterAdd(Function):
    """x with src added at index along axis;  ∂/∂x = g, ∂/∂src = gather(g, axis, index)."""

    @staticmethod
    def forward(ctx, x, axis, index, src):
        ctx.axis, ctx.index = axis, index
        src = np.asarray(src)[tuple(slice(0, n) for n in index.shape)]
        return K.scatter(x, axis, index, src, "sum")

    @staticmethod
    def backward(ctx, g):
        n_x, _, _, n_src = ctx.needs_input_grad
        g_src = _pad_to(Gather.apply(g, ctx.axis, ctx.index), ctx.in_shapes[3]) if n_src else None
        return (g if n_x else None), None, None, g_src


class Scatter(Function):
    """x with src written at index along axis (for repeated indices one write wins);
    ∂/∂x = g with zeros where written, ∂/∂src = gather(g, axis, index)."""

    @staticmethod
    def forward(ctx, x, axis, index, src):
        ctx.axis, ctx.index = axis, index
        src = np.broadcast_to(src, index.shape) if np.ndim(src) == 0 else \
            np.asarray(src)[tuple(slice(0, n) for n in index.shape)]
        written = K.scatter(np.zeros(x.shape, dtype=bool), axis, index,
                            np.ones(index.shape, dtype=bool), None)
        ctx.kept = ~written
        return K.scatter(x, axis, index, src.astype(x.dtype, copy=False), None)

    @staticmethod
    def backward(ctx, g):
        n_x, _, _, n_src = ctx.needs_input_grad
        g_x = where(ctx.kept, g, 0.0) if n_x else None
        g_src = _pad_to(Gather.apply(g, ctx.axis, ctx.index), ctx.in_shapes[3]) if n_src else None
        return g_x, None, None, g_src


def _pad_to(t, shape):
    """The gradient of src: t (index's shape) zero-padded to src's shape (src may be
    larger than index), or summed when src was a number."""
    if not shape:
        return t.sum()
    if t.shape == tuple(shape):
        return t
    return IndexBackward.apply(t, tuple(slice(0, n) for n in t.shape), tuple(shape))


def gather(x, dim, index) -> Tensor:
    """out[..., i, ...] = x[..., index[..., i, ...], ...] along dim (torch.gather;
    NumPy: take_along_axis).  index has x's rank; its values index axis `dim`."""
    x = as_tensor(x)
    axis = normalize_dim("gather", dim, x.ndim)
    return Gather.apply(x, axis, _index_array("gather", x, index, axis))


def take_along_axis(x, indices, axis) -> Tensor:
    """NumPy's name for `gather` (argument order arr, indices, axis)."""
    return gather(x, axis, indices)


def _src(src, x):
    if isinstance(src, Tensor):
        return src
    if holds_tensor(src):  # a list of Tensors keeps its gradient (stacked)
        return as_tensor(src)
    return np.asarray(src, dtype=x.dtype)


def scatter(x, dim, index, src) -> Tensor:
    """A copy of x with src[i] written at index[i] along dim (torch.scatter); src may
    be a number.  With repeated indices the value written is one of them."""
    x = as_tensor(x)
    axis = normalize_dim("scatter", dim, x.ndim)
    return Scatter.apply(x, axis, _index_array("scatter", x, index, axis), _src(src, x))


def put_along_axis(x, indices, values, axis) -> Tensor:
    """NumPy's name for `scatter`, but functional: returns a new tensor."""
    return scatter(x, axis, indices, values)


def scatter_add(x, dim, index, src) -> Tensor:
    """A copy of x with src[i] added at index[i] along dim; repeated indices accumulate."""
    x = as_tensor(x)
    axis = normalize_dim("scatter_add", dim, x.ndim)
    src = _src(src, x)
    index = _index_array("scatter_add", x, index, axis, np.shape(src))
    return ScatterAdd.apply(x, axis, index, src)


def scatter_reduce(x, dim, index, src, reduce, include_self=True) -> Tensor:
    """x with src reduced into it at index along dim (torch.scatter_reduce).

    reduce: "sum", "prod", "mean", "amax" or "amin"; include_self=False leaves
    x's own values out of the reduction where something is scattered.
    Gradients: sum/mean as scatter_add; amax/amin go to every entry equal to
    the result, split evenly; prod's is g·out/value (zero values get none).
    """
    if reduce not in _REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce must be one of {_REDUCTIONS}, got {reduce!r}")
    x = as_tensor(x)
    axis = normalize_dim("scatter_reduce", dim, x.ndim)
    src = as_tensor(_src(src, x))
    index = _index_array("scatter_reduce", x, index, axis, src.shape)
    src = src[tuple(slice(0, n) for n in index.shape)] if src.shape != index.shape else src
    touched = K.scatter(np.zeros(x.shape, dtype=bool), axis, index,
                        np.ones(index.shape, dtype=bool), None)
    base = x if include_self else where(touched, 0.0, x)
    if reduce in ("sum", "mean"):
        out = scatter_add(base, axis, index, src)
        if reduce == "mean":
            count = K.scatter(np.full(x.shape, 1.0 if include_self else 0.0, dtype=x.dtype),
                              axis, index, np.ones(index.shape, dtype=x.dtype), "sum")
            out = out / np.maximum(count, 1)
        return out
    if reduce == "prod":
        base = x if include_self else where(touched, 1.0, x)
        values = K.scatter(base.data, axis, index, src.data, "prod")
        return _ProdScatter.apply(base, axis, index, src, values)
    # amax / amin: the result, then gradients to every entry that equals it
    fill = -np.inf if reduce == "amax" else np.inf
    base_data = x.data if include_self else np.where(touched, fill, x.data)
    values = K.scatter(base_data, axis, index, src.data, reduce)
    winner_x = base_data == values
    winner_src = src.data == K.gather(values, axis, index)
    count = winner_x + K.scatter(np.zeros(x.shape, dtype=x.dtype), axis, index,
                                 winner_src.astype(x.dtype), "sum")
    share = 1.0 / np.maximum(count, 1)
    picked_x = where(winner_x, x * share, 0.0)
    picked_src = where(winner_src, src * K.gather(share, axis, index), 0.0)
    # the weighted sum of the winners is the extremum itself (the weights add up to 1)
    return scatter_add(picked_x, axis, index, picked_src)


class _ProdScatter(Function):
    """The scatter_reduce(prod) result;  ∂/∂x = g·out/x, ∂/∂src = gather(g·out)/src."""

    @staticmethod
    def forward(ctx, base, axis, index, src, values):
        ctx.axis, ctx.index = axis, index
        ctx.save_for_backward(base, src, values)
        return values.copy()

    @staticmethod
    def backward(ctx, g):
        base, src, out = ctx.saved_tensors
        gy = g * out
        nb, _, _, ns, _ = ctx.needs_input_grad
        g_base = gy / base if nb else None
        g_src = Gather.apply(gy, ctx.axis, ctx.index) / src if ns else None
        return g_base, None, None, g_src, None


def index_select(x, dim, index) -> Tensor:
    """The entries at the 1-D integer `index` along dim (torch.index_select; np.take)."""
    x = as_tensor(x)
    axis = normalize_dim("index_select", dim, x.ndim)
    index = index.data if isinstance(index, Tensor) else np.asarray(index)
    if index.ndim != 1 or index.dtype.kind not in "iu":
        raise ValueError(f"index_select: index must be a 1-D integer array, got dtype "
                         f"{index.dtype} of shape {index.shape}")
    return getitem(x, (slice(None),) * axis + (index,))


def masked_fill(x, mask, value) -> Tensor:
    """x with `value` where the boolean mask (broadcast to x) is True."""
    x = as_tensor(x)
    mask = _bool_mask("masked_fill", mask, x.shape)
    return where(mask, value if isinstance(value, Tensor) else float(value), x)


def masked_select(x, mask) -> Tensor:
    """The 1-D tensor of x's entries where the boolean mask (broadcast) is True."""
    x = as_tensor(x)
    mask = _bool_mask("masked_select", mask, x.shape)
    shape = np.broadcast_shapes(x.shape, mask.shape)
    return getitem(broadcast_to(x, shape), np.broadcast_to(mask, shape))


def _bool_mask(op, mask, shape):
    mask = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"{op}: mask must be boolean, got dtype {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise ValueError(f"{op}: mask of shape {mask.shape} does not broadcast with the "
                         f"input of shape {shape}") from None
    return mask


def nonzero(x, as_tuple=False):
    """Indices of the nonzero entries: one (n, ndim) integer tensor (torch.nonzero's
    default), or with as_tuple=True a tuple of 1-D ones (np.nonzero, where(cond))."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if as_tuple:
        return tuple(wrap(i) for i in np.nonzero(np.atleast_1d(data)))
    return wrap(np.argwhere(data))


def one_hot(labels, num_classes=-1) -> Tensor:
    """int64 one-hot codes of integer labels, shape labels.shape + (num_classes,);
    num_classes=-1 takes max(labels) + 1 (torch.nn.functional.one_hot)."""
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes}); got values from "
                         f"{labels.min()} to {labels.max()}")
    return wrap((labels[..., None] == np.arange(num_classes)).astype(np.int64))
