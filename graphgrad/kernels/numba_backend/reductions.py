"""Numba wrappers for reductions, softmax, cross-entropy and scatter-add.

Same contract as the other wrapper modules (see the package docstring): each
function has its reference twin's name and signature, checks what its loop
needs and otherwise calls the twin.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import reference as ref
from graphgrad.kernels.numba_backend._checks import c, ok
from graphgrad.kernels.numba_backend._jit import lazy_module
from graphgrad.kernels.numba_backend._layout import reduce_plan, sum_to_shape_plan

_red = lazy_module("graphgrad.kernels.numba_backend.loops.reduce")
_sm = lazy_module("graphgrad.kernels.numba_backend.loops.softmax")
_sc = lazy_module("graphgrad.kernels.numba_backend.loops.scatter")


#: Rows at least this long take their max from NumPy's SIMD reduction; shorter
#: rows use the kernel's scalar loop (NumPy's per-row overhead dominates there).
LONG_ROW = 128
_NO_MAXIMA = {np.dtype(np.float32): np.empty(0, np.float32),
              np.dtype(np.float64): np.empty(0, np.float64)}


def _row_maxima(x2):
    """Row maxima for the softmax/logsumexp loops: NumPy's for long rows, else empty."""
    return np.max(x2, axis=1) if x2.shape[1] >= LONG_ROW else _NO_MAXIMA[x2.dtype]


# ------------------------------------------------------------- reductions
# A reduction over one run of adjacent axes views x as (p, n, m) and reduces n:
# the family's `*_inner` loop when m == 1 (rows), its `*_middle` loop otherwise.
def _plan(x, axis, keepdims):
    """(p, n, m, out_shape), or None when no loop fits (the twin answers)."""
    return reduce_plan(x.shape, axis, keepdims) if ok(x) else None


def _run(inner, middle, x, plan, *extra):
    p, n, m, out_shape = plan
    out = np.empty(out_shape, x.dtype)
    x = c(x)
    if m == 1:
        inner(x.reshape(p, n), out.reshape(p), *extra)
    else:
        middle(x.reshape(p, n, m), out.reshape(p, m), *extra)
    return out


def sum(x, axis=None, keepdims=False):  # noqa: A001 - the kernel's name is the op's name
    """Σ over axis"""
    plan = _plan(x, axis, keepdims)
    if plan is None:
        return ref.sum(x, axis, keepdims)
    return _run(_red.sum_inner, _red.sum_middle, x, plan, 1.0)


def mean(x, axis=None, keepdims=False):
    """Σ x / n over axis: the sum loops with the count as divisor"""
    plan = _plan(x, axis, keepdims)
    if plan is None:
        return ref.mean(x, axis, keepdims)
    return _run(_red.sum_inner, _red.sum_middle, x, plan, float(plan[1]))


def var(x, axis=None, ddof=0, keepdims=False):
    """Σ (x − x̄)² / (n − ddof) over axis"""
    plan = _plan(x, axis, keepdims) if type(ddof) is int else None
    if plan is None or plan[1] - ddof <= 0:  # no degrees of freedom: NumPy's warning and nan
        return ref.var(x, axis, ddof, keepdims)
    return _run(_red.var_inner, _red.var_middle, x, plan, ddof)


def logsumexp(x, axis=None, keepdims=False):
    """ln Σ e^x over axis, shifted by the max so ±1000 does not overflow."""
    plan = _plan(x, axis, keepdims)
    if plan is None:
        return ref.logsumexp(x, axis, keepdims)
    p, n, m, _ = plan
    if m == 1:  # rows: the loop takes NumPy's SIMD row maxima for long rows
        x = c(x)
        return _run(_red.logsumexp_inner, None, x, plan, _row_maxima(x.reshape(p, n)))
    return _run(None, _red.logsumexp_middle, x, plan)


def sum_to_shape(g, shape):
    """Undo broadcasting: sum g over the axes along which `shape` was broadcast."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    plan = sum_to_shape_plan(g.shape, shape) if ok(g) else None
    if plan is None:
        return ref.sum_to_shape(g, shape)
    return _run(_red.sum_inner, _red.sum_middle, g, (*plan, shape), 1.0)


# ---------------------------------------------------------------- softmax
def _rows(x, axis):
    """x with `axis` moved last, as a C-contiguous (rows, n) array, and the moved shape."""
    moved = x if axis in (-1, x.ndim - 1) else np.moveaxis(x, axis, -1)
    moved = c(moved)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def _unrows(out2, moved_shape, axis, ndim):
    out = out2.reshape(moved_shape)
    return out if axis in (-1, ndim - 1) else np.moveaxis(out, -1, axis)


def _axis_ok(x, axis):
    return ok(x) and type(axis) is int and -x.ndim <= axis < x.ndim


def _forward_rows(loop, x, axis, fallback):
    """Run the softmax-module loop `loop` (``loop(x2, out, row_maxima)``) along `axis`,
    or the NumPy `fallback` (the loop module is loaded only when it is used)."""
    if not _axis_ok(x, axis):
        return fallback(x, axis)
    x2, moved = _rows(x, axis)
    out = np.empty_like(x2)
    getattr(_sm, loop)(x2, out, _row_maxima(x2))
    return _unrows(out, moved, axis, x.ndim)


def _backward_rows(loop, g, y, axis, fallback):
    """Run the softmax-module loop `loop` (``loop(g2, y2, out)``) along `axis`, or the
    NumPy `fallback`."""
    if not (_axis_ok(g, axis) and ok(y) and g.shape == y.shape and g.dtype == y.dtype):
        return fallback(g, y, axis)
    g2, moved = _rows(g, axis)
    y2, _ = _rows(y, axis)
    out = np.empty_like(g2)
    getattr(_sm, loop)(g2, y2, out)
    return _unrows(out, moved, axis, g.ndim)


def softmax(x, axis=-1):
    """e^(x − max) / Σ e^(x − max) along axis."""
    return _forward_rows("softmax_rows", x, axis, ref.softmax)


def log_softmax(x, axis=-1):
    """x − logsumexp(x) along axis."""
    return _forward_rows("log_softmax_rows", x, axis, ref.log_softmax)


def softmax_backward(g, y, axis=-1):
    """y · (g − Σ g·y), the vector-Jacobian product of softmax with output y."""
    return _backward_rows("softmax_backward_rows", g, y, axis, ref.softmax_backward)


def log_softmax_backward(g, y, axis=-1):
    """g − e^y · Σ g, the vector-Jacobian product of log_softmax with output y."""
    return _backward_rows("log_softmax_backward_rows", g, y, axis, ref.log_softmax_backward)


def _labels(labels, n):
    if type(labels) is not np.ndarray or labels.dtype.kind not in "iu" or labels.shape != (n,):
        return None
    return c(labels.astype(np.intp, copy=False))


def softmax_cross_entropy(logits, labels):
    """Fused log-softmax + NLL over the last axis of (N, C) logits: (loss, probs)."""
    lab = _labels(labels, len(logits)) if ok(logits) and logits.ndim == 2 else None
    if lab is None:
        return ref.softmax_cross_entropy(logits, labels)
    logits = c(logits)
    loss = np.empty(len(logits), logits.dtype)
    probs = np.empty_like(logits)
    if _sm.softmax_cross_entropy(logits, lab, loss, probs, _row_maxima(logits)) >= 0:
        return ref.softmax_cross_entropy(logits, labels)  # a bad label: NumPy's error
    return loss, probs


def softmax_cross_entropy_backward(g, probs, labels):
    """∂/∂z of Σ_i g_i · loss_i = g_i · (softmax(z_i) − onehot(y_i))."""
    fits = (ok(probs) and probs.ndim == 2 and ok(g) and g.shape == (len(probs),)
            and g.dtype == probs.dtype)
    lab = _labels(labels, len(probs)) if fits else None
    if lab is None:
        return ref.softmax_cross_entropy_backward(g, probs, labels)
    probs = c(probs)
    out = np.empty_like(probs)
    if _sm.softmax_cross_entropy_backward(c(g), probs, lab, out) >= 0:
        return ref.softmax_cross_entropy_backward(g, probs, labels)
    return out


# ---------------------------------------------------------------- scatter
def index_add(shape, index, g, dtype=None):
    """zeros(shape) with g scatter-added at `index` (repeated indices accumulate)."""
    shape = tuple(shape)
    idx = index[0] if type(index) is tuple and len(index) == 1 else index
    fits = (
        ok(g) and (dtype is None or np.dtype(dtype) == g.dtype)
        and type(idx) is np.ndarray and idx.dtype.kind in "iu" and idx.ndim == 1
        and len(shape) >= 1 and 0 not in shape and g.shape == (len(idx),) + shape[1:]
    )
    if not fits:
        return ref.index_add(shape, index, g, dtype)
    out = np.zeros(shape, g.dtype)
    rows = out.reshape(shape[0], -1)
    if _sc.index_add_rows(rows, c(idx.astype(np.intp, copy=False)),
                          c(g).reshape(len(idx), -1)) >= 0:
        return ref.index_add(shape, index, g, dtype)  # out of range: NumPy's IndexError
    return out

