"""Numba loops for elementwise kernels: unary maths, fused backward, binary, where, clip.

Every loop runs over flat C-contiguous arrays (or a 2-D row/column view for a
broadcast operand) and writes into a preallocated ``out``; the wrappers in
``numba_backend.py`` pick the loop, reshape and allocate.  Constants are made
with ``x.dtype.type(c)``, so one body serves float32 and float64 without
promoting float32 maths to float64.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops import approx
from graphgrad.kernels.numba_backend.opcodes import (
    ADD,
    DIV,
    MAXIMUM,
    MINIMUM,
    MUL,
    RDIV,
    RELU_BACKWARD,
    RSUB,
    SIGMOID_BACKWARD,
    SUB,
    TANH_BACKWARD,
)


# ------------------------------------------------------------------ unary
# One loop per function: a small body is what LLVM unswitches and vectorises.
@kernel
def sigmoid(x, out):
    """out[i] = σ(x[i])."""
    for i in range(x.size):
        out[i] = approx.sigmoid(x[i])


@kernel
def softplus(x, out):
    """out[i] = ln(1 + e^x[i])."""
    for i in range(x.size):
        out[i] = approx.softplus(x[i])


@kernel
def relu(x, out):
    """out[i] = max(x[i], 0); NaN stays NaN, as np.maximum(x, 0)."""
    zero = x.dtype.type(0)
    for i in range(x.size):
        v = x[i]
        out[i] = v if v > zero or v != v else zero


@kernel
def leaky_relu(x, out, slope):
    """out[i] = x[i] if x[i] > 0 else slope·x[i]."""
    zero = x.dtype.type(0)
    slope = x.dtype.type(slope)
    for i in range(x.size):
        v = x[i]
        out[i] = v if v > zero else v * slope


# --------------------------------------------------------- fused backward
@kernel
def _backward(op, g, s, slope, zero, one):
    if op == TANH_BACKWARD:  # s = y = tanh x
        return g * (one - s * s)
    if op == SIGMOID_BACKWARD:  # s = y = σ(x)
        return g * s * (one - s)
    if op == RELU_BACKWARD:  # s = y = relu x; a NaN y passes g (as PyTorch)
        return zero if s <= zero else g
    return g if s > zero else g * slope  # LEAKY_RELU_BACKWARD, s = x


@kernel
def backward(op, g, s, out, slope):
    """out[i] = g[i] · f'(·) from the saved value s[i], in one pass."""
    slope = g.dtype.type(slope)
    zero = g.dtype.type(0)
    one = g.dtype.type(1)
    for i in range(g.size):
        out[i] = _backward(op, g[i], s[i], slope, zero, one)


# ----------------------------------------------------------------- binary
@kernel
def _binary(op, x, y):
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    if op == MAXIMUM:  # NaN from either side wins, as np.maximum
        return x if x > y or x != x else y
    if op == MINIMUM:
        return x if x < y or x != x else y
    if op == RSUB:
        return y - x
    if op == RDIV:
        return y / x
    return x


@kernel
def binary_rows(op, a, b, out):
    """out[i, j] = a[i, j] ∘ b[j]: b broadcast along the leading axes."""
    n, m = a.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = _binary(op, a[i, j], b[j])


@kernel
def binary_cols(op, a, b, out):
    """out[i, j] = a[i, j] ∘ b[i]: b broadcast along the trailing axes."""
    n, m = a.shape
    for i in range(n):
        bi = b[i]
        for j in range(m):
            out[i, j] = _binary(op, a[i, j], bi)


# ------------------------------------------------------------ where, clip
@kernel
def where_arrays(cond, a, b, out):
    """out[i] = a[i] if cond[i] else b[i]."""
    for i in range(cond.size):
        out[i] = a[i] if cond[i] else b[i]


@kernel
def where_scalar(cond, a, s, out, flip):
    """out[i] = a[i] if cond[i] else s (with flip: s if cond[i] else a[i])."""
    s = a.dtype.type(s)
    for i in range(cond.size):
        out[i] = a[i] if cond[i] != flip else s


@kernel
def clip(x, lo, hi, out):
    """out[i] = min(max(x[i], lo), hi); NaN stays NaN (pass ∓inf for a missing bound)."""
    lo = x.dtype.type(lo)
    hi = x.dtype.type(hi)
    for i in range(x.size):
        v = x[i]
        v = lo if v < lo else v
        out[i] = hi if v > hi else v


# ------------------------------------------------- erf family and silu
# NumPy has no erf: a loop over libm's erf (exact to ≤ 1 ulp in both dtypes)
# beats the reference's per-element Python call by two orders of magnitude.
@kernel
def erf(x, out):
    """out[i] = erf(x[i])."""
    for i in range(x.size):
        out[i] = math.erf(x[i])


@kernel
def erfc(x, out):
    """out[i] = erfc(x[i])."""
    for i in range(x.size):
        out[i] = math.erfc(x[i])


@kernel
def gelu(x, out):
    """out[i] = x[i]·Φ(x[i]) = x/2·(1 + erf(x/√2))."""
    half = x.dtype.type(0.5)
    one = x.dtype.type(1)
    scale = x.dtype.type(0.7071067811865476)
    for i in range(x.size):
        v = x[i]
        out[i] = half * v * (one + math.erf(v * scale))


@kernel
def silu(x, out):
    """out[i] = x[i]·σ(x[i]) (one pass instead of NumPy's four)."""
    for i in range(x.size):
        out[i] = x[i] * approx.sigmoid(x[i])
