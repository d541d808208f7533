"""Elementwise wrappers of the Numba backend: unary, binary (row/column broadcasting),
where, clip.

Each wrapper has its reference twin's name and signature.  It validates what
the compiled loop needs (float32/float64, at least 1-D, not empty, a shape
layout a loop handles), makes the arrays C-contiguous, allocates the output
and calls the loop.  Anything else (integer or mixed dtypes, 0-d or empty
arrays, broadcasting other than along rows or columns, reductions over
non-adjacent axes) goes to the reference kernel: same answer, NumPy speed.

Importing this module does not import numba: the loop modules load lazily on
the first call (see ``_jit.py``).  Kernels that NumPy already runs at full
SIMD speed (matmul on BLAS; exp, log, tanh, sqrt, abs, sign, neg, pow; max and
min; equal-shape and scalar arithmetic; basic-index assignment) have no entry
here, so the table keeps the reference for them: ``docs/kernels.md`` has the
measurements behind each choice.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import reference as ref
from graphgrad.kernels import reference_math as ref_math
from graphgrad.kernels.numba_backend import opcodes as op
from graphgrad.kernels.numba_backend._checks import c, flat, ok, weak
from graphgrad.kernels.numba_backend._jit import lazy_module
from graphgrad.kernels.numba_backend._layout import COLS, ROWS, binary_plan

_ew = lazy_module("graphgrad.kernels.numba_backend.loops.elementwise")

#: Below this many output elements a broadcast add/sub/mul/div/max/min runs in
#: NumPy: its call overhead is lower (bench/kernels.py).
BROADCAST_MIN_SIZE = 4096


# ------------------------------------------------------------------ unary
def _unary(loop, x, fallback, *args):
    if not ok(x):
        return fallback(x, *args)
    x = c(x)
    out = np.empty_like(x)
    loop(flat(x), flat(out), *args)
    return out


def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), without overflow."""
    return _unary(_ew.sigmoid, x, ref.sigmoid)


def softplus(x):
    """ln(1 + e^x), stable for large |x|."""
    return _unary(_ew.softplus, x, ref.softplus)


def erf(x):
    """erf x (libm's, per element: NumPy has no erf)."""
    return _unary(_ew.erf, x, ref_math.erf)


def erfc(x):
    """erfc x = 1 − erf x (libm's, per element)."""
    return _unary(_ew.erfc, x, ref_math.erfc)


def gelu(x):
    """x·Φ(x) = x/2·(1 + erf(x/√2)), one pass."""
    return _unary(_ew.gelu, x, ref_math.gelu)


def silu(x):
    """x·σ(x), one pass."""
    return _unary(_ew.silu, x, ref_math.silu)


def relu(x):
    """max(0, x)"""
    return _unary(_ew.relu, x, ref.relu)


def leaky_relu(x, slope):
    """x if x > 0 else slope·x"""
    if not weak(slope):
        return ref.leaky_relu(x, slope)
    return _unary(_ew.leaky_relu, x, ref.leaky_relu, float(slope))


# --------------------------------------------------------- fused backward
def _fused(code, g, s, slope, fallback, *args):
    if not (ok(g) and ok(s) and g.shape == s.shape and g.dtype == s.dtype):
        return fallback(g, s, *args)
    g, s = c(g), c(s)
    out = np.empty_like(g)
    _ew.backward(code, flat(g), flat(s), flat(out), slope)
    return out


def tanh_backward(g, y):
    """g · (1 − y²), with y = tanh(x)."""
    return _fused(op.TANH_BACKWARD, g, y, 0.0, ref.tanh_backward)


def sigmoid_backward(g, y):
    """g · y · (1 − y), with y = σ(x)."""
    return _fused(op.SIGMOID_BACKWARD, g, y, 0.0, ref.sigmoid_backward)


def relu_backward(g, y):
    """g · [y > 0], with y = relu(x)."""
    return _fused(op.RELU_BACKWARD, g, y, 0.0, ref.relu_backward)


def leaky_relu_backward(g, x, slope):
    """g · (1 if x > 0 else slope)."""
    if not weak(slope):
        return ref.leaky_relu_backward(g, x, slope)
    return _fused(op.LEAKY_RELU_BACKWARD, g, x, float(slope), ref.leaky_relu_backward, slope)


# ----------------------------------------------------------------- binary
def _binary(code, a, b, fallback):
    # NumPy's own loops are as fast for equal shapes and scalars: only the
    # broadcasts NumPy does slowly, on arrays big enough to repay the call.
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or a.shape == b.shape
            or (a.size < BROADCAST_MIN_SIZE and b.size < BROADCAST_MIN_SIZE)
            or not (ok(a) and ok(b) and a.dtype == b.dtype)):
        return fallback(a, b)
    plan = binary_plan(a.shape, b.shape)
    if plan is None or plan[0] not in (ROWS, COLS):
        return fallback(a, b)
    layout, swapped, shape, n, m = plan
    if swapped:
        a, b, code = b, a, op.SWAPPED[code]
    a = c(a)
    out = np.empty(shape, a.dtype)
    if layout == ROWS:
        _ew.binary_rows(code, a.reshape(n, m), flat(c(b)), out.reshape(n, m))
    else:
        _ew.binary_cols(code, a.reshape(n, m), flat(c(b)), out.reshape(n, m))
    return out


def add(a, b):
    """a + b (broadcasting)"""
    return _binary(op.ADD, a, b, ref.add)


def sub(a, b):
    """a - b (broadcasting)"""
    return _binary(op.SUB, a, b, ref.sub)


def mul(a, b):
    """a · b (broadcasting)"""
    return _binary(op.MUL, a, b, ref.mul)


def div(a, b):
    """a / b (broadcasting)"""
    return _binary(op.DIV, a, b, ref.div)


def maximum(a, b):
    """elementwise max(a, b)"""
    return _binary(op.MAXIMUM, a, b, ref.maximum)


def minimum(a, b):
    """elementwise min(a, b)"""
    return _binary(op.MINIMUM, a, b, ref.minimum)


def where(cond, a, b):
    """cond ? a : b"""
    if not (type(cond) is np.ndarray and cond.dtype == np.bool_ and cond.ndim and cond.size):
        return ref.where(cond, a, b)
    a_arr = ok(a) and a.shape == cond.shape
    b_arr = ok(b) and b.shape == cond.shape
    cond_ = flat(c(cond))
    if a_arr and b_arr and a.dtype == b.dtype:
        out = np.empty(cond.shape, a.dtype)
        _ew.where_arrays(cond_, flat(c(a)), flat(c(b)), flat(out))
    elif a_arr and weak(b):
        out = np.empty(cond.shape, a.dtype)
        _ew.where_scalar(cond_, flat(c(a)), float(b), flat(out), False)
    elif b_arr and weak(a):
        out = np.empty(cond.shape, b.dtype)
        _ew.where_scalar(cond_, flat(c(b)), float(a), flat(out), True)
    else:
        return ref.where(cond, a, b)
    return out


def clip(x, lo, hi):
    """min(max(x, lo), hi); either bound may be None."""
    bounds_ok = all(v is None or (weak(v) and v == v) for v in (lo, hi))
    if not (ok(x) and bounds_ok) or (lo is None and hi is None):
        return ref.clip(x, lo, hi)
    x = c(x)
    out = np.empty_like(x)
    _ew.clip(flat(x), -np.inf if lo is None else float(lo),
             np.inf if hi is None else float(hi), flat(out))
    return out
