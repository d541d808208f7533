"""Activation ops: tanh, sigmoid, relu, leaky_relu, softplus.

Each saves what its derivative needs (the output where it suffices) and has a
fused backward op of its own (``TanhBackward``...), so backward runs one kernel
and is itself differentiable.  Without a graph to record (plain ``backward()``)
backward calls the fused kernel directly.
"""

from __future__ import annotations

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap


class Tanh(Function):
    """tanh x;  ∂/∂x = g·(1 − y²) with the saved output y (one fused kernel)."""

    @staticmethod
    def forward(ctx, x):
        y = K.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if not recording():
            return wrap(K.tanh_backward(g.data, y.data))
        return TanhBackward.apply(g, y)


class TanhBackward(Function):
    """g·(1 − y²) as one op, so tanh's backward is itself differentiable.

    ∂/∂g = 1 − y², ∂/∂y = −2·g·y.
    """

    @staticmethod
    def forward(ctx, g, y):
        ctx.save_for_backward(g, y)
        return K.tanh_backward(g, y)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        ng, ny = ctx.needs_input_grad
        return (TanhBackward.apply(gg, y) if ng else None), (-2 * gg * g * y if ny else None)


class Sigmoid(Function):
    """σ(x);  ∂/∂x = g·y·(1 − y) with the saved output y (one fused kernel)."""

    @staticmethod
    def forward(ctx, x):
        y = K.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if not recording():
            return wrap(K.sigmoid_backward(g.data, y.data))
        return SigmoidBackward.apply(g, y)


class SigmoidBackward(Function):
    """g·y·(1 − y) as one op.  ∂/∂g = y(1 − y), ∂/∂y = g·(1 − 2y)."""

    @staticmethod
    def forward(ctx, g, y):
        ctx.save_for_backward(g, y)
        return K.sigmoid_backward(g, y)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        ng, ny = ctx.needs_input_grad
        dg = SigmoidBackward.apply(gg, y) if ng else None
        return dg, (gg * g * (1 - 2 * y) if ny else None)


class Relu(Function):
    """max(0, x);  ∂/∂x = g where x > 0 or x is NaN, else 0 (read off the saved output).

    A NaN input passes its gradient (as PyTorch), so a NaN keeps its trail.
    """

    @staticmethod
    def forward(ctx, x):
        y = K.relu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if not recording():
            return wrap(K.relu_backward(g.data, y.data))
        return ReluBackward.apply(g, y)


class ReluBackward(Function):
    """g·[not y ≤ 0] as one op; linear in g, and 0 almost everywhere in y."""

    @staticmethod
    def forward(ctx, g, y):
        ctx.save_for_backward(y)
        return K.relu_backward(g, y)

    @staticmethod
    def backward(ctx, gg):
        (y,) = ctx.saved_tensors
        return ReluBackward.apply(gg, y), None


class LeakyRelu(Function):
    """x if x > 0 else slope·x;  ∂/∂x = g·(1 if x > 0 else slope)."""

    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return K.leaky_relu(x, slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if not recording():
            return wrap(K.leaky_relu_backward(g.data, x.data, ctx.slope)), None
        return LeakyReluBackward.apply(g, x, ctx.slope), None


class LeakyReluBackward(Function):
    """g·(1 if x > 0 else slope) as one op; linear in g, 0 a.e. in x."""

    @staticmethod
    def forward(ctx, g, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return K.leaky_relu_backward(g, x, slope)

    @staticmethod
    def backward(ctx, gg):
        (x,) = ctx.saved_tensors
        return LeakyReluBackward.apply(gg, x, ctx.slope), None, None


class Softplus(Function):
    """ln(1 + e^x);  ∂/∂x = g·σ(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return K.softplus(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * sigmoid(x)


# --------------------------------------------------------------- functions
def tanh(x) -> Tensor:
    """tanh x"""
    return Tanh.apply(as_tensor(x))


def sigmoid(x) -> Tensor:
    """σ(x) = 1 / (1 + e^−x)"""
    return Sigmoid.apply(as_tensor(x))


def relu(x) -> Tensor:
    """max(0, x)"""
    return Relu.apply(as_tensor(x))


def leaky_relu(x, slope=0.01) -> Tensor:
    """x if x > 0 else slope·x"""
    return LeakyRelu.apply(as_tensor(x), slope)


def softplus(x) -> Tensor:
    """ln(1 + e^x), stable for large |x|."""
    return Softplus.apply(as_tensor(x))
