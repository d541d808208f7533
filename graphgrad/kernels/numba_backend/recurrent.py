"""Numba wrappers for the fused LSTM/GRU step kernels (twins in kernels/reference_recurrent.py).

The loops take 2-D (N, G·H) gates and (N, H) states of one float dtype; any
other layout (1-D, mixed dtypes, empty, broadcast shapes) runs the NumPy twin.
The forward steps (four σ/tanh per unit) use the loop for float32 only: without
a vector maths library float64 ``exp``/``tanh`` are scalar libm calls, and the
loop measured 1.2–1.7× slower than the NumPy twin there (docs/kernels.md).
"""

from __future__ import annotations

import warnings

import numpy as np

from graphgrad.kernels import reference_recurrent as ref
from graphgrad.kernels.numba_backend._checks import c as _c
from graphgrad.kernels.numba_backend._checks import ok
from graphgrad.kernels.numba_backend._jit import lazy_module

_rec = lazy_module("graphgrad.kernels.numba_backend.loops.recurrent")
_ready: set = set()  # (loop, dtype) already compiled in this process


def _run(loop: str, *args) -> None:
    """Call loop `loop`; its first compilation per dtype runs with Numba's pedantic
    "variable ... is not in scope" SSA notice silenced (it fires for the four inlined
    σ/tanh of one step and is harmless: the loops equal their twins, see the tests)."""
    key = (loop, args[-1].dtype.char)
    if key in _ready:
        getattr(_rec, loop)(*args)
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"variable '.*' is not in scope")
        getattr(_rec, loop)(*args)
    _ready.add(key)


def _fits(gate_arrays, state_arrays, n_gates) -> bool:
    first = state_arrays[0]
    if not (ok(first) and first.ndim == 2):
        return False
    n, hs = first.shape
    dtype = first.dtype
    return (all(type(a) is np.ndarray and a.dtype == dtype and a.shape == (n, hs)
                for a in state_arrays)
            and all(type(a) is np.ndarray and a.dtype == dtype and a.shape == (n, n_gates * hs)
                    for a in gate_arrays))


def lstm_cell(gates, c):
    """One fused LSTM step; see reference_recurrent.lstm_cell."""
    if not _fits((gates,), (c,), 4) or c.dtype != np.float32:
        return ref.lstm_cell(gates, c)
    h_new, c_new, act = np.empty_like(c), np.empty_like(c), np.empty_like(gates)
    _run("lstm_cell", _c(gates), _c(c), h_new, c_new, act)
    return h_new, c_new, act


def lstm_cell_backward(dh, dc, act, c, c_new):
    """The adjoint of one fused LSTM step; see reference_recurrent.lstm_cell_backward."""
    if not _fits((act,), (c, dh, dc, c_new), 4):
        return ref.lstm_cell_backward(dh, dc, act, c, c_new)
    dgates, dc_prev = np.empty_like(act), np.empty_like(c)
    _run("lstm_cell_backward", _c(dh), _c(dc), _c(act), _c(c), _c(c_new), dgates, dc_prev)
    return dgates, dc_prev


def gru_cell(gi, gh, h):
    """One fused GRU step; see reference_recurrent.gru_cell."""
    if not _fits((gi, gh), (h,), 3) or h.dtype != np.float32:
        return ref.gru_cell(gi, gh, h)
    h_new, act = np.empty_like(h), np.empty_like(gi)
    _run("gru_cell", _c(gi), _c(gh), _c(h), h_new, act)
    return h_new, act


def gru_cell_backward(dh, act, gh, h):
    """The adjoint of one fused GRU step; see reference_recurrent.gru_cell_backward."""
    if not _fits((act, gh), (h, dh), 3):
        return ref.gru_cell_backward(dh, act, gh, h)
    dgi, dgh, dh_prev = np.empty_like(act), np.empty_like(act), np.empty_like(h)
    _run("gru_cell_backward", _c(dh), _c(act), _c(gh), _c(h), dgi, dgh, dh_prev)
    return dgi, dgh, dh_prev
