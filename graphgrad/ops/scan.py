"""Scans along one axis: cumsum, cumprod, cummax, cummin, logcumsumexp.

Backwards are written with graphgrad ops (reverse cumulative sums, gathers and
scatters), so each is differentiable again.  ``axis`` is NumPy's name, ``dim``
PyTorch's; NumPy's default axis=None scans the flattened tensor.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, dim_alias, normalize_dim, wrap
from graphgrad.ops.elementwise import exp, where
from graphgrad.ops.indexing import ScatterAdd
from graphgrad.ops.shape import getitem, reshape


def _flip(t, axis):
    return getitem(t, (slice(None),) * axis + (slice(None, None, -1),))


def _axis_last(ndim, axis):
    """The permutation that moves `axis` to the end."""
    return tuple(i for i in range(ndim) if i != axis) + (axis,)


def _reverse_cumsum(g, axis):
    """out_j = Σ_{i ≥ j} g_i along axis (the adjoint of cumsum)."""
    return _flip(cumsum(_flip(g, axis), axis), axis)


class Cumsum(Function):
    """y_i = Σ_{j ≤ i} x_j;  ∂/∂x_j = Σ_{i ≥ j} g_i (a reversed cumsum of g)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return K.cumsum(x, axis)

    @staticmethod
    def backward(ctx, g):
        return _reverse_cumsum(g, ctx.axis), None


class Cumprod(Function):
    """y_i = Π_{j ≤ i} x_j;  ∂/∂x_j = Σ_{i ≥ j} g_i · Π_{k ≤ i, k ≠ j} x_k.

    Without zeros that is reverse_cumsum(g·y)/x; with a zero the sum is formed
    explicitly (O(n²) along the axis) so zeros get their exact gradient.
    """

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        ctx.save_for_backward(x)
        return K.cumprod(x, axis)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axis = ctx.axis
        if np.all(x.data != 0):
            return _reverse_cumsum(g * cumprod(x, axis), axis) / x, None
        # rows[j] is x with x_j replaced by 1; its cumprod at i ≥ j is Π_{k≤i, k≠j} x_k
        n = x.shape[axis]
        moved = _axis_last(x.ndim, axis)
        xt, gt = x.transpose(moved), g.transpose(moved)      # (..., n)
        eye = np.eye(n, dtype=bool)
        rows = where(eye, 1.0, reshape(xt, xt.shape[:-1] + (1, n)))   # (..., n_j, n_i)
        later = np.triu(np.ones((n, n), dtype=bool))                  # i ≥ j
        terms = where(later, cumprod(rows, -1) * reshape(gt, gt.shape[:-1] + (1, n)), 0.0)
        grad = terms.sum(axis=-1)
        return grad.transpose(tuple(np.argsort(moved))), None


class _CumExtremum(Function):
    """Running max or min (values, indices); ∂/∂x = scatter_add of g at the indices."""

    n_outputs = 2
    kernel = "cummax"

    @classmethod
    def forward(cls, ctx, x, axis):
        values, indices = getattr(K, cls.kernel)(x, axis)
        ctx.axis, ctx.indices = axis, indices
        return values, indices

    @staticmethod
    def backward(ctx, g, _g_indices=None):
        zeros = wrap(np.zeros(ctx.in_shapes[0], dtype=g.dtype))
        return ScatterAdd.apply(zeros, ctx.axis, ctx.indices, g), None


class Cummax(_CumExtremum):
    """(running max, its latest index);  ∂/∂x_j = Σ g_i over the i whose max is x_j."""

    kernel = "cummax"


class Cummin(_CumExtremum):
    """(running min, its latest index);  ∂/∂x_j = Σ g_i over the i whose min is x_j."""

    kernel = "cummin"


class Logcumsumexp(Function):
    """y_i = ln Σ_{j ≤ i} e^(x_j);  ∂/∂x_j = Σ_{i ≥ j} g_i · e^(x_j − y_i).

    The sum is formed explicitly (O(n²) along the axis): every exponent is ≤ 0,
    so nothing overflows whatever the range of x.
    """

    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        ctx.save_for_backward(x)
        return K.logcumsumexp(x, axis)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axis = ctx.axis
        n = x.shape[axis]
        moved = _axis_last(x.ndim, axis)
        xt, gt = x.transpose(moved), g.transpose(moved)
        yt = logcumsumexp(xt, -1)
        later = np.triu(np.ones((n, n), dtype=bool))                  # [j, i]: i ≥ j
        diff = reshape(xt, xt.shape + (1,)) - reshape(yt, yt.shape[:-1] + (1, n))
        weights = exp(where(later, diff, -np.inf))
        grad = (weights * reshape(gt, gt.shape[:-1] + (1, n))).sum(axis=-1)
        return grad.transpose(tuple(np.argsort(moved))), None


def _scan(op, cls, x, axis, dim):
    x = as_tensor(x)
    axis = dim_alias(op, axis, dim)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if x.ndim == 0:  # a 0-d tensor scans as itself, along axis 0 or -1 only (PyTorch's dim)
        normalize_dim(op, axis, 0)
        return cls.apply(reshape(x, (1,)), 0)
    return cls.apply(x, normalize_dim(op, axis, x.ndim))


def _unflat0(out, x, axis, dim):
    """A scan of a 0-d input along an axis is 0-d (PyTorch); with axis=None it is 1-d (NumPy)."""
    if as_tensor(x).ndim == 0 and (axis is not None or dim is not None):
        return tuple(reshape(o, ()) for o in out) if isinstance(out, tuple) else reshape(out, ())
    return out


def cumsum(x, axis=None, dim=None) -> Tensor:
    """Running sum along axis (None: over the flattened tensor, as NumPy)."""
    return _unflat0(_scan("cumsum", Cumsum, x, axis, dim), x, axis, dim)


def cumprod(x, axis=None, dim=None) -> Tensor:
    """Running product along axis (zeros get exact gradients)."""
    return _unflat0(_scan("cumprod", Cumprod, x, axis, dim), x, axis, dim)


def cummax(x, axis=None, dim=None) -> tuple[Tensor, Tensor]:
    """(running max, index of the latest running max) along axis, as torch.cummax."""
    return _unflat0(_scan("cummax", Cummax, x, axis, dim), x, axis, dim)


def cummin(x, axis=None, dim=None) -> tuple[Tensor, Tensor]:
    """(running min, index of the latest running min) along axis, as torch.cummin."""
    return _unflat0(_scan("cummin", Cummin, x, axis, dim), x, axis, dim)


def logcumsumexp(x, axis=None, dim=None) -> Tensor:
    """ln Σ_{j ≤ i} e^(x_j) along axis, without overflow."""
    return _unflat0(_scan("logcumsumexp", Logcumsumexp, x, axis, dim), x, axis, dim)
