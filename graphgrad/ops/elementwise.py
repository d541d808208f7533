"""Elementwise ops: arithmetic, unary maths, where/clip/maximum (activations: activations.py).

Binary ops broadcast with NumPy's rules; their backward sums the gradient back
to each input's shape with `unbroadcast`.  Python scalars pass straight to the
kernels (NumPy 2 treats them as weak, so float32 stays float32).
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap
from graphgrad.ops.broadcast import broadcast_shapes, sum_to_inputs


def _shape(x):
    return np.shape(x)


def _binary(op, kernel, a, b):
    """kernel(a, b); a shape mismatch becomes an error naming the op and both shapes."""
    try:
        return kernel(a, b)
    except ValueError:
        broadcast_shapes(op, np.shape(a), np.shape(b))  # raises the clear error
        raise


# ------------------------------------------------------------------ binary
class Add(Function):
    """a + b;  ∂/∂a = g, ∂/∂b = g (summed over broadcast axes)."""

    @staticmethod
    def forward(ctx, a, b):
        return _binary("add", K.add, a, b)

    @staticmethod
    def backward(ctx, g):
        return sum_to_inputs(ctx, g, g)


class Sub(Function):
    """a − b;  ∂/∂a = g, ∂/∂b = −g."""

    @staticmethod
    def forward(ctx, a, b):
        return _binary("sub", K.sub, a, b)

    @staticmethod
    def backward(ctx, g):
        return sum_to_inputs(ctx, g, -g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """a · b;  ∂/∂a = g·b, ∂/∂b = g·a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("mul", K.mul, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return sum_to_inputs(ctx, g * b if na else None, g * a if nb else None)


class Div(Function):
    """a / b;  ∂/∂a = g/b, ∂/∂b = −g·a/b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("div", K.div, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return sum_to_inputs(ctx, g / b if na else None, -g * a / (b * b) if nb else None)


class Pow(Function):
    """a ** b;  ∂/∂a = g·b·a^(b−1), ∂/∂b = g·a^b·ln a (0 where a ≤ 0)."""

    @staticmethod
    def forward(ctx, a, b):
        y = _binary("pow", K.pow, a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # a^b with b = 0 is the constant 1: its derivative b·a^(b−1) is 0 even at
            # a = 0, where the formula reads 0·0^(−1) = 0·inf = NaN.  There the
            # exponent b − 1 becomes 0 (a^0 = 1, times b = 0): no inf anywhere.
            bd = b.data if isinstance(b, Tensor) else np.asarray(b)
            at_zero = (bd == 0) & (a.data == 0)
            e = where(at_zero, 0.0, b - 1) if at_zero.any() else b - 1
            ga = g * b * a ** e
        if nb:
            if isinstance(a, Tensor):
                log_a = log(where(a.data > 0, a, 1.0))
            else:  # a Python scalar base
                log_a = math.log(a) if a > 0 else 0.0
            gb = g * y * log_a
            if isinstance(a, Tensor):
                # at a = 0 with b < 0: a^b = ±inf and ln|a| = −inf, so ∂/∂b = ∓inf
                # (PyTorch's value; the log of 1 put in above would give inf·0 = NaN)
                pole = (a.data == 0) & (np.asarray(b.data if isinstance(b, Tensor) else b) < 0)
                if pole.any():
                    gb = where(pole, g * y * -np.inf, gb)
        return sum_to_inputs(ctx, ga, gb)


class PowScalar(Function):
    """x ** p for a Python-number exponent p;  ∂/∂x = g·p·x^(p−1) (one fused kernel).

    The common x**2 runs as x·x, far cheaper than a general power.
    """

    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        return K.pow_scalar(x, p)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        p = ctx.p
        if not recording():
            return wrap(K.pow_scalar_backward(g.data, x.data, p)), None
        if p == 1:
            return g, None
        if p == 0:  # x^0 = 1: the derivative is 0 everywhere, also at x = 0 (0·0^−1)
            return wrap(np.zeros(g.shape, g.dtype)), None
        return g * (p * PowScalar.apply(x, p - 1)), None


class Maximum(Function):
    """max(a, b);  the gradient goes to the larger input, split evenly on ties."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("maximum", K.maximum, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = _values(ctx.saved_tensors)
        return _select_grads(ctx, g, a > b, a == b)


class Minimum(Function):
    """min(a, b);  the gradient goes to the smaller input, split evenly on ties."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary("minimum", K.minimum, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = _values(ctx.saved_tensors)
        return _select_grads(ctx, g, a < b, a == b)


def _values(saved):
    """The arrays of saved Tensors; a Python-scalar operand stays a scalar."""
    return tuple(v.data if isinstance(v, Tensor) else v for v in saved)


def _select_grads(ctx, g, a_wins, tie):
    weight_a = np.asarray(a_wins + 0.5 * tie)
    na, nb = ctx.needs_input_grad
    dtype = g.dtype
    return sum_to_inputs(ctx, g * weight_a.astype(dtype) if na else None,
                         g * (1 - weight_a).astype(dtype) if nb else None)


class Where(Function):
    """cond ? a : b;  ∂/∂a = g where cond, ∂/∂b = g elsewhere."""

    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.cond = cond
        try:
            return K.where(cond, a, b)
        except ValueError:  # like _binary: check shapes only when the kernel fails
            broadcast_shapes("where", _shape(cond), _shape(a), _shape(b))
            raise

    @staticmethod
    def backward(ctx, g):
        _, na, nb = ctx.needs_input_grad
        return sum_to_inputs(ctx, None, where(ctx.cond, g, 0.0) if na else None,
                             where(ctx.cond, 0.0, g) if nb else None)


class Clip(Function):
    """min(max(x, lo), hi);  ∂/∂x = g where lo ≤ x ≤ hi, ∂/∂lo = g where x < lo,
    ∂/∂hi = g where max(x, lo) > hi (bounds may be Tensors that require grad)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of min and max")
        if ctx.needs_input_grad:
            nx, nlo, nhi = ctx.needs_input_grad
            below = np.False_ if lo is None else K.less(x, lo)
            above = np.False_ if hi is None else K.greater(
                x if lo is None else K.maximum(x, lo), hi)
            if nlo:
                ctx.below = K.logical_and(below, K.logical_not(above))
            if nhi:
                ctx.above = above
            if nx:
                ctx.inside = K.logical_not(K.logical_or(below, above))
        return K.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        nx, nlo, nhi = ctx.needs_input_grad
        return sum_to_inputs(ctx, where(ctx.inside, g, 0.0) if nx else None,
                             where(ctx.below, g, 0.0) if nlo else None,
                             where(ctx.above, g, 0.0) if nhi else None)


# ------------------------------------------------------------------- unary
class Neg(Function):
    """−x;  ∂/∂x = −g."""

    @staticmethod
    def forward(ctx, x):
        return K.neg(x)

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    """e^x;  ∂/∂x = g·e^x (the saved output)."""

    @staticmethod
    def forward(ctx, x):
        y = K.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Log(Function):
    """ln x;  ∂/∂x = g/x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return K.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


class Sqrt(Function):
    """√x;  ∂/∂x = g / (2√x) (the saved output)."""

    @staticmethod
    def forward(ctx, x):
        y = K.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g / (2 * y)


class Abs(Function):
    """|x|;  ∂/∂x = g·sign(x) (0 at 0, as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return K.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * K.sign(x.data)


class Sign(Function):
    """sign(x);  the derivative is 0 everywhere it exists."""

    @staticmethod
    def forward(ctx, x):
        return K.sign(x)

    @staticmethod
    def backward(ctx, g):
        return g * 0.0


# --------------------------------------------------------------- functions
def add(a, b) -> Tensor:
    """a + b with broadcasting."""
    return Add.apply(a, b)


def sub(a, b) -> Tensor:
    """a − b with broadcasting."""
    return Sub.apply(a, b)


def mul(a, b) -> Tensor:
    """a · b with broadcasting."""
    return Mul.apply(a, b)


def div(a, b) -> Tensor:
    """a / b with broadcasting."""
    return Div.apply(a, b)


def pow(a, b) -> Tensor:  # noqa: A001
    """a ** b with broadcasting (scalar or tensor exponent)."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar.apply(a, b)
    return Pow.apply(a, b)


def neg(x) -> Tensor:
    """−x"""
    return Neg.apply(as_tensor(x))


def exp(x) -> Tensor:
    """e^x"""
    return Exp.apply(as_tensor(x))


def log(x) -> Tensor:
    """ln x"""
    return Log.apply(as_tensor(x))


def sqrt(x) -> Tensor:
    """√x"""
    return Sqrt.apply(as_tensor(x))


def abs(x) -> Tensor:  # noqa: A001
    """|x|"""
    return Abs.apply(as_tensor(x))


def sign(x) -> Tensor:
    """sign(x) ∈ {−1, 0, 1}"""
    return Sign.apply(as_tensor(x))


def maximum(a, b) -> Tensor:
    """Elementwise max(a, b); ties split the gradient evenly."""
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    """Elementwise min(a, b); ties split the gradient evenly."""
    return Minimum.apply(a, b)


def where(cond, a=None, b=None):
    """cond ? a : b (cond is boolean and carries no gradient).

    With cond alone: the indices where it is nonzero, a tuple of integer
    tensors (np.where(cond), torch.where(cond), i.e. nonzero).
    """
    if isinstance(cond, Tensor):
        cond = cond.data
    if a is None and b is None:
        return tuple(wrap(i) for i in np.nonzero(np.atleast_1d(cond)))
    if a is None or b is None:
        raise TypeError("where: give both a and b, or neither (for the indices of cond)")
    return Where.apply(cond, a, b)


def clip(x, min=None, max=None) -> Tensor:  # noqa: A002 - NumPy's names
    """Clamp x to [min, max]; the gradient passes where x is inside."""
    return Clip.apply(as_tensor(x), min, max)
