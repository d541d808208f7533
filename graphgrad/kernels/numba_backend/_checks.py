"""Argument checks shared by the Numba wrappers (plain Python, no numba)."""

from __future__ import annotations

import numpy as np


def ok(x) -> bool:
    """A non-empty float32/float64 ndarray with at least one axis: what the loops take."""
    return type(x) is np.ndarray and x.dtype.char in "fd" and x.ndim > 0 and x.size > 0


def c(x):
    """x as a C-contiguous array (a copy only when it is not one already)."""
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def flat(x):
    """The 1-D view of a C-contiguous array."""
    return x.reshape(-1)


def weak(s) -> bool:
    """A Python int or float: NumPy 2 casts it to the array's dtype ("weak" scalar)."""
    return type(s) is float or type(s) is int
