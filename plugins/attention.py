"""``MultiheadAttention`` with PyTorch's semantics, on the fused attention op.

The two masks are merged into one additive mask by the ``attention_mask`` kernel,
so a mask that is a step input stays an input under ``gg.compile``.  With
``need_weights=False`` the heads run through ``gg.scaled_dot_product_attention``
(one fused op).  When the weights are asked for they must exist, (N, H, L, S):
then attention is the composition of graphgrad ops (matmul, the additive mask,
softmax, fully blocked rows zeroed) and the weights are averaged over heads, as
PyTorch's ``average_attn_weights=True``.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import K, Module, Parameter, resolve_rng


def _attend(q, k, v, add_mask, scale, dropout_p, rng):
    """softmax(q·kᵀ·scale + mask)·v, and the weights; fully blocked rows give weights 0.

    Every step is a graphgrad op over the mask the ``attention_mask`` kernel made,
    so under ``gg.compile`` a mask passed to the step is an input of the replay.
    """
    scores = (q @ gg.swapaxes(k, -1, -2)) * scale
    if add_mask is not None:
        mask = gg.tensor(add_mask)
        alive = gg.isfinite(gg.amax(mask, axis=-1, keepdims=True))  # a row not all −inf
        scores = gg.where(alive, scores + mask, 0.0)
        weights = gg.where(alive, gg.softmax(scores, axis=-1), 0.0)
    else:
        weights = gg.softmax(scores, axis=-1)
    if dropout_p > 0:
        weights = weights * K.dropout_mask(resolve_rng(rng), weights.shape, dropout_p,
                                           weights.dtype)
    return weights @ v, weights


#: The fused op (graphgrad/ops/attention.py), also importable from here.
scaled_dot_product_attention = gg.scaled_dot_product_attention


class MultiheadAttention(Module):
    """Multi-head attention as ``torch.nn.MultiheadAttention`` (``batch_first=True`` here).

    With E = ``embed_dim``, H = ``num_heads``, d = E/H:
    q = query·W_qᵀ + b_q (likewise k, v), head h uses features [h·d, (h+1)·d),
    head_h = softmax(q_h k_hᵀ/√d + M)·v_h, out = concat(heads)·W_oᵀ + b_o.

    Parameters keep PyTorch's names and shapes: ``in_proj_weight`` (3E, E)
    with rows [q; k; v] and ``in_proj_bias`` (3E,) — or, when ``kdim``/``vdim``
    differ from E, ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim),
    ``v_proj_weight`` (E, vdim) — and ``out_proj``, a graphgrad ``Linear`` (its
    ``weight`` is (in, out), the transpose of PyTorch's).

    Called as ``(query, key, value, key_padding_mask=None, attn_mask=None,
    need_weights=True, is_causal=False)``; returns ``(output, weights)`` with
    the weights averaged over heads, (N, L, S), or None with
    ``need_weights=False``.  Masks follow MultiheadAttention's polarity: bool
    **True = blocked**; float masks are added.  ``attn_mask`` is (L, S) or
    (N·H, L, S) (index n·H + h), ``key_padding_mask`` (N, S).  ``is_causal`` is
    only a hint, as in PyTorch: it needs ``attn_mask``.  A fully blocked row
    gives output 0 (as PyTorch 2.13 with need_weights=False; it gives NaN weights and
    output with need_weights=True).  ``dropout`` drops attention
    weights in training.  ``key`` and ``value`` default to ``query`` and ``key``
    (self-attention), a graphgrad convenience.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=True,
                 kdim=None, vdim=None, rng=None, dtype="float32"):
        super().__init__()
        if not (isinstance(embed_dim, int) and isinstance(num_heads, int) and embed_dim > 0
                and num_heads > 0 and embed_dim % num_heads == 0):
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim!r}) must be a positive "
                             f"multiple of num_heads ({num_heads!r})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1), got {dropout}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.batch_first = bool(batch_first)
        self.kdim = embed_dim if kdim is None else int(kdim)
        self.vdim = embed_dim if vdim is None else int(vdim)
        self.rng = None if rng is None else resolve_rng(rng)
        gen = resolve_rng(rng)
        E = embed_dim

        def xavier(rows, cols):  # PyTorch's xavier_uniform_ on the (out, in) matrix
            a = math.sqrt(6.0 / (rows + cols))
            return Parameter(gen.uniform(-a, a, (rows, cols)).astype(dtype))

        self.separate = self.kdim != E or self.vdim != E
        if self.separate:
            self.in_proj_weight = None
            self.q_proj_weight = xavier(E, E)
            self.k_proj_weight = xavier(E, self.kdim)
            self.v_proj_weight = xavier(E, self.vdim)
        else:
            self.in_proj_weight = Parameter(
                np.concatenate([xavier(E, E).data for _ in range(3)]).astype(dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * E, dtype=dtype)) if bias else None
        self.out_proj = gg.layers.Linear(E, E, bias=bias, rng=gen, dtype=dtype)
        if bias:
            with gg.no_grad():
                self.out_proj.bias.copy_(np.zeros(E))

    def _project(self, x, i):
        E = self.embed_dim
        if self.separate:
            w = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[i]
        else:
            w = self.in_proj_weight[i * E:(i + 1) * E]
        y = x @ gg.transpose(w)
        return y + self.in_proj_bias[i * E:(i + 1) * E] if self.in_proj_bias is not None else y

    def _heads(self, x):  # (N, T, E) -> (N, H, T, d)
        n, t, _ = x.shape
        return gg.transpose(x.reshape(n, t, self.num_heads, -1), (0, 2, 1, 3))

    def forward(self, query, key=None, value=None, key_padding_mask=None, attn_mask=None,
                need_weights=True, is_causal=False):
        key = query if key is None else key
        value = key if value is None else value
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is only a hint and needs "
                             "attn_mask (as in PyTorch); pass the causal mask, e.g. "
                             "np.triu(np.ones((L, L), bool), 1)")
        if not self.batch_first:
            query, key, value = (gg.transpose(t, (1, 0, 2)) for t in (query, key, value))
        for name, t, dim in (("query", query, self.embed_dim), ("key", key, self.kdim),
                             ("value", value, self.vdim)):
            if t.ndim != 3 or t.shape[-1] != dim:
                raise ValueError(f"MultiheadAttention: {name} must be (N, T, {dim}) "
                                 f"({'batch_first' if self.batch_first else '(T, N, ·)'}), "
                                 f"got shape {tuple(t.shape)}")
        n, L, S, H = query.shape[0], query.shape[1], key.shape[1], self.num_heads
        attn_mask = attn_mask.data if isinstance(attn_mask, gg.Tensor) else attn_mask
        key_padding_mask = (key_padding_mask.data if isinstance(key_padding_mask, gg.Tensor)
                            else key_padding_mask)
        for name, m, shapes in (("attn_mask", attn_mask, ((L, S), (n * H, L, S))),
                                ("key_padding_mask", key_padding_mask, ((n, S),))):
            if m is None:
                continue
            m = np.asarray(m)
            if m.dtype != np.bool_ and m.dtype.kind != "f":
                raise TypeError(f"MultiheadAttention: a mask must be bool or floating point, "
                                f"got {name} of dtype {m.dtype}")
            if m.shape not in shapes:
                raise ValueError(f"MultiheadAttention: {name} must be "
                                 f"{' or '.join(str(s) for s in shapes)}, got {m.shape}")
        q, k, v = (self._heads(self._project(t, i)) for i, t in enumerate((query, key, value)))
        p_drop = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.embed_dim // H)
        add = None
        if attn_mask is not None or key_padding_mask is not None:
            add = K.attention_mask(attn_mask, key_padding_mask, H, query.dtype)
        if need_weights:
            out, weights = _attend(q, k, v, add, scale, p_drop, self.rng)
        else:
            out = gg.scaled_dot_product_attention(q, k, v, attn_mask=add, scale=scale,
                                                  dropout_p=p_drop, rng=resolve_rng(self.rng))
        out = self.out_proj(gg.transpose(out, (0, 2, 1, 3)).reshape(n, L, self.embed_dim))
        if not self.batch_first:
            out = gg.transpose(out, (1, 0, 2))
        return out, (weights.mean(axis=1) if need_weights else None)

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, kdim={self.kdim}, vdim={self.vdim}")

    @classmethod
    def example(cls, rng=None):
        """A MultiheadAttention(4, 2) with non-zero biases."""
        rng = resolve_rng(rng)
        layer = cls(4, 2, rng=rng)
        with gg.no_grad():
            layer.in_proj_bias.copy_(rng.standard_normal(12) * 0.1)
        return layer

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 4) float32 sequence batch, used as query, key and value."""
        return gg.randn(2, 3, 4, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """MultiheadAttention."""
    return [MultiheadAttention]
