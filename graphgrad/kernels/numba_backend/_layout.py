"""Shape planning for the Numba wrappers: which loop fits a broadcast or a reduction.

Plain Python, cached per shape: a training loop sees the same few shapes every
step, so after the first step planning is one dictionary lookup.  ``None``
means "no loop fits": the wrapper then calls the NumPy reference kernel, which
also produces NumPy's errors for shapes that do not broadcast.
"""

from __future__ import annotations

from math import prod

import numpy as np

_MAX_CACHE = 4096

# Binary layouts: how operand b relates to the output when a has its shape.
SAME, SCALAR, ROWS, COLS = range(4)


def _cached(cache, key, compute):
    try:
        return cache[key]
    except KeyError:
        pass
    except TypeError:  # unhashable key (a list axis): plan without caching
        return compute(*key)
    if len(cache) >= _MAX_CACHE:
        cache.clear()
    value = cache[key] = compute(*key)
    return value


def _binary_plan(sa, sb):
    try:
        out = np.broadcast_shapes(sa, sb)
    except ValueError:
        return None
    if sa == sb:
        return SAME, False, out, 0, 0
    for swapped, full, part in ((False, sa, sb), (True, sb, sa)):
        if full != out:
            continue
        total = prod(out)
        if prod(part) == 1:
            return SCALAR, swapped, out, total, 1
        stripped = part[next((i for i, d in enumerate(part) if d != 1), len(part)):]
        if stripped and out[len(out) - len(stripped):] == stripped:
            m = prod(stripped)
            return ROWS, swapped, out, total // m, m
        padded = (1,) * (len(out) - len(part)) + tuple(part)
        k = len(padded)
        while k and padded[k - 1] == 1:
            k -= 1
        if padded[:k] == out[:k]:
            n = prod(out[:k])
            return COLS, swapped, out, n, total // n
    return None


_BINARY = {}


def binary_plan(sa, sb):
    """(layout, swapped, out_shape, n, m) for a ∘ b with shapes sa, sb, or None.

    ``swapped`` means b has the output's shape and a is the broadcast operand.
    ROWS: the broadcast operand is a trailing block (n, m) → (m,); COLS: a
    leading block (n, m) → (n,); SCALAR: one element; SAME: equal shapes.
    """
    return _cached(_BINARY, (sa, sb), _binary_plan)


def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            return None
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        return None
    return tuple(sorted(out))


def _reduce_plan(shape, axis, keepdims):
    axes = _normalize_axes(axis, len(shape))
    if not axes or axes[-1] - axes[0] + 1 != len(axes):
        return None
    lo, hi = axes[0], axes[-1] + 1
    kept = tuple(1 if lo <= i < hi else d for i, d in enumerate(shape))
    out_shape = kept if keepdims else shape[:lo] + shape[hi:]
    return prod(shape[:lo]), prod(shape[lo:hi]), prod(shape[hi:]), out_shape


_REDUCE = {}


def reduce_plan(shape, axis, keepdims):
    """(p, n, m, out_shape) to reduce `axis` of `shape` as the middle axis of (p, n, m).

    None when the axes are not one contiguous block (or are invalid or empty).
    """
    return _cached(_REDUCE, (shape, axis, keepdims), _reduce_plan)


def _sum_to_shape_plan(gshape, shape):
    lead = len(gshape) - len(shape)
    if lead < 0:
        return None
    axes = list(range(lead)) + [
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1
    ]
    if not axes or any(n not in (1, gshape[i + lead]) for i, n in enumerate(shape)):
        return None
    lo, hi = axes[0], axes[-1] + 1
    # size-1 axes inside the block may join it: summing over them changes nothing
    if any(i not in axes and gshape[i] != 1 for i in range(lo, hi)):
        return None
    return prod(gshape[:lo]), prod(gshape[lo:hi]), prod(gshape[hi:])


_SUM_TO = {}


def sum_to_shape_plan(gshape, shape):
    """(p, n, m): summing g back to `shape` is a (p, n, m) middle-axis sum, or None."""
    return _cached(_SUM_TO, (gshape, shape), _sum_to_shape_plan)
