"""Elementwise maths beyond arithmetic: trigonometric and hyperbolic functions,
logs and exponentials in other bases, erf, rounding, remainders, logaddexp,
lerp, fmax/fmin and the floating-point tests (isnan ... isclose).

Each op saves its *inputs* and writes its derivative with graphgrad ops, so
every backward is differentiable again (``create_graph=True``).  Binary ops
broadcast with NumPy's rules and sum gradients back with `sum_to_inputs`.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import UnaryOp, as_tensor, wrap
from graphgrad.ops.activations import sigmoid
from graphgrad.ops.broadcast import broadcast_shapes, sum_to_inputs
from graphgrad.ops.elementwise import exp, sqrt, where

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_LN2, _LN10 = math.log(2), math.log(10)


def _unary(cls, x):
    x = as_tensor(x)
    if x.dtype.kind not in "fc":  # integers and bools compute in float, as PyTorch
        x = wrap(x.data.astype(np.float64 if x.dtype.itemsize > 4 else np.float32))
    return cls.apply(x)


class Sin(UnaryOp):
    """sin x;  ∂/∂x = g·cos x."""

    kernel = "sin"
    derivative = staticmethod(lambda g, x: g * cos(x))


class Cos(UnaryOp):
    """cos x;  ∂/∂x = −g·sin x."""

    kernel = "cos"
    derivative = staticmethod(lambda g, x: -g * sin(x))


class Tan(UnaryOp):
    """tan x;  ∂/∂x = g / cos² x."""

    kernel = "tan"
    derivative = staticmethod(lambda g, x: g / (cos(x) * cos(x)))


class Arcsin(UnaryOp):
    """arcsin x;  ∂/∂x = g / √(1 − x²)."""

    kernel = "arcsin"
    derivative = staticmethod(lambda g, x: g / sqrt(1 - x * x))


class Arccos(UnaryOp):
    """arccos x;  ∂/∂x = −g / √(1 − x²)."""

    kernel = "arccos"
    derivative = staticmethod(lambda g, x: -g / sqrt(1 - x * x))


class Arctan(UnaryOp):
    """arctan x;  ∂/∂x = g / (1 + x²)."""

    kernel = "arctan"
    derivative = staticmethod(lambda g, x: g / (1 + x * x))


class Sinh(UnaryOp):
    """sinh x;  ∂/∂x = g·cosh x."""

    kernel = "sinh"
    derivative = staticmethod(lambda g, x: g * cosh(x))


class Cosh(UnaryOp):
    """cosh x;  ∂/∂x = g·sinh x."""

    kernel = "cosh"
    derivative = staticmethod(lambda g, x: g * sinh(x))


class Arcsinh(UnaryOp):
    """arcsinh x;  ∂/∂x = g / √(x² + 1)."""

    kernel = "arcsinh"
    derivative = staticmethod(lambda g, x: g / sqrt(x * x + 1))


class Arccosh(UnaryOp):
    """arccosh x (x ≥ 1);  ∂/∂x = g / √(x² − 1)."""

    kernel = "arccosh"
    derivative = staticmethod(lambda g, x: g / sqrt(x * x - 1))


class Arctanh(UnaryOp):
    """arctanh x (|x| < 1);  ∂/∂x = g / (1 − x²)."""

    kernel = "arctanh"
    derivative = staticmethod(lambda g, x: g / (1 - x * x))


class Log2(UnaryOp):
    """log₂ x;  ∂/∂x = g / (x ln 2)."""

    kernel = "log2"
    derivative = staticmethod(lambda g, x: g / (x * _LN2))


class Log10(UnaryOp):
    """log₁₀ x;  ∂/∂x = g / (x ln 10)."""

    kernel = "log10"
    derivative = staticmethod(lambda g, x: g / (x * _LN10))


class Log1p(UnaryOp):
    """ln(1 + x), accurate for small x;  ∂/∂x = g / (1 + x)."""

    kernel = "log1p"
    derivative = staticmethod(lambda g, x: g / (1 + x))


class Exp2(UnaryOp):
    """2^x;  ∂/∂x = g·2^x·ln 2."""

    kernel = "exp2"
    derivative = staticmethod(lambda g, x: g * exp2(x) * _LN2)


class Expm1(UnaryOp):
    """e^x − 1, accurate for small x;  ∂/∂x = g·e^x."""

    kernel = "expm1"
    derivative = staticmethod(lambda g, x: g * exp(x))


class Rsqrt(UnaryOp):
    """1/√x;  ∂/∂x = −g / (2 x √x)."""

    kernel = "rsqrt"
    derivative = staticmethod(lambda g, x: -0.5 * g * rsqrt(x) / x)


class Reciprocal(UnaryOp):
    """1/x;  ∂/∂x = −g / x²."""

    kernel = "reciprocal"
    derivative = staticmethod(lambda g, x: -g / (x * x))


class Square(UnaryOp):
    """x²;  ∂/∂x = 2·g·x."""

    kernel = "square"
    derivative = staticmethod(lambda g, x: 2 * g * x)


class Erf(UnaryOp):
    """erf x;  ∂/∂x = g · 2/√π · e^(−x²)."""

    kernel = "erf"
    derivative = staticmethod(lambda g, x: g * _TWO_OVER_SQRT_PI * exp(-x * x))


class Erfc(UnaryOp):
    """erfc x = 1 − erf x;  ∂/∂x = −g · 2/√π · e^(−x²)."""

    kernel = "erfc"
    derivative = staticmethod(lambda g, x: -g * _TWO_OVER_SQRT_PI * exp(-x * x))


class _Step(UnaryOp):
    """A piecewise-constant op (floor, ceil, round, trunc): the gradient is 0."""

    @classmethod
    def forward(cls, ctx, x):
        return getattr(K, cls.kernel)(x)

    @classmethod
    def backward(cls, ctx, g):
        return g * 0.0


class Floor(_Step):
    """⌊x⌋;  ∂/∂x = 0."""

    kernel = "floor"


class Ceil(_Step):
    """⌈x⌉;  ∂/∂x = 0."""

    kernel = "ceil"


class Round(_Step):
    """x rounded to the nearest integer, halves to even;  ∂/∂x = 0."""

    kernel = "round"


class Trunc(_Step):
    """x rounded toward zero;  ∂/∂x = 0."""

    kernel = "trunc"


# ------------------------------------------------------------------- binary
class _Binary(Function):
    """y = K.<kernel>(a, b) with broadcasting; the inputs are saved for backward."""

    kernel = ""

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return getattr(K, cls.kernel)(a, b)
        except ValueError:
            broadcast_shapes(cls.kernel, np.shape(a), np.shape(b))
            raise


class Arctan2(_Binary):
    """atan2(a, b), the angle of (b, a);  ∂/∂a = g·b/(a² + b²), ∂/∂b = −g·a/(a² + b²)."""

    kernel = "arctan2"

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        r2 = a * a + b * b
        return sum_to_inputs(ctx, g * b / r2, -g * a / r2)


class Fmod(_Binary):
    """a − trunc(a/b)·b (sign of a, C's fmod);  ∂/∂a = g, ∂/∂b = −g·trunc(a/b)."""

    kernel = "fmod"

    @staticmethod
    def backward(ctx, g):
        a, b = _arrays(ctx.saved_tensors)
        return sum_to_inputs(ctx, g, -g * K.trunc(K.div(a, b)))


class Remainder(_Binary):
    """a − ⌊a/b⌋·b (sign of b, Python's %);  ∂/∂a = g, ∂/∂b = −g·⌊a/b⌋."""

    kernel = "remainder"

    @staticmethod
    def backward(ctx, g):
        a, b = _arrays(ctx.saved_tensors)
        return sum_to_inputs(ctx, g, -g * K.floor(K.div(a, b)))


class Copysign(_Binary):
    """|a| with the sign of b;  ∂/∂a = g·sign(a)·sign(b) (0 at a = 0), ∂/∂b = 0."""

    kernel = "copysign"

    @staticmethod
    def backward(ctx, g):
        a, b = _arrays(ctx.saved_tensors)
        flip = K.mul(K.sign(a), K.copysign(1.0, b))
        return sum_to_inputs(ctx, g * flip, g * 0.0)


class Logaddexp(_Binary):
    """ln(e^a + e^b);  ∂/∂a = g·σ(a − b), ∂/∂b = g·σ(b − a)."""

    kernel = "logaddexp"

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return sum_to_inputs(ctx, g * sigmoid(a - b), g * sigmoid(b - a))


class Logaddexp2(_Binary):
    """log₂(2^a + 2^b);  ∂/∂a = g·σ((a − b) ln 2), ∂/∂b = g·σ((b − a) ln 2)."""

    kernel = "logaddexp2"

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return sum_to_inputs(ctx, g * sigmoid((a - b) * _LN2), g * sigmoid((b - a) * _LN2))


class _NanExtremum(_Binary):
    """fmax/fmin: the larger/smaller input, ignoring a NaN; the gradient goes to the
    input that was picked and is split evenly on ties."""

    @classmethod
    def backward(cls, ctx, g):
        a, b = _arrays(ctx.saved_tensors)
        wins = K.greater(a, b) if cls.kernel == "fmax" else K.less(a, b)
        picks_a = K.logical_or(wins, K.logical_and(K.isnan(b), K.logical_not(K.isnan(a))))
        weight = K.where(K.equal(a, b), 0.5, K.cast(picks_a, g.dtype))
        # a side that gets no share gets 0, not g·0 (NaN where g is infinite), as torch
        share_b = K.sub(1.0, weight)
        return sum_to_inputs(ctx, where(K.not_equal(weight, 0.0), g, 0.0) * weight,
                             where(K.not_equal(share_b, 0.0), g, 0.0) * share_b)


class Fmax(_NanExtremum):
    """max(a, b) ignoring NaN;  ∂ goes to the larger input (split on ties)."""

    kernel = "fmax"


class Fmin(_NanExtremum):
    """min(a, b) ignoring NaN;  ∂ goes to the smaller input (split on ties)."""

    kernel = "fmin"


class Lerp(Function):
    """start + w·(end − start);  ∂/∂start = g·(1 − w), ∂/∂end = g·w, ∂/∂w = g·(end − start)."""

    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        try:
            return K.lerp(start, end, weight)
        except ValueError:
            broadcast_shapes("lerp", np.shape(start), np.shape(end), np.shape(weight))
            raise

    @staticmethod
    def backward(ctx, g):
        start, end, w = ctx.saved_tensors
        n_start, n_end, n_w = ctx.needs_input_grad
        return sum_to_inputs(ctx, g * (1 - w) if n_start else None,
                             g * w if n_end else None, g * (end - start) if n_w else None)


def _arrays(saved):
    return tuple(v.data if isinstance(v, Tensor) else v for v in saved)


# ---------------------------------------------------------------- functions
def sin(x) -> Tensor:
    """sin x"""
    return _unary(Sin, x)


def cos(x) -> Tensor:
    """cos x"""
    return _unary(Cos, x)


def tan(x) -> Tensor:
    """tan x"""
    return _unary(Tan, x)


def arcsin(x) -> Tensor:
    """arcsin x, for |x| ≤ 1 (PyTorch: asin)"""
    return _unary(Arcsin, x)


def arccos(x) -> Tensor:
    """arccos x, for |x| ≤ 1 (PyTorch: acos)"""
    return _unary(Arccos, x)


def arctan(x) -> Tensor:
    """arctan x (PyTorch: atan)"""
    return _unary(Arctan, x)


def sinh(x) -> Tensor:
    """sinh x = (e^x − e^−x)/2"""
    return _unary(Sinh, x)


def cosh(x) -> Tensor:
    """cosh x = (e^x + e^−x)/2"""
    return _unary(Cosh, x)


def arcsinh(x) -> Tensor:
    """arsinh x = ln(x + √(x² + 1)) (PyTorch: asinh)"""
    return _unary(Arcsinh, x)


def arccosh(x) -> Tensor:
    """arcosh x = ln(x + √(x² − 1)), x ≥ 1 (PyTorch: acosh)"""
    return _unary(Arccosh, x)


def arctanh(x) -> Tensor:
    """artanh x = ½ ln((1 + x)/(1 − x)), |x| < 1 (PyTorch: atanh)"""
    return _unary(Arctanh, x)


def log2(x) -> Tensor:
    """log₂ x"""
    return _unary(Log2, x)


def log10(x) -> Tensor:
    """log₁₀ x"""
    return _unary(Log10, x)


def log1p(x) -> Tensor:
    """ln(1 + x), accurate near 0"""
    return _unary(Log1p, x)


def exp2(x) -> Tensor:
    """2^x"""
    return _unary(Exp2, x)


def expm1(x) -> Tensor:
    """e^x − 1, accurate near 0"""
    return _unary(Expm1, x)


def rsqrt(x) -> Tensor:
    """1/√x"""
    return _unary(Rsqrt, x)


def reciprocal(x) -> Tensor:
    """1/x"""
    return _unary(Reciprocal, x)


def square(x) -> Tensor:
    """x²"""
    return _unary(Square, x)


def erf(x) -> Tensor:
    """erf x = 2/√π ∫₀ˣ e^(−t²) dt"""
    return _unary(Erf, x)


def erfc(x) -> Tensor:
    """erfc x = 1 − erf x (no cancellation for large x)"""
    return _unary(Erfc, x)


def floor(x) -> Tensor:
    """⌊x⌋ (zero gradient)"""
    return _unary(Floor, x)


def ceil(x) -> Tensor:
    """⌈x⌉ (zero gradient)"""
    return _unary(Ceil, x)


def round(x) -> Tensor:  # noqa: A001 - NumPy's and PyTorch's name
    """x rounded to the nearest integer, halves to even (zero gradient)"""
    return _unary(Round, x)


def trunc(x) -> Tensor:
    """x rounded toward zero (zero gradient)"""
    return _unary(Trunc, x)


def arctan2(a, b) -> Tensor:
    """atan2(a, b) ∈ (−π, π], the angle of the point (b, a) (PyTorch: atan2)"""
    return Arctan2.apply(a, b)


def fmod(a, b) -> Tensor:
    """a − trunc(a/b)·b: the remainder with the sign of a (C's fmod, torch.fmod)"""
    return Fmod.apply(a, b)


def remainder(a, b) -> Tensor:
    """a − ⌊a/b⌋·b: the remainder with the sign of b (Python's and Tensor's %)"""
    return Remainder.apply(a, b)


mod = remainder


def copysign(a, b) -> Tensor:
    """|a| with the sign of b"""
    return Copysign.apply(a, b)


def logaddexp(a, b) -> Tensor:
    """ln(e^a + e^b), computed without overflow"""
    return Logaddexp.apply(a, b)


def logaddexp2(a, b) -> Tensor:
    """log₂(2^a + 2^b), computed without overflow"""
    return Logaddexp2.apply(a, b)


def fmax(a, b) -> Tensor:
    """Elementwise max that ignores NaN (NaN only where both are NaN)"""
    return Fmax.apply(a, b)


def fmin(a, b) -> Tensor:
    """Elementwise min that ignores NaN (NaN only where both are NaN)"""
    return Fmin.apply(a, b)


def lerp(start, end, weight) -> Tensor:
    """start + weight·(end − start), broadcast; weight may be a number or a Tensor"""
    return Lerp.apply(start, end, weight)


def _plain(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def isnan(x) -> Tensor:
    """x ≠ x: a boolean tensor, no gradient"""
    return wrap(np.asarray(K.isnan(_plain(x))))


def isinf(x) -> Tensor:
    """|x| = ∞: a boolean tensor, no gradient"""
    return wrap(np.asarray(K.isinf(_plain(x))))


def isfinite(x) -> Tensor:
    """Neither NaN nor ±∞: a boolean tensor, no gradient"""
    return wrap(np.asarray(K.isfinite(_plain(x))))


def isclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False) -> Tensor:
    """|a − b| ≤ atol + rtol·|b| elementwise: a boolean tensor, no gradient"""
    a, b = _plain(a), _plain(b)
    broadcast_shapes("isclose", np.shape(a), np.shape(b))
    return wrap(np.asarray(K.isclose(a, b, rtol, atol, equal_nan)))
