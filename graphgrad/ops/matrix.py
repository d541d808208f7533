"""Matrix helpers: diagonal, diag, trace, tril, triu, eye and the cross product.

All are compositions of differentiable ops (indexing, where, einsum, stack), so
their gradients, to any order, come from those ops.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.ops._util import as_tensor, normalize_dim, wrap
from graphgrad.ops.elementwise import where
from graphgrad.ops.shape import IndexBackward, getitem, stack, transpose


def diagonal(x, offset=0, axis1=0, axis2=1) -> Tensor:
    """The diagonal x[..., i, i + offset] of the axis1 × axis2 planes, as a last axis
    (np.diagonal / torch.diagonal, whose dim1/dim2 are axis1/axis2)."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"diagonal: needs a tensor of at least 2 dims, got shape {x.shape}")
    a1, a2 = normalize_dim("diagonal", axis1, x.ndim), normalize_dim("diagonal", axis2, x.ndim)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 must differ, got {axis1} and {axis2}")
    rest = [i for i in range(x.ndim) if i not in (a1, a2)]
    moved = transpose(x, tuple(rest) + (a1, a2))
    n1, n2 = x.shape[a1], x.shape[a2]
    rows = np.arange(max(0, -offset), min(n1, n2 - offset)) if -n1 < offset < n2 else \
        np.arange(0)
    index = (Ellipsis, rows, rows + offset)
    return getitem(moved, index)


def diag(x, offset=0) -> Tensor:
    """A 1-D x becomes the square matrix with x on diagonal `offset`; a 2-D x gives its
    diagonal (np.diag / torch.diag)."""
    x = as_tensor(x)
    if x.ndim == 2:
        return diagonal(x, offset)
    if x.ndim != 1:
        raise ValueError(f"diag: needs a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0] + abs(offset)
    rows = np.arange(x.shape[0]) + max(0, -offset)
    return IndexBackward.apply(x, (rows, rows + offset), (n, n))


def trace(x) -> Tensor:
    """Σ_i x_ii of a matrix"""
    x = as_tensor(x)
    if x.ndim != 2:
        raise ValueError(f"trace: needs a 2-D tensor, got shape {x.shape}")
    return diagonal(x).sum()


def _triangle(op, x, k, keep):
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: needs a tensor of at least 2 dims, got shape {x.shape}")
    return where(keep(np.ones(x.shape[-2:], dtype=bool), k), x, 0.0)


def tril(x, diagonal=0) -> Tensor:  # noqa: F811 - PyTorch's and NumPy's argument name
    """x with the entries above diagonal k set to 0 (the last two axes)"""
    return _triangle("tril", x, diagonal, np.tril)


def triu(x, diagonal=0) -> Tensor:  # noqa: F811
    """x with the entries below diagonal k set to 0 (the last two axes)"""
    return _triangle("triu", x, diagonal, np.triu)


def eye(n, m=None, dtype="float32") -> Tensor:
    """The n × m identity (ones on the diagonal), a constant"""
    return wrap(np.eye(n, m, dtype=dtype))


def cross(a, b, axis=-1, dim=None) -> Tensor:
    """The cross product of 3-vectors along axis (broadcast): a × b."""
    a, b = as_tensor(a), as_tensor(b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    axis = normalize_dim("cross", axis if dim is None else dim, len(shape))
    if shape[axis] != 3:
        raise ValueError(f"cross: axis {axis} must have length 3, got shapes {a.shape} and "
                         f"{b.shape}")

    def part(t, i):
        return getitem(t, (slice(None),) * (axis - len(shape) + t.ndim) + (i,))

    a0, a1_, a2 = (part(a, i) for i in range(3))
    b0, b1, b2 = (part(b, i) for i in range(3))
    return stack([a1_ * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1_ * b0], axis=axis)
