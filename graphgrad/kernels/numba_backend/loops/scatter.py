"""Numba loop for the scatter-add behind getitem's backward with an integer array.

``np.add.at`` is NumPy's unbuffered scatter and is slow (a Python-level
iterator per element); a compiled loop over the index rows is one pass.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

from graphgrad.kernels.numba_backend._jit import kernel


@kernel
def index_add_rows(out, index, g):
    """out[index[i], :] += g[i, :] (negative indices count from the end).

    Returns −1, or the position of the first index outside [−n, n); the rows
    before it have been added, so the caller must discard `out` on failure.
    """
    n, m = out.shape
    for i in range(index.size):
        r = index[i]
        if r < 0:
            r += n
        if r < 0 or r >= n:
            return i
        for j in range(m):
            out[r, j] += g[i, j]
    return -1
