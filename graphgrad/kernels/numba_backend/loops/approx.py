"""Vectorisable float32 exp, log, log1p, sigmoid, softplus and tanh for Numba kernels.

Without SVML, ``math.exp`` inside a Numba loop is a scalar libm call and a fused
kernel built on it loses to NumPy's SIMD ufuncs.  These are branch-free
(selects only) so LLVM vectorises the loops that call them.  They follow
Cephes (S. L. Moshier's ``expf``/``logf``): range reduction, then a
short minimax polynomial.  They are inlined into their caller in Numba's IR,
before LLVM sees them (``inline="always"``): LLVM leaves nested or large
calls as calls, and a loop with a call in it does not vectorise.

Error bounds, in float32 ulp against the correctly rounded result, checked by
tests/kernels/test_numba_approx.py on dense sweeps (±large, denormals, ±0, ±inf, NaN):

==========  ==========  =================================================
function    bound       method
==========  ==========  =================================================
exp         2 ulp       x = k·ln2 + r (ln2 split in two), e^r by a degree-7
                        polynomial, 2^k built from its exponent bits;
                        denormal results from the denormal bit pattern
log         2 ulp       x = m·2^e with m ∈ [√½, √2) from the bits, degree-11
                        polynomial in m − 1
log1p       3 ulp       log(u)·z/(u − 1) with u = 1 + z (Goldberg's trick)
sigmoid     3 ulp       1/(1 + e^−|x|) or e^−|x|/(1 + e^−|x|)
softplus    4 ulp       max(x, 0) + log1p(e^−|x|)
tanh        3 ulp       Cephes tanhf: x + x³·P(x²) for |x| < 0.625, else
                        1 − 2/(e^2|x| + 1) with the sign of x
==========  ==========  =================================================

NaN in gives NaN out; ±inf and overflow/underflow give the IEEE results.
Signed zeros are not preserved (``nsz``).  float64 arguments use the exact
``math`` functions (libm, ≤ 1 ulp), so float64 gradients stay gradcheck-exact.

This module is Numba code: it is imported lazily by the first kernel call.
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad.kernels.numba_backend._jit import by_dtype, kernel

_F = np.float32
_LOG2E = _F(1.44269504088896341)
_LN2_HI = _F(0.693359375)  # few mantissa bits, so k·_LN2_HI is exact
_LN2_LO = _F(-2.12194440e-4)  # ln 2 − _LN2_HI
_EXP_HI = _F(88.72283935546875)  # ln(FLT_MAX): above this e^x overflows
_EXP_LO = _F(-103.972077083991796)  # ln(2^-150): below this e^x rounds to 0
_TINY = _F(1.17549435e-38)  # smallest normal float32


@kernel(inline=True)
def exp_f32(x):
    """e^x for float32, ≤ 2 ulp; inf above 88.72, 0 below −103.97, NaN → NaN."""
    xc = min(max(x, _F(-103.5)), _F(88.75))  # keeps k finite and in range
    t = np.floor(xc * _LOG2E + _F(0.5))
    r = xc - t * _LN2_HI
    r = r - t * _LN2_LO
    p = _F(1.9875691500e-4)
    p = p * r + _F(1.3981999507e-3)
    p = p * r + _F(8.3334519073e-3)
    p = p * r + _F(4.1665795894e-2)
    p = p * r + _F(1.6666665459e-1)
    p = p * r + _F(5.0000001201e-1)
    p = p * r * r + r + _F(1.0)
    k0 = np.int32(t)
    # 2^128 is not a float32: fold one factor 2 into p instead.
    pb = p + p if k0 > 127 else p
    k = k0 - np.int32(1) if k0 > 127 else k0
    # 2^k from its bit pattern: a normal exponent, or the denormal bit for k < −126.
    bits = np.int32((k + 127) << 23) if k >= -126 else np.int32(np.int32(1) << (k + 149))
    y = pb * np.int32(bits).view(np.float32)
    y = _F(np.inf) if x > _EXP_HI else y
    y = _F(0.0) if x < _EXP_LO else y
    return x if x != x else y


@kernel(inline=True)
def log_f32(x):
    """ln x for float32, ≤ 2 ulp; −inf at 0, NaN below 0, inf at inf."""
    tiny = x < _TINY
    xs = x * _F(8388608.0) if tiny else x  # 2^23 lifts denormals to normal numbers
    bits = np.float32(xs).view(np.int32)
    e0 = np.int32((bits >> 23) - 127)
    m = np.int32((bits & 0x007FFFFF) | 0x3F800000).view(np.float32)  # m ∈ [1, 2)
    big = m > _F(1.41421356237)
    f = m * _F(0.5) - _F(1.0) if big else m - _F(1.0)  # f ∈ [√½ − 1, √2 − 1]
    e1 = e0 + np.int32(1) if big else e0
    e = _F(e1 - np.int32(23)) if tiny else _F(e1)
    z = f * f
    p = _F(7.0376836292e-2)
    p = p * f - _F(1.1514610310e-1)
    p = p * f + _F(1.1676998740e-1)
    p = p * f - _F(1.2420140846e-1)
    p = p * f + _F(1.4249322787e-1)
    p = p * f - _F(1.6668057665e-1)
    p = p * f + _F(2.0000714765e-1)
    p = p * f - _F(2.4999993993e-1)
    p = p * f + _F(3.3333331174e-1)
    y = f * z * p + e * _LN2_LO - _F(0.5) * z
    y = f + y + e * _LN2_HI
    y = _F(np.inf) if x == _F(np.inf) else y
    y = -_F(np.inf) if x == _F(0.0) else y
    return _F(np.nan) if x < _F(0.0) else (x if x != x else y)


@kernel(inline=True)
def log1p_f32(z):
    """ln(1 + z) for float32, ≤ 3 ulp (accurate for tiny z)."""
    u = _F(1.0) + z
    d = u - _F(1.0)
    y = z if d == _F(0.0) else log_f32(u) * (z / d)
    return z if z == _F(np.inf) else y


@kernel(inline=True)
def sigmoid_f32(x):
    """σ(x) = 1/(1 + e^−x) for float32, ≤ 3 ulp, without overflow."""
    e = exp_f32(-abs(x))
    return (_F(1.0) if x >= _F(0.0) else e) / (_F(1.0) + e)


@kernel(inline=True)
def softplus_f32(x):
    """ln(1 + e^x) = max(x, 0) + log1p(e^−|x|) for float32, ≤ 4 ulp."""
    return (x if x > _F(0.0) else _F(0.0)) + log1p_f32(exp_f32(-abs(x)))


@kernel(inline=True)
def tanh_f32(x):
    """tanh x for float32, ≤ 3 ulp (Cephes ``tanhf``), ±1 beyond |x| ≈ 9, NaN → NaN."""
    a = abs(x)
    s = exp_f32(a + a)
    big = _F(1.0) - _F(2.0) / (s + _F(1.0))
    big = big if x >= _F(0.0) else -big
    z = x * x
    p = _F(-5.70498872745e-3)
    p = p * z + _F(2.06390887954e-2)
    p = p * z - _F(5.37397155531e-2)
    p = p * z + _F(1.33314422036e-1)
    p = p * z - _F(3.33332819422e-1)
    small = p * z * x + x
    return big if a > _F(0.625) else small


# ------------------------------------------------- float64: exact libm maths
@kernel(inline=True)
def exp_f64(x):
    """e^x (libm)."""
    return math.exp(x)


@kernel(inline=True)
def log_f64(x):
    """ln x (libm)."""
    return math.log(x)


@kernel(inline=True)
def log1p_f64(x):
    """ln(1 + x) (libm)."""
    return math.log1p(x)


@kernel(inline=True)
def sigmoid_f64(x):
    """σ(x) without overflow, from libm exp."""
    e = math.exp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


@kernel(inline=True)
def tanh_f64(x):
    """tanh x (libm)."""
    return math.tanh(x)


@kernel(inline=True)
def softplus_f64(x):
    """max(x, 0) + log1p(e^−|x|), from libm."""
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))


exp = by_dtype("exp", exp_f32, exp_f64)
log = by_dtype("log", log_f32, log_f64)
log1p = by_dtype("log1p", log1p_f32, log1p_f64)
sigmoid = by_dtype("sigmoid", sigmoid_f32, sigmoid_f64)
softplus = by_dtype("softplus", softplus_f32, softplus_f64)
tanh = by_dtype("tanh", tanh_f32, tanh_f64)
