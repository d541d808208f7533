"""Piecewise-linear activations: hardtanh, relu6, hardsigmoid, hardswish.

Their derivatives are piecewise constant (hardswish's piecewise linear); the
masks come from the saved input, and backward is written with graphgrad ops.
At a kink the derivative of the left piece is used, as PyTorch does.
"""

from __future__ import annotations

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor
from graphgrad.ops.elementwise import where


class Hardtanh(Function):
    """clip(x, lo, hi);  ∂/∂x = g where lo < x < hi, 0 elsewhere."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return K.hardtanh(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved_tensors[0].data
        return where(K.logical_and(K.greater(x, ctx.lo), K.less(x, ctx.hi)), g, 0.0), None, None


class Hardsigmoid(Function):
    """clip(x/6 + 1/2, 0, 1);  ∂/∂x = g/6 where −3 < x < 3, 0 elsewhere."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return K.hardsigmoid(x)

    @staticmethod
    def backward(ctx, g):
        x = ctx.saved_tensors[0].data
        return where(K.logical_and(K.greater(x, -3.0), K.less(x, 3.0)), g * (1 / 6), 0.0)


class Hardswish(Function):
    """x·clip(x + 3, 0, 6)/6;  ∂/∂x = g·0 for x < −3, g·(2x + 3)/6 for −3 ≤ x ≤ 3, g for x > 3."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return K.hardswish(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        inside = where(x < -3.0, 0.0, g * (2 * x + 3) * (1 / 6))
        return where(x > 3.0, g, inside)


def hardtanh(x, min_val=-1.0, max_val=1.0) -> Tensor:
    """clip(x, min_val, max_val) (PyTorch's names for the bounds)"""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return Hardtanh.apply(as_tensor(x), float(min_val), float(max_val))


def relu6(x) -> Tensor:
    """min(max(0, x), 6)"""
    return Hardtanh.apply(as_tensor(x), 0.0, 6.0)


def hardsigmoid(x) -> Tensor:
    """clip(x/6 + 1/2, 0, 1), a piecewise-linear sigmoid"""
    return Hardsigmoid.apply(as_tensor(x))


def hardswish(x) -> Tensor:
    """x · hardsigmoid(x), a piecewise swish (MobileNetV3)"""
    return Hardswish.apply(as_tensor(x))
