"""Built-in recurrent layers: ``RNNCell``, ``LSTMCell``, ``GRUCell`` and the sequence layers
``RNN``, ``LSTM``, ``GRU``, with PyTorch's arguments, parameter names, layouts and returns.

Parameters are stored exactly as PyTorch stores them, so a PyTorch state dict
loads key for key (``graphgrad.interop``): ``weight_ih_l{k}`` (G·H, I_k),
``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G·H), with
``_reverse`` for the second direction; G = 1 (RNN), 3 (GRU, gates r, z, n) or
4 (LSTM, gates i, f, g, o); I_0 = input_size and I_k = D·H above (D = 2 when
bidirectional).  The cells use the same names without the ``_l{k}`` suffix.

A step is two matrix products and one fused op (``gg.lstm_cell``,
``gg.gru_cell``, ``tanh``/``relu`` for the plain RNN).  The sequence layers
compute the input product of every time step at once (one (T·N, I) × (I, G·H)
product per layer and direction) and then loop over time; each step runs as
one call of ``<layer>.l{k}`` (``.l{k}_reverse``), which the pictures roll into
one node "× T steps" (``Module.time_step``).
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import K, Module, Parameter, resolve_rng

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _int(who, what, value, low=1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{who}: {what} must be an integer >= {low}, got {value!r}")
    return int(value)


def _uniform(rng, shape, bound, dtype):
    return Parameter(rng.uniform(-bound, bound, shape).astype(dtype))


def _mode(who, nonlinearity) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"


def _step(mode, xw, h, c, w_hh_t, b_hh):
    """One step: (h', c') from xw = x·W_ihᵀ + b_ih (+ b_hh, folded in except for GRU)."""
    if mode == "LSTM":
        return gg.lstm_cell(xw + h @ w_hh_t, c)
    if mode == "GRU":
        gh = h @ w_hh_t
        return gg.gru_cell(xw, gh if b_hh is None else gh + b_hh, h), None
    pre = xw + h @ w_hh_t
    return (gg.tanh(pre) if mode == "RNN_TANH" else gg.relu(pre)), None


def _state_check(who, name, state, shape, dtype):
    if tuple(state.shape) != shape:
        raise ValueError(f"{who}: {name} must have shape {shape} (as PyTorch), got "
                         f"{tuple(state.shape)}")
    return state if state.dtype == dtype else state.astype(dtype)


# ------------------------------------------------------------------ cells
class _CellBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, rng=None,
                 dtype="float32"):
        super().__init__()
        who = type(self).__name__
        self.input_size = _int(who, "input_size", input_size)
        self.hidden_size = _int(who, "hidden_size", hidden_size)
        self.bias = bool(bias)
        g = _GATES[self.mode] * self.hidden_size
        rng, bound = resolve_rng(rng), 1.0 / np.sqrt(self.hidden_size)
        self.weight_ih = _uniform(rng, (g, self.input_size), bound, dtype)
        self.weight_hh = _uniform(rng, (g, self.hidden_size), bound, dtype)
        self.bias_ih = _uniform(rng, (g,), bound, dtype) if bias else None
        self.bias_hh = _uniform(rng, (g,), bound, dtype) if bias else None

    def _prepare(self, x, hx):
        who = type(self).__name__
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{who}: expected input (N, {self.input_size}) or "
                             f"({self.input_size},), got shape {tuple(x.shape)}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape((1, self.input_size))
        shape = (x.shape[0], self.hidden_size)
        states = []
        for k, name in enumerate(("h0", "c0")[: 2 if self.mode == "LSTM" else 1]):
            s = hx[k] if self.mode == "LSTM" and hx is not None else hx
            if s is None:
                s = gg.tensor(np.zeros(shape, dtype=x.dtype))
            else:
                s = gg.tensor(s) if not isinstance(s, gg.Tensor) else s
                s = s.reshape(shape) if unbatched and s.ndim == 1 else s
                s = _state_check(who, name, s, shape, x.dtype)
            states.append(s)
        xw = x @ self.weight_ih.T
        if self.bias:
            xw = xw + self.bias_ih
            if self.mode != "GRU":
                xw = xw + self.bias_hh
        return unbatched, xw, states

    def forward(self, input, hx=None):
        unbatched, xw, states = self._prepare(input, hx)
        h, c = _step(self.mode, xw, states[0], states[1] if len(states) > 1 else None,
                     self.weight_hh.T, self.bias_hh)
        if unbatched:
            h = h.reshape((self.hidden_size,))
            c = None if c is None else c.reshape((self.hidden_size,))
        return (h, c) if self.mode == "LSTM" else h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    @classmethod
    def example(cls, rng=None):
        """A cell with input_size 3 and hidden_size 4."""
        return cls(3, 4, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3) float32 input (batch 2, 3 features); the state starts at zero."""
        return gg.randn(2, 3, rng=rng)


class RNNCell(_CellBase):
    """Elman cell, as ``torch.nn.RNNCell``: h' = tanh(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh).

    ``nonlinearity="relu"`` uses relu instead of tanh.  Called as
    ``cell(input, hx=None)`` with input (N, input_size) or (input_size,) and hx
    (N, hidden_size) (zeros if None); returns h'.  Parameters ``weight_ih``
    (H, I), ``weight_hh`` (H, H), ``bias_ih``, ``bias_hh`` (H), all
    U(−1/√H, 1/√H) as PyTorch.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", rng=None, dtype="float32"):
        self.mode = _mode("RNNCell", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, rng, dtype)


class LSTMCell(_CellBase):
    """LSTM cell, as ``torch.nn.LSTMCell``: one fused step ``gg.lstm_cell``.

    gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh, split i, f, g, o (PyTorch's order);
    c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c').  Called as
    ``cell(input, hx=None)`` with hx = (h, c) (zeros if None); returns (h', c').
    Parameters ``weight_ih`` (4H, I), ``weight_hh`` (4H, H), ``bias_ih``,
    ``bias_hh`` (4H).
    """

    mode = "LSTM"


class GRUCell(_CellBase):
    """GRU cell, as ``torch.nn.GRUCell``: one fused step ``gg.gru_cell``.

    With gi = x·W_ihᵀ + b_ih and gh = h·W_hhᵀ + b_hh split r, z, n:
    r = σ(gi_r + gh_r), z = σ(gi_z + gh_z), n = tanh(gi_n + r·gh_n),
    h' = (1 − z)·n + z·h.  Called as ``cell(input, hx=None)``; returns h'.
    Parameters ``weight_ih`` (3H, I), ``weight_hh`` (3H, H), ``bias_ih``,
    ``bias_hh`` (3H).
    """

    mode = "GRU"


# ------------------------------------------------------------- sequences
class _SequenceBase(Module):
    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, rng=None, dtype="float32"):
        super().__init__()
        who = type(self).__name__
        self.input_size = _int(who, "input_size", input_size)
        self.hidden_size = _int(who, "hidden_size", hidden_size)
        self.num_layers = _int(who, "num_layers", num_layers)
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{who}: dropout is a probability in [0, 1], got {dropout}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        self.rng = None if rng is None else resolve_rng(rng)
        d, g = 1 + self.bidirectional, _GATES[self.mode] * self.hidden_size
        init_rng, bound = resolve_rng(rng), 1.0 / np.sqrt(self.hidden_size)
        for k in range(self.num_layers):
            n_in = self.input_size if k == 0 else d * self.hidden_size
            for sfx in ("", "_reverse")[:d]:
                setattr(self, f"weight_ih_l{k}{sfx}", _uniform(init_rng, (g, n_in), bound, dtype))
                setattr(self, f"weight_hh_l{k}{sfx}",
                        _uniform(init_rng, (g, self.hidden_size), bound, dtype))
                if bias:
                    setattr(self, f"bias_ih_l{k}{sfx}", _uniform(init_rng, (g,), bound, dtype))
                    setattr(self, f"bias_hh_l{k}{sfx}", _uniform(init_rng, (g,), bound, dtype))

    def _initial(self, hx, n, dtype, unbatched):
        """The initial states as a list of (L·D, N, H) tensors (h0, and c0 for LSTM)."""
        who = type(self).__name__
        shape = (self.num_layers * (1 + self.bidirectional), n, self.hidden_size)
        names = ("h0", "c0") if self.mode == "LSTM" else ("h0",)
        if hx is not None and self.mode == "LSTM" and not (
                isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"{who}: hx must be a tuple (h0, c0), as PyTorch, got "
                            f"{type(hx).__name__}")
        states = []
        for k, name in enumerate(names):
            s = hx[k] if self.mode == "LSTM" and hx is not None else hx
            if s is None:
                states.append(gg.tensor(np.zeros(shape, dtype=dtype)))
                continue
            s = s if isinstance(s, gg.Tensor) else gg.tensor(np.asarray(s))
            if unbatched and s.ndim == 2:
                s = s.reshape(shape)
            states.append(_state_check(who, name, s, shape, dtype))
        return states

    def forward(self, input, hx=None):
        who, x = type(self).__name__, input
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            order = "(N, T, I)" if self.batch_first else "(T, N, I)"
            raise ValueError(f"{who}: expected input {order} or (T, I) with I = input_size "
                             f"= {self.input_size}, got shape {tuple(x.shape)}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape((x.shape[0], 1, self.input_size))
        elif self.batch_first:
            x = x.transpose((1, 0, 2))
        steps, n = x.shape[0], x.shape[1]
        states = self._initial(hx, n, x.dtype, unbatched)
        d = 1 + self.bidirectional
        finals = [[], []]
        for k in range(self.num_layers):
            outs = []
            for j, sfx in enumerate(("", "_reverse")[:d]):
                out, last = self._direction(x, k, sfx, [s[k * d + j] for s in states], steps)
                outs.append(out)
                for slot, value in enumerate(last):
                    finals[slot].append(value)
            x = outs[0] if d == 1 else gg.concatenate(outs, axis=-1)
            if self.dropout and self.training and k < self.num_layers - 1:
                x = x * K.dropout_mask(resolve_rng(self.rng), x.shape, self.dropout, x.dtype)
        if unbatched:
            output = x.reshape((steps, d * self.hidden_size))
            h_n = [gg.stack(f, axis=0).reshape((len(f), self.hidden_size))
                   for f in finals if f]
        else:
            output = x.transpose((1, 0, 2)) if self.batch_first else x
            h_n = [gg.stack(f, axis=0) for f in finals if f]
        return (output, (h_n[0], h_n[1])) if self.mode == "LSTM" else (output, h_n[0])

    def _direction(self, x, k, sfx, state, steps):
        """One layer in one direction over time: (outputs (T, N, H), final states)."""
        w_ih = getattr(self, f"weight_ih_l{k}{sfx}")
        w_hh = getattr(self, f"weight_hh_l{k}{sfx}")
        b_hh = None
        xw = x @ w_ih.T
        if self.bias:
            xw = xw + getattr(self, f"bias_ih_l{k}{sfx}")
            b_hh = getattr(self, f"bias_hh_l{k}{sfx}")
            if self.mode != "GRU":
                xw, b_hh = xw + b_hh, None
        w_hh_t = w_hh.T
        h, c = state[0], state[1] if len(state) > 1 else None
        hs = [None] * steps
        order = range(steps - 1, -1, -1) if sfx else range(steps)
        for t in order:
            with self.time_step(f"l{k}{sfx}"):
                h, c = _step(self.mode, xw[t], h, c, w_hh_t, b_hh)
            hs[t] = h
        return gg.stack(hs, axis=0), ((h,) if c is None else (h, c))

    def extra_repr(self) -> str:
        extra = "".join(f", {name}={getattr(self, name)}" for name, default in
                        (("num_layers", 1), ("bias", True), ("batch_first", True),
                         ("dropout", 0.0), ("bidirectional", False))
                        if getattr(self, name) != default)
        return f"{self.input_size}, {self.hidden_size}{extra}"

    @classmethod
    def example(cls, rng=None):
        """A two-layer bidirectional layer, input_size 3, hidden_size 2."""
        return cls(3, 2, num_layers=2, bidirectional=True, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 3) float32 batch-first input: 2 sequences of 3 steps of 3 features."""
        return gg.randn(2, 3, 3, rng=rng)


class RNN(_SequenceBase):
    """Multi-layer Elman RNN, as ``torch.nn.RNN`` (but ``batch_first=True`` by default).

    h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh) (relu with
    ``nonlinearity="relu"``), layer by layer; with ``bidirectional=True`` a second
    pass runs from the last step to the first and the two are concatenated;
    ``dropout`` applies to the outputs of every layer but the last, in training.
    ``rnn(input, hx=None)`` takes input (N, T, I) (``batch_first``), (T, N, I) or
    unbatched (T, I) and h0 (L·D, N, H), and returns ``(output, h_n)``: output
    (N, T, D·H) (forward direction in ``[..., :H]``), h_n (L·D, N, H) with index
    layer·D + direction.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, rng=None,
                 dtype="float32"):
        self.mode = _mode("RNN", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, rng, dtype)


class LSTM(_SequenceBase):
    """Multi-layer LSTM, as ``torch.nn.LSTM`` (but ``batch_first=True`` by default).

    Each step is ``gg.lstm_cell`` (gates i, f, g, o; c_t = f·c_{t−1} + i·g,
    h_t = o·tanh(c_t)).  ``lstm(input, hx=None)`` with hx = (h0, c0), each
    (L·D, N, H), returns ``(output, (h_n, c_n))``; layers, directions, dropout
    and shapes as ``RNN``.
    """

    mode = "LSTM"


class GRU(_SequenceBase):
    """Multi-layer GRU, as ``torch.nn.GRU`` (but ``batch_first=True`` by default).

    Each step is ``gg.gru_cell`` (gates r, z, n; n = tanh(gi_n + r·(W_hn h + b_hn)),
    h_t = (1 − z)·n + z·h_{t−1}).  ``gru(input, hx=None)`` returns
    ``(output, h_n)``; layers, directions, dropout and shapes as ``RNN``.
    """

    mode = "GRU"


@gg.hookimpl
def graphgrad_register_layers():
    """The built-in recurrent layers."""
    return [RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU]
