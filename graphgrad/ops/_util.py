"""Helpers shared by the op modules."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor


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
    from .shape import sum_to_shape

    return sum_to_shape(g, shape)
