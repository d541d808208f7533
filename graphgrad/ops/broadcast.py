"""Broadcasting and its inverse: broadcast_to, sum_to_shape, and the one helper
that sums an op's input gradients back to the input shapes.

graphgrad undoes broadcasting in each backward (Chainer's ``sum_to``, HIPS
autograd's ``unbroadcast_f``) rather than recording an explicit expand node per
broadcast (tinygrad): one node fewer per binary op on the hot path.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, wrap


def broadcast_shapes(op: str, *shapes) -> tuple:
    """np.broadcast_shapes with an error that names the op and the shapes."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be "
            "broadcast together; make the trailing dimensions equal or 1 (reshape or "
            "add an axis with expand_dims)"
        ) from None


def unbroadcast(g: Tensor, shape) -> Tensor:
    """Sum a gradient back to the shape of the input that was broadcast."""
    if g.shape == tuple(shape):
        return g
    if not STATE.enabled:
        return wrap(K.sum_to_shape(g.data, tuple(shape)))
    return SumToShape.apply(g, tuple(shape))


def sum_to_inputs(ctx, *grads) -> tuple:
    """Each gradient summed back to its input's shape; None where no gradient is needed.

    A backward passes one expression per input, guarded by
    ``ctx.needs_input_grad`` where it is costly (``g * b if na else None``);
    this helper applies the guard and the unbroadcast, so a new op cannot
    forget either.
    """
    needs, shapes = ctx.needs_input_grad, ctx.in_shapes
    return tuple([unbroadcast(g, s) if n and g is not None else None
                  for g, s, n in zip(grads, shapes, needs)])


class BroadcastTo(Function):
    """Broadcast to a shape;  the gradient is summed back (sum_to_shape)."""

    @staticmethod
    def forward(ctx, x, shape):
        broadcast_shapes("broadcast_to", np.shape(x), shape)
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to_shape(g, ctx.in_shapes[0]), None


class SumToShape(Function):
    """Sum over the broadcast axes down to `shape`;  the gradient is broadcast back."""

    @staticmethod
    def forward(ctx, x, shape):
        return K.sum_to_shape(x, tuple(shape))

    @staticmethod
    def backward(ctx, g):
        return broadcast_to(g, ctx.in_shapes[0]), None


def broadcast_to(x, shape) -> Tensor:
    """Broadcast x to shape (NumPy rules); backward sums back."""
    x = as_tensor(x)
    if x.shape == tuple(shape):
        return x
    return BroadcastTo.apply(x, tuple(shape))


def sum_to_shape(x, shape) -> Tensor:
    """Sum x over broadcast axes down to shape (the inverse of broadcast_to)."""
    x = as_tensor(x)
    if x.shape == tuple(shape):
        return x
    return SumToShape.apply(x, tuple(shape))
