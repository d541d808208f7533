"""Helpers shared by the op modules."""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K


def recording() -> bool:
    """Whether ops record a graph right now.

    Inside backward this is False unless ``create_graph=True``; backward
    functions then take a fast path that calls kernels directly, because
    nobody will differentiate the gradient again.
    """
    return STATE.enabled


def wrap(array) -> Tensor:
    """A graph-less Tensor around a kernel's result (for backward fast paths)."""
    return Tensor._wrap(array)


def as_tensor(x) -> Tensor:
    """Tensors pass through; anything else becomes a constant Tensor."""
    if isinstance(x, Tensor):
        return x
    t = Tensor._wrap(np.asarray(x))
    t._constant = True
    return t


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
    """Sum a gradient back to the shape of the input that was broadcast (the one helper)."""
    if g.shape == tuple(shape):
        return g
    if not STATE.enabled:
        return Tensor._wrap(K.sum_to_shape(g.data, tuple(shape)))
    from graphgrad.ops.shape import sum_to_shape

    return sum_to_shape(g, shape)
