"""Numba loops for one fused LSTM or GRU step (the elementwise part after the products).

Each loop runs over 2-D C-contiguous (N, G·H) gate arrays and (N, H) states and
writes into preallocated outputs; the wrappers in ``numba_backend/recurrent.py``
validate and allocate.  σ and tanh are ``approx``'s: the vectorisable float32
approximations, exact ``math`` for float64.

Per row, each pass is a short loop with at most one σ or tanh: one body with
four of them did not vectorise and ran 2× slower than the NumPy twin; split
passes run 2.5× faster than it (float32, 64 × 64, docs/kernels.md).  σ is the
stable form (as the twin), so a gate that underflows stays a denormal, not 0
(0·∞ would make NaN where the twin gives ±∞).

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops import approx


@kernel
def lstm_cell(gates, c, h_new, c_new, act):
    """act = [σ(i), σ(f), tanh(g), σ(o)], c' = f·c + i·g, h' = o·tanh(c')."""
    n, hs = c.shape
    for b in range(n):
        for j in range(2 * hs):
            act[b, j] = approx.sigmoid(gates[b, j])
        for j in range(2 * hs, 3 * hs):
            act[b, j] = approx.tanh(gates[b, j])
        for j in range(3 * hs, 4 * hs):
            act[b, j] = approx.sigmoid(gates[b, j])
        for j in range(hs):
            c_new[b, j] = act[b, hs + j] * c[b, j] + act[b, j] * act[b, 2 * hs + j]
        for j in range(hs):
            h_new[b, j] = act[b, 3 * hs + j] * approx.tanh(c_new[b, j])


@kernel
def lstm_cell_backward(dh, dc, act, c, c_new, dgates, dc_prev):
    """The adjoint of lstm_cell (see reference_recurrent.lstm_cell_backward)."""
    n, hs = c.shape
    one = c.dtype.type(1)
    for b in range(n):
        for j in range(hs):  # tanh(c') first, in dc_prev (overwritten below)
            dc_prev[b, j] = approx.tanh(c_new[b, j])
        for j in range(hs):
            i = act[b, j]
            f = act[b, hs + j]
            g = act[b, 2 * hs + j]
            o = act[b, 3 * hs + j]
            t = dc_prev[b, j]
            d = dh[b, j]
            dct = dc[b, j] + d * o * (one - t * t)
            dgates[b, j] = dct * g * i * (one - i)
            dgates[b, hs + j] = dct * c[b, j] * f * (one - f)
            dgates[b, 2 * hs + j] = dct * i * (one - g * g)
            dgates[b, 3 * hs + j] = d * t * o * (one - o)
            dc_prev[b, j] = dct * f


@kernel
def gru_cell(gi, gh, h, h_new, act):
    """act = [r, z, n]; r, z = σ(gi + gh), n = tanh(gi_n + r·gh_n); h' = (1 − z)·n + z·h."""
    n, hs = h.shape
    one = h.dtype.type(1)
    for b in range(n):
        for j in range(2 * hs):
            act[b, j] = approx.sigmoid(gi[b, j] + gh[b, j])
        for j in range(hs):
            act[b, 2 * hs + j] = approx.tanh(gi[b, 2 * hs + j] + act[b, j] * gh[b, 2 * hs + j])
        for j in range(hs):
            z = act[b, hs + j]
            h_new[b, j] = (one - z) * act[b, 2 * hs + j] + z * h[b, j]


@kernel
def gru_cell_backward(dh, act, gh, h, dgi, dgh, dh_prev):
    """The adjoint of gru_cell (see reference_recurrent.gru_cell_backward)."""
    n, hs = h.shape
    one = h.dtype.type(1)
    for b in range(n):
        for j in range(hs):
            r = act[b, j]
            z = act[b, hs + j]
            nn = act[b, 2 * hs + j]
            d = dh[b, j]
            dan = d * (one - z) * (one - nn * nn)
            dar = dan * gh[b, 2 * hs + j] * r * (one - r)
            daz = d * (h[b, j] - nn) * z * (one - z)
            dgi[b, j] = dar
            dgi[b, hs + j] = daz
            dgi[b, 2 * hs + j] = dan
            dgh[b, j] = dar
            dgh[b, hs + j] = daz
            dgh[b, 2 * hs + j] = dan * r
            dh_prev[b, j] = d * z
