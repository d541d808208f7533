"""Transformer encoder and decoder layers and the encoder stack, as in ``torch.nn``.

Built from ``MultiheadAttention``, ``LayerNorm``, ``Linear`` and ``Dropout``; the
submodule names are PyTorch's (``self_attn``, ``linear1``, ``norm1``, ...), so
weights map by name.
"""

from __future__ import annotations

import copy

import graphgrad as gg
from graphgrad.extend import Module, resolve_rng


def _activation(who, activation):
    if callable(activation):
        return activation
    table = {"relu": gg.relu, "gelu": gg.gelu}
    if activation not in table:
        raise ValueError(f"{who}: activation must be 'relu', 'gelu' or a callable, "
                         f"got {activation!r}")
    return table[activation]


class _Block(Module):
    """What the encoder and decoder layers share: construction and the self-attention branch."""

    def _init_common(self, who, d_model, nhead, dim_feedforward, dropout, activation,
                     layer_norm_eps, batch_first, norm_first, rng, dtype, n_norms):
        if not batch_first:
            raise ValueError(f"{who}: only batch_first=True (N, T, E) is supported; transpose "
                             "(T, N, E) input with x.transpose((1, 0, 2))")
        gen = resolve_rng(rng)
        self.d_model, self.nhead, self.norm_first = d_model, nhead, bool(norm_first)
        self.self_attn = gg.layers.MultiheadAttention(d_model, nhead, dropout=dropout, rng=gen,
                                                      dtype=dtype)
        self.linear1 = gg.layers.Linear(d_model, dim_feedforward, rng=gen, dtype=dtype)
        self.linear2 = gg.layers.Linear(dim_feedforward, d_model, rng=gen, dtype=dtype)
        self.dropout = gg.layers.Dropout(dropout, rng=gen)
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", gg.layers.LayerNorm(d_model, eps=layer_norm_eps,
                                                          dtype=dtype))
            setattr(self, f"dropout{i}", gg.layers.Dropout(dropout, rng=gen))
        self.act = _activation(who, activation)
        return gen

    def _sa(self, x, mask, padding, is_causal):
        y = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(y)


class TransformerEncoderLayer(_Block):
    """Self-attention then feed-forward, as ``torch.nn.TransformerEncoderLayer`` (batch first).

    SA(x) = dropout1(self_attn(x, x, x)),  FF(x) = dropout2(linear2(dropout(act(linear1(x))))).
    Post-norm (default): x = norm1(x + SA(x)); x = norm2(x + FF(x)).
    ``norm_first=True``: x = x + SA(norm1(x)); x = x + FF(norm2(x)).
    Called as ``(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``
    with MultiheadAttention's mask conventions (bool True = blocked).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, rng=None,
                 dtype="float32"):
        super().__init__()
        self._init_common("TransformerEncoderLayer", d_model, nhead, dim_feedforward, dropout,
                          activation, layer_norm_eps, batch_first, norm_first, rng, dtype, 2)

    def _ff(self, x):
        return self.dropout2(self.linear2(self.dropout(self.act(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff(x))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}, norm_first={self.norm_first}"

    @classmethod
    def example(cls, rng=None):
        """A small layer: d_model 4, 2 heads, feed-forward 8, no dropout."""
        return cls(4, 2, dim_feedforward=8, dropout=0.0, rng=resolve_rng(rng))

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 4) float32 sequence batch."""
        return gg.randn(2, 3, 4, rng=rng)


class TransformerDecoderLayer(_Block):
    """Self-attention, cross-attention on ``memory``, feed-forward, as ``torch.nn``'s (batch first).

    Post-norm: x = norm1(x + SA(x)); x = norm2(x + MHA(x, mem)); x = norm3(x + FF(x)),
    with MHA(x, m) = dropout2(multihead_attn(x, m, m)) and FF ending in dropout3;
    ``norm_first=True`` puts each norm on the branch input instead.  Called as
    ``(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=True, norm_first=False, rng=None,
                 dtype="float32"):
        super().__init__()
        gen = self._init_common("TransformerDecoderLayer", d_model, nhead, dim_feedforward,
                                dropout, activation, layer_norm_eps, batch_first, norm_first,
                                rng, dtype, 3)
        self.multihead_attn = gg.layers.MultiheadAttention(d_model, nhead, dropout=dropout,
                                                           rng=gen, dtype=dtype)

    def _ff(self, x):
        return self.dropout3(self.linear2(self.dropout(self.act(self.linear1(x)))))

    def _mha(self, x, mem, mask, padding, is_causal):
        y = self.multihead_attn(x, mem, mem, attn_mask=mask, key_padding_mask=padding,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(y)

    def forward(self, tgt, memory=None, tgt_mask=None, memory_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False,
                memory_is_causal=False):
        memory = tgt if memory is None else memory
        x = tgt
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                              memory_is_causal)
            return x + self._ff(self.norm3(x))
        x = self.norm1(x + self._sa(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha(x, memory, memory_mask, memory_key_padding_mask,
                                     memory_is_causal))
        return self.norm3(x + self._ff(x))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}, norm_first={self.norm_first}"

    @classmethod
    def example(cls, rng=None):
        """A small layer: d_model 4, 2 heads, feed-forward 8, no dropout."""
        return cls(4, 2, dim_feedforward=8, dropout=0.0, rng=resolve_rng(rng))

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 4) float32 target batch (the memory defaults to it)."""
        return gg.randn(2, 3, 4, rng=rng)


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` (so all start identical, as in PyTorch),
    applied in turn, then ``norm`` if given.  Parameters are ``layers.{i}.…`` and ``norm.*``.
    Called as ``(src, mask=None, src_key_padding_mask=None, is_causal=False)``.
    """

    def __init__(self, encoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a layer (e.g. "
                            f"TransformerEncoderLayer), got {type(encoder_layer).__name__}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"TransformerEncoder: num_layers must be an integer >= 1, got "
                             f"{num_layers!r}")
        self.layers = gg.Sequential(*[copy.deepcopy(encoder_layer)
                                      for _ in range(num_layers)])
        self.num_layers, self.norm = num_layers, norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return self.norm(x) if self.norm is not None else x

    @classmethod
    def example(cls, rng=None):
        """Two copies of a small encoder layer."""
        return cls(TransformerEncoderLayer.example(rng), 2)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 4) float32 sequence batch."""
        return gg.randn(2, 3, 4, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The transformer layers."""
    return [TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder]
