"""Fused recurrent-cell ops: one LSTM or GRU step after its matrix products, one Function each.

A step of an LSTM or GRU is two matrix products (BLAS) and a dozen elementwise
operations on the gates.  ``lstm_cell`` and ``gru_cell`` run the elementwise
part as one kernel forward and one kernel backward.  Without a graph to record
(plain ``backward()``) backward calls the fused adjoint kernel; with
``create_graph=True`` it is written with graphgrad ops from the saved inputs,
so it is differentiable again.  Gate orders are PyTorch's (LSTM i, f, g, o; GRU
r, z, n), so weights loaded from a PyTorch state dict need no reordering.
"""

from __future__ import annotations

from graphgrad.autograd.function import Function
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, recording, wrap
from graphgrad.ops.activations import sigmoid, tanh
from graphgrad.ops.shape import concatenate


def _check(op, gates, state, n_gates, gate_name):
    if state.ndim < 1 or gates.shape[:-1] != state.shape[:-1] or (
            gates.shape[-1] != n_gates * state.shape[-1]):
        raise ValueError(
            f"{op}: {gate_name} must have shape (..., {n_gates}·H) for a state of shape "
            f"(..., H); got {gate_name} {tuple(gates.shape)} and state {tuple(state.shape)}")
    if gates.dtype != state.dtype:
        raise TypeError(f"{op}: {gate_name} ({gates.dtype}) and the state ({state.dtype}) "
                        "must have one dtype; cast one with .astype(...)")


class LSTMCellOp(Function):
    """(h', c') = LSTM step of gates (N, 4H) and c (N, H):  c' = f·c + i·g, h' = o·tanh(c').

    i, f, o = σ(gate blocks 0, 1, 3), g = tanh(block 2).  Backward: with
    t = tanh(c'), δc = ∂c' + ∂h'·o·(1 − t²); ∂i = δc·g·i(1 − i),
    ∂f = δc·c·f(1 − f), ∂g = δc·i·(1 − g²), ∂o = ∂h'·t·o(1 − o); ∂c = δc·f.
    """

    @staticmethod
    def forward(ctx, gates, c):
        _check("lstm_cell", gates, c, 4, "gates")
        h_new, c_new, act = K.lstm_cell(gates, c)
        ctx.save_for_backward(gates, c, act, c_new)
        return h_new, c_new

    @staticmethod
    def backward(ctx, dh, dc):
        gates, c, act, c_new = ctx.saved_tensors
        if not recording():
            dgates, dc_prev = K.lstm_cell_backward(dh.data, dc.data, act.data, c.data,
                                                   c_new.data)
            return wrap(dgates), wrap(dc_prev)
        hs = c.shape[-1]  # differentiable form, from the inputs
        i, f, o = (sigmoid(gates[..., k * hs:(k + 1) * hs]) for k in (0, 1, 3))
        g = tanh(gates[..., 2 * hs:3 * hs])
        t = tanh(f * c + i * g)
        dct = dc + dh * o * (1 - t * t)
        dgates = concatenate([dct * g * i * (1 - i), dct * c * f * (1 - f),
                              dct * i * (1 - g * g), dh * t * o * (1 - o)], axis=-1)
        return dgates, dct * f


class GRUCellOp(Function):
    """h' = GRU step of gi = x·W_ihᵀ + b_ih, gh = h·W_hhᵀ + b_hh (N, 3H) and h (N, H).

    r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n),
    h' = (1 − z)·n + z·h.  Backward: ∂a_n = ∂h'·(1 − z)(1 − n²),
    ∂a_z = ∂h'·(h − n)·z(1 − z), ∂a_r = ∂a_n·gh_n·r(1 − r);
    ∂gi = [∂a_r, ∂a_z, ∂a_n], ∂gh = [∂a_r, ∂a_z, r·∂a_n], ∂h = z·∂h'.
    """

    @staticmethod
    def forward(ctx, gi, gh, h):
        _check("gru_cell", gi, h, 3, "gi")
        _check("gru_cell", gh, h, 3, "gh")
        h_new, act = K.gru_cell(gi, gh, h)
        ctx.save_for_backward(gi, gh, h, act)
        return h_new

    @staticmethod
    def backward(ctx, dh):
        gi, gh, h, act = ctx.saved_tensors
        if not recording():
            return tuple(wrap(a) for a in K.gru_cell_backward(dh.data, act.data, gh.data,
                                                             h.data))
        hs = h.shape[-1]
        r = sigmoid(gi[..., :hs] + gh[..., :hs])
        z = sigmoid(gi[..., hs:2 * hs] + gh[..., hs:2 * hs])
        ghn = gh[..., 2 * hs:]
        n = tanh(gi[..., 2 * hs:] + r * ghn)
        dan = dh * (1 - z) * (1 - n * n)
        dar = dan * ghn * r * (1 - r)
        daz = dh * (h - n) * z * (1 - z)
        return (concatenate([dar, daz, dan], axis=-1),
                concatenate([dar, daz, dan * r], axis=-1), dh * z)


def lstm_cell(gates, c):
    """One fused LSTM step: ``h', c' = lstm_cell(gates, c)``.

    ``gates`` (..., 4H) are the pre-activations x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh
    in PyTorch's order i, f, g, o; ``c`` (..., H) is the cell state.
    c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c'), forward and backward each
    one kernel.
    """
    return LSTMCellOp.apply(as_tensor(gates), as_tensor(c))


def gru_cell(gi, gh, h):
    """One fused GRU step: ``h' = gru_cell(gi, gh, h)``.

    ``gi`` = x·W_ihᵀ + b_ih and ``gh`` = h·W_hhᵀ + b_hh (..., 3H), PyTorch's order
    r, z, n; r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n),
    h' = (1 − z)·n + z·h, forward and backward each one kernel.
    """
    return GRUCellOp.apply(as_tensor(gi), as_tensor(gh), as_tensor(h))
