"""Shape ops: reshape, transpose, concatenate, stack, getitem and dtype casts
(broadcast_to / sum_to_shape: broadcast.py).  They move data around; their backward moves
the gradient back."""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import is_grad_enabled
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, wrap


def _reshape_view(x, shape):
    """x reshaped as a view of its memory, or None where that needs a copy (or `shape` is bad)."""
    if x.flags.c_contiguous:
        return np.reshape(x, shape)
    try:
        return np.reshape(x, shape, copy=False)
    except ValueError:
        return None
    except TypeError:  # NumPy < 2.1 has no copy=: a result that shares no memory was copied
        y = np.reshape(x, shape)
        return y if np.may_share_memory(x, y) or y.size == 0 else None


class Reshape(Function):
    """Same data, new shape;  the gradient is reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        try:
            view = _reshape_view(x, shape)
            # A strided view that cannot be reshaped in place is copied by a kernel, not by
            # NumPy behind the table's back, so a compiled replay recomputes the copy.
            return view if view is not None else np.reshape(K.contiguous(x), shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape an array of shape {np.shape(x)} "
                f"({np.size(x)} elements) into shape {tuple(shape)}"
            ) from None

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shapes[0]), None


class Transpose(Function):
    """Permute axes;  the gradient is permuted by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes):
        ndim = np.ndim(x)
        axes = tuple(range(ndim))[::-1] if axes is None else tuple(axes)
        if sorted(a % ndim if -ndim <= a < ndim else a for a in axes) != list(range(ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {ndim} "
                             f"axes of a tensor of shape {np.shape(x)}")
        ctx.axes = tuple(a % ndim for a in axes)  # non-negative, so argsort inverts them
        return np.transpose(x, ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return transpose(g, tuple(np.argsort(ctx.axes))), None


class Concatenate(Function):
    """Join along an axis;  each input gets its slice of the gradient."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        try:
            out = K.concatenate(*arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(np.shape(a)) for a in arrays)
            raise ValueError(
                f"concatenate: shapes {shapes} do not match outside axis {axis}"
            ) from None
        ctx.axis = axis % out.ndim
        return out

    @staticmethod
    def backward(ctx, g):
        grads, start = [], 0
        for shape, needed in zip(ctx.in_shapes, ctx.needs_input_grad):
            stop = start + shape[ctx.axis]
            if needed:
                index = (slice(None),) * ctx.axis + (slice(start, stop),)
                grads.append(g[index])
            else:
                grads.append(None)
            start = stop
        return tuple(grads)


class Stack(Function):
    """Join along a new axis;  input i gets the gradient's slice i."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        shapes = {np.shape(a) for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"stack: all inputs need one shape, got {sorted(shapes)}")
        out = K.stack(*arrays, axis=axis)
        ctx.axis = axis % out.ndim
        return out

    @staticmethod
    def backward(ctx, g):
        prefix = (slice(None),) * ctx.axis
        return tuple(g[prefix + (i,)] if needed else None
                     for i, needed in enumerate(ctx.needs_input_grad))


def _is_basic(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer))
               for p in parts)


class GetItem(Function):
    """x[index];  the gradient is scatter-added back (repeated indices accumulate)."""

    @staticmethod
    def forward(ctx, x, index):
        try:
            out = K.getitem(x, index)
        except IndexError as exc:
            raise IndexError(f"getitem: {exc} (tensor shape {np.shape(x)})") from None
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx, g):
        return IndexBackward.apply(g, ctx.index, ctx.in_shapes[0]), None


class IndexBackward(Function):
    """zeros(shape) with g added at index;  its own gradient is gg[index]."""

    @staticmethod
    def forward(ctx, g, index, shape):
        ctx.index = index
        if _is_basic(index):
            return K.index_put(shape, index, g)
        return K.index_add(shape, index, g)

    @staticmethod
    def backward(ctx, gg):
        return getitem(gg, ctx.index), None, None


class AsType(Function):
    """Cast to a dtype;  the gradient is cast back to the input's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return K.cast(x, dtype)

    @staticmethod
    def backward(ctx, g):
        return astype(g, ctx.in_dtype), None


def reshape(x, shape) -> Tensor:
    """Same data, new shape (one -1 allowed)."""
    if isinstance(shape, (int, np.integer)):
        shape = (int(shape),)
    return Reshape.apply(as_tensor(x), tuple(shape))


def transpose(x, axes=None) -> Tensor:
    """Permute axes (reverse them when axes is None)."""
    return Transpose.apply(as_tensor(x), axes)


def swapaxes(x, a, b) -> Tensor:
    """Exchange axes a and b."""
    x = as_tensor(x)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose.apply(x, tuple(axes))


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis."""
    return Concatenate.apply(*[as_tensor(t) for t in tensors], axis=axis)


def stack(tensors, axis=0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    return Stack.apply(*[as_tensor(t) for t in tensors], axis=axis)


def _plain_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    return index


def getitem(x, index) -> Tensor:
    """x[index] with NumPy indexing: slices, ints, integer arrays (repeats ok), masks."""
    return GetItem.apply(as_tensor(x), _plain_index(index))


def astype(x, dtype) -> Tensor:
    """Cast x to dtype; differentiable between floating dtypes."""
    x = as_tensor(x)
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        return wrap(K.cast(x.data, dtype))
    if dtype.kind == "c" and x.requires_grad and is_grad_enabled():
        raise TypeError(
            f"astype: cannot cast a tensor that requires grad to {dtype}: complex "
            "tensors cannot be differentiated; detach() it first"
        )
    return AsType.apply(x, dtype)
