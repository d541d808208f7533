"""Sorting along an axis: sort, argsort, topk.

Values are gathered from the input with the sorting indices, so their gradient
is scatter-added back to where each value came from (the indices carry none).
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, dim_alias, normalize_dim, wrap
from graphgrad.ops.indexing import Gather
from graphgrad.ops.shape import reshape


def _axis(op, x, axis, dim):
    return normalize_dim(op, dim_alias(op, axis, dim, -1), x.ndim)


def sort(x, axis=-1, descending=False, dim=None) -> tuple[Tensor, Tensor]:
    """(values, indices) sorted along axis, stable (torch.sort; np.sort gives the values).

    ∂/∂x: each value's gradient goes back to the position it came from.
    """
    x = as_tensor(x)
    if x.ndim == 0:
        return x, wrap(np.array(0, dtype=np.int64))
    axis = _axis("sort", x, axis, dim)
    _, order = K.sort(x.data, axis, descending)
    return Gather.apply(x, axis, order), wrap(order)


def argsort(x, axis=-1, descending=False, dim=None) -> Tensor:
    """The indices that sort x along axis (stable), an integer tensor without gradient."""
    x = as_tensor(x)
    if x.ndim == 0:
        return wrap(np.array(0, dtype=np.int64))
    return wrap(K.sort(x.data, _axis("argsort", x, axis, dim), descending)[1])


def topk(x, k, axis=-1, largest=True, sorted=True, dim=None) -> tuple[Tensor, Tensor]:  # noqa: A002
    """(values, indices) of the k largest (or smallest) entries along axis, as torch.topk.

    The entries come in sorted order (``sorted`` is accepted for PyTorch's signature).
    """
    x = as_tensor(x)
    if x.ndim == 0:
        x = reshape(x, (1,))
    axis = _axis("topk", x, axis, dim)
    n = x.shape[axis]
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} must lie in [0, {n}] for axis {axis} of shape {x.shape}")
    _, order = K.sort(x.data, axis, largest)
    order = order[(slice(None),) * axis + (slice(0, k),)]
    return Gather.apply(x, axis, order), wrap(order)
