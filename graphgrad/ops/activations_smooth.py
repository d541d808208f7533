"""Smooth activations of modern networks: gelu (exact and tanh), silu (swish),
elu, celu, selu, mish, logsigmoid, softsign, softplus with β and a threshold,
and softmin.

Each saves its input and writes its derivative with graphgrad ops (so double
backward works); masks read from the input are constants of that expression.
"""

from __future__ import annotations

import math

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.kernels.reference_math import SELU_ALPHA, SELU_SCALE
from graphgrad.ops._util import UnaryOp, as_tensor, dim_alias
from graphgrad.ops.activations import Softplus, sigmoid, tanh
from graphgrad.ops.elementwise import abs, exp, where
from graphgrad.ops.math import erf
from graphgrad.ops.nn import softmax

_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_C = 0.044715


def _gelu_derivative(g, x):
    # Φ(x) + x·φ(x)
    return g * (0.5 * (1 + erf(x * _INV_SQRT_2)) + x * _INV_SQRT_2PI * exp(-0.5 * x * x))


def _gelu_tanh_derivative(g, x):
    t = tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x))
    du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


def _silu_derivative(g, x):
    s = sigmoid(x)
    return g * (s * (1 + x * (1 - s)))


def _mish_derivative(g, x):
    t = tanh(softplus(x))
    return g * (t + x * (1 - t * t) * sigmoid(x))


class Gelu(UnaryOp):
    """x·Φ(x), Φ the standard normal CDF;  ∂/∂x = g·(Φ(x) + x·φ(x))."""

    kernel = "gelu"
    derivative = staticmethod(_gelu_derivative)


class GeluTanh(UnaryOp):
    """x/2·(1 + tanh u), u = √(2/π)(x + 0.044715x³);
    ∂/∂x = g·(½(1 + tanh u) + ½x(1 − tanh² u)·√(2/π)(1 + 3·0.044715x²))."""

    kernel = "gelu_tanh"
    derivative = staticmethod(_gelu_tanh_derivative)


class Silu(UnaryOp):
    """x·σ(x) (swish);  ∂/∂x = g·σ(x)·(1 + x(1 − σ(x)))."""

    kernel = "silu"
    derivative = staticmethod(_silu_derivative)


class Mish(UnaryOp):
    """x·tanh(softplus x);  ∂/∂x = g·(tanh s + x(1 − tanh² s)σ(x)), s = softplus x."""

    kernel = "mish"
    derivative = staticmethod(_mish_derivative)


class LogSigmoid(UnaryOp):
    """ln σ(x) = −softplus(−x);  ∂/∂x = g·σ(−x)."""

    kernel = "logsigmoid"
    derivative = staticmethod(lambda g, x: g * sigmoid(-x))


class Softsign(UnaryOp):
    """x / (1 + |x|);  ∂/∂x = g / (1 + |x|)²."""

    kernel = "softsign"
    derivative = staticmethod(lambda g, x: g / ((1 + abs(x)) * (1 + abs(x))))


class Selu(UnaryOp):
    """λ·(x if x > 0 else α(e^x − 1));  ∂/∂x = g·λ·(1 if x > 0 else α e^x)."""

    kernel = "selu"
    derivative = staticmethod(
        lambda g, x: where(x > 0.0, g * SELU_SCALE, g * (selu(x) + SELU_SCALE * SELU_ALPHA)))


class Elu(Function):
    """x if x > 0 else α(e^x − 1);  ∂/∂x = g if x > 0 else g·(elu(x) + α)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return K.elu(x, alpha)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return where(x > 0.0, g, g * (elu(x, ctx.alpha) + ctx.alpha)), None


class Celu(Function):
    """x if x > 0 else α(e^(x/α) − 1);  ∂/∂x = g if x > 0 else g·(celu(x)/α + 1)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return K.celu(x, alpha)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return where(x > 0.0, g, g * (celu(x, ctx.alpha) / ctx.alpha + 1)), None


class SoftplusBeta(Function):
    """ln(1 + e^(βx))/β, and x where βx > threshold;  ∂/∂x = g·σ(βx) (g past the threshold)."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        return K.softplus_beta(x, beta, threshold)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        linear = (x * ctx.beta) > ctx.threshold
        return where(linear, g, g * sigmoid(x * ctx.beta)), None, None


# ---------------------------------------------------------------- functions
def gelu(x, approximate="none") -> Tensor:
    """GELU: x·Φ(x) exactly (``approximate="none"``), or its tanh approximation
    x/2·(1 + tanh(√(2/π)(x + 0.044715x³))) (``approximate="tanh"``), as PyTorch."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return (GeluTanh if approximate == "tanh" else Gelu).apply(as_tensor(x))


def silu(x) -> Tensor:
    """SiLU (swish): x·σ(x)"""
    return Silu.apply(as_tensor(x))


def swish(x) -> Tensor:
    """Swish, x·σ(x): the same op as `silu`."""
    return Silu.apply(as_tensor(x))


def mish(x) -> Tensor:
    """Mish: x·tanh(ln(1 + e^x))"""
    return Mish.apply(as_tensor(x))


def logsigmoid(x) -> Tensor:
    """ln σ(x) = −ln(1 + e^−x), stable for large |x|"""
    return LogSigmoid.apply(as_tensor(x))


def softsign(x) -> Tensor:
    """x / (1 + |x|)"""
    return Softsign.apply(as_tensor(x))


def selu(x) -> Tensor:
    """SELU: λ·elu(x, α) with λ ≈ 1.0507, α ≈ 1.6733 (self-normalising)"""
    return Selu.apply(as_tensor(x))


def elu(x, alpha=1.0) -> Tensor:
    """ELU: x if x > 0 else α(e^x − 1)"""
    return Elu.apply(as_tensor(x), float(alpha))


def celu(x, alpha=1.0) -> Tensor:
    """CELU: max(0, x) + min(0, α(e^(x/α) − 1))"""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return Celu.apply(as_tensor(x), float(alpha))


def softplus(x, beta=1.0, threshold=20.0) -> Tensor:
    """Softplus ln(1 + e^(βx))/β, reverting to x where βx > threshold (PyTorch's).

    With the defaults (β = 1, threshold 20) it runs the stable fused kernel,
    which differs from x past the threshold by less than e^−20.
    """
    x = as_tensor(x)
    if beta == 1 and threshold == 20:
        return Softplus.apply(x)
    if beta <= 0:
        raise ValueError(f"softplus: beta must be > 0, got {beta}")
    return SoftplusBeta.apply(x, float(beta), float(threshold))


def softmin(x, axis=-1, dim=None) -> Tensor:
    """softmax(−x) along axis (or PyTorch's dim): weights that favour the smallest entries"""
    return softmax(-as_tensor(x), axis=dim_alias("softmin", axis, dim, -1))
