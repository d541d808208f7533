"""Positional encodings for sequence models: learned and sinusoidal.

Both add a vector per position to (N, T, D) input (``batch_first=True``, the
default) or (T, N, D) input, then apply dropout (``dropout=0.0``: none), as
the Transformer paper and PyTorch's tutorial do.  ``LearnedPositionalEncoding``
trains one row per position (an ``Embedding`` over the positions 0…T−1);
``SinusoidalPositionalEncoding`` adds the fixed table of Vaswani et al.,
kept as a buffer (in ``state_dict``, never trained).
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Module, resolve_rng


def _positive(who: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be an integer >= 1, got {value!r}")
    return int(value)


def sinusoidal_table(max_len: int, d_model: int, dtype="float32") -> np.ndarray:
    """The (max_len, d_model) table PE[t, 2i] = sin(t·ω_i), PE[t, 2i+1] = cos(t·ω_i).

    ω_i = 10000^(−2i/d_model) (Vaswani et al. 2017, section 3.5); computed in
    float64, then cast.  An odd d_model keeps the last sine column.
    """
    t = np.arange(max_len, dtype=np.float64)[:, None]
    omega = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-np.log(10000.0) / d_model))
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(t * omega)
    table[:, 1::2] = np.cos(t * omega[: d_model // 2])
    return table.astype(dtype)


class _PositionalEncoding(Module):
    def __init__(self, who, max_len, d_model, dropout, batch_first):
        super().__init__()
        self.max_len = _positive(who, "max_len", max_len)
        self.d_model = _positive(who, "d_model", d_model)
        self.batch_first = bool(batch_first)
        self.dropout = gg.layers.Dropout(dropout)

    def _length(self, x) -> int:
        who = type(self).__name__
        layout = "(N, T, D)" if self.batch_first else "(T, N, D)"
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"{who}: expected input {layout} with D = d_model = {self.d_model}, "
                             f"got shape {tuple(x.shape)}")
        length = x.shape[1] if self.batch_first else x.shape[0]
        if length > self.max_len:
            raise ValueError(f"{who}: the sequence has {length} positions, more than max_len="
                             f"{self.max_len}; build the layer with a larger max_len")
        return length

    def _add(self, x, rows):
        """x + rows (T, D), broadcast over the batch axis, then dropout."""
        return self.dropout(x + (rows if self.batch_first else rows.reshape(
            rows.shape[0], 1, self.d_model)))

    def extra_repr(self) -> str:
        return (f"max_len={self.max_len}, d_model={self.d_model}, "
                f"batch_first={self.batch_first}")

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 5, 8) float32 input: batch 2, 5 positions, d_model 8."""
        return gg.randn(2, 5, 8, rng=rng)


class SinusoidalPositionalEncoding(_PositionalEncoding):
    """y = dropout(x + PE[:T]) with the fixed sinusoidal table (Vaswani et al.):

        PE[t, 2i] = sin(t / 10000^(2i/d)),  PE[t, 2i+1] = cos(t / 10000^(2i/d)).

    ``pe`` (max_len, d_model) is a buffer: saved in ``state_dict``, converted
    by ``astype``, never a parameter.  Input (N, T, D), or (T, N, D) with
    ``batch_first=False``.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = True, dtype="float32"):
        super().__init__("SinusoidalPositionalEncoding", max_len, d_model, dropout, batch_first)
        self.register_buffer("pe", sinusoidal_table(self.max_len, self.d_model, dtype))

    def forward(self, x):
        return self._add(x, self.pe[: self._length(x)])

    @classmethod
    def example(cls, rng=None):
        """A SinusoidalPositionalEncoding(8, max_len=16)."""
        return cls(8, max_len=16)


class LearnedPositionalEncoding(_PositionalEncoding):
    """y = dropout(x + E[0:T]): a trained vector per position, E an ``Embedding(max_len, d_model)``.

    ``embedding.weight`` (max_len, d_model) starts as ``init`` (default
    N(0, 1), Embedding's); position t of every sequence gets row t and its
    gradient is the sum over the batch.  Input (N, T, D), or (T, N, D) with
    ``batch_first=False``.
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0,
                 batch_first: bool = True, init="normal", rng=None, dtype="float32"):
        super().__init__("LearnedPositionalEncoding", max_len, d_model, dropout, batch_first)
        self.embedding = gg.layers.Embedding(self.max_len, self.d_model, init=init,
                                             rng=resolve_rng(rng), dtype=dtype)

    def forward(self, x):
        return self._add(x, self.embedding(np.arange(self._length(x))))

    @classmethod
    def example(cls, rng=None):
        """A LearnedPositionalEncoding(16, 8)."""
        return cls(16, 8, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The positional encodings."""
    return [SinusoidalPositionalEncoding, LearnedPositionalEncoding]
