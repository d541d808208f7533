"""Pure-NumPy twins of the fused recurrent-cell kernels (one LSTM or GRU step).

The matrix products stay outside (``np.matmul`` via the ops); these kernels
fuse everything elementwise that one step does after them.  Gate orders are
PyTorch's: LSTM ``i, f, g, o`` and GRU ``r, z, n`` along the last axis.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def lstm_cell(gates, c):
    """One LSTM step after the products: gates (N, 4H) = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh.

    i, f, o = σ(gates blocks 0, 1, 3), g = tanh(block 2);
    c' = f·c + i·g,  h' = o·tanh(c').
    Returns (h', c', act) with act = [i, f, g, o] (N, 4H), kept for the backward.
    """
    hs = c.shape[-1]
    act = np.empty_like(gates)
    act[..., :2 * hs] = _sigmoid(gates[..., :2 * hs])
    act[..., 2 * hs:3 * hs] = np.tanh(gates[..., 2 * hs:3 * hs])
    act[..., 3 * hs:] = _sigmoid(gates[..., 3 * hs:])
    i, f, g, o = (act[..., k * hs:(k + 1) * hs] for k in range(4))
    c_new = f * c + i * g
    h_new = o * np.tanh(c_new)
    return h_new, c_new, act


def lstm_cell_backward(dh, dc, act, c, c_new):
    """Adjoint of lstm_cell: (∂/∂gates (N, 4H), ∂/∂c (N, H)) from ∂/∂h' and ∂/∂c'.

    With t = tanh(c'):  δc = dc + dh·o·(1 − t²);
    ∂i = δc·g·i(1 − i), ∂f = δc·c·f(1 − f), ∂g = δc·i·(1 − g²), ∂o = dh·t·o(1 − o);
    ∂c = δc·f.
    """
    hs = c.shape[-1]
    i, f, g, o = (act[..., k * hs:(k + 1) * hs] for k in range(4))
    t = np.tanh(c_new)
    dct = dc + dh * o * (1 - t * t)
    dgates = np.empty_like(act)
    dgates[..., :hs] = dct * g * i * (1 - i)
    dgates[..., hs:2 * hs] = dct * c * f * (1 - f)
    dgates[..., 2 * hs:3 * hs] = dct * i * (1 - g * g)
    dgates[..., 3 * hs:] = dh * t * o * (1 - o)
    return dgates, dct * f


def gru_cell(gi, gh, h):
    """One GRU step after the products: gi = x·W_ihᵀ + b_ih, gh = h·W_hhᵀ + b_hh (N, 3H).

    r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n) (b_hn inside
    the product, as PyTorch), h' = (1 − z)·n + z·h.
    Returns (h', act) with act = [r, z, n] (N, 3H), kept for the backward.
    """
    hs = h.shape[-1]
    act = np.empty_like(gi)
    act[..., :2 * hs] = _sigmoid(gi[..., :2 * hs] + gh[..., :2 * hs])
    r, z = act[..., :hs], act[..., hs:2 * hs]
    act[..., 2 * hs:] = np.tanh(gi[..., 2 * hs:] + r * gh[..., 2 * hs:])
    n = act[..., 2 * hs:]
    return (1 - z) * n + z * h, act


def gru_cell_backward(dh, act, gh, h):
    """Adjoint of gru_cell: (∂/∂gi, ∂/∂gh, ∂/∂h) from ∂/∂h'.

    ∂a_n = dh·(1 − z)·(1 − n²), ∂a_z = dh·(h − n)·z(1 − z),
    ∂a_r = ∂a_n·gh_n·r(1 − r);  ∂gi = [∂a_r, ∂a_z, ∂a_n],
    ∂gh = [∂a_r, ∂a_z, ∂a_n·r],  ∂h = dh·z.
    """
    hs = h.shape[-1]
    r, z, n = act[..., :hs], act[..., hs:2 * hs], act[..., 2 * hs:]
    dan = dh * (1 - z) * (1 - n * n)
    dgi = np.empty_like(act)
    dgi[..., :hs] = dan * gh[..., 2 * hs:] * r * (1 - r)
    dgi[..., hs:2 * hs] = dh * (h - n) * z * (1 - z)
    dgi[..., 2 * hs:] = dan
    dgh = dgi.copy()
    dgh[..., 2 * hs:] = dan * r
    return dgi, dgh, dh * z


KERNELS = {name: globals()[name] for name in
           ("lstm_cell", "lstm_cell_backward", "gru_cell", "gru_cell_backward")}
