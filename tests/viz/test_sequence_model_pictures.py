"""The pictures of a transformer step and of an LSTM step name their layers, with shapes,
and a 64-step LSTM stays readable (rolled) by default."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.cli.demo_lstm import _model as lstm_model
from graphgrad.cli.demo_transformer import _model as transformer_model
from graphgrad.data.sequence_tasks import VOCAB, digit_task, next_token_pairs


def _step_loss(model, x, y):
    """The loss of one training step, after its backward (so gradients are drawn too)."""
    loss = gg.softmax_cross_entropy(model(x).reshape((-1, VOCAB)), y.reshape(-1)).mean()
    loss.backward(retain_graph=True)
    return loss


def _label(src, name):
    """The label of the collapsed node whose first line is `name`."""
    match = re.search(r'label="(' + re.escape(name) + r'\\n[^"]*)"', src)
    assert match, f"no node {name!r} in the picture"
    return match.group(1)


def test_a_transformer_step_draws_attention_and_layer_norms_by_name_with_shapes():
    model = transformer_model(np.random.default_rng(0))
    x, y = next_token_pairs(digit_task(4, 8, "sort", rng=0))  # x (4, 16)
    loss = _step_loss(model, x, y)
    src = gg.to_dot(loss, params=model).source
    for layer in (0, 1):
        assert f'label="encoder.layers.{layer}.self_attn: MultiheadAttention"' in src
        assert f'label="encoder.layers.{layer}.norm1: LayerNorm"' in src
    assert 'label="encoder.norm: LayerNorm"' in src and "Lambda" not in src
    assert 'label=" (4, 16, 64)"' in src  # the shapes on the edges
    collapsed = gg.to_dot(loss, params=model, depth=3).source  # each sublayer one node
    attention = _label(collapsed, "encoder.layers.0.self_attn: MultiheadAttention")
    assert "16,640 params" in attention and "out (4, 16, 64)" in attention  # 4·64² + 4·64
    norm = _label(collapsed, "encoder.layers.1.norm2: LayerNorm")
    assert "128 params" in norm and "out (4, 16, 64)" in norm


def _lstm_loss(steps=64):
    model = lstm_model(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, VOCAB, (4, steps)), rng.integers(0, VOCAB, (4, steps))
    return model, _step_loss(model, x, y)


def test_a_64_step_lstm_step_is_drawn_rolled_by_name_with_its_shapes():
    model, loss = _lstm_loss()
    src = gg.to_dot(loss, params=model).source
    assert 'label="lstm: LSTM"' in src
    assert "lstm.l0: LSTM × 64 steps" in _label(src, "lstm.l0: LSTM × 64 steps")
    assert "out (4, 64)" in _label(src, "lstm.l0: LSTM × 64 steps")  # one step's h
    assert "call 1" not in src and len(src.splitlines()) < 120
    collapsed = _label(gg.to_dot(loss, params=model, depth=0).source, "lstm: LSTM")
    assert "20,992 params" in collapsed and "out (4, 64, 64)" in collapsed  # 4·64·(16+64+2)


def test_a_64_step_lstm_renders_narrower_than_2000_pixels(tmp_path):
    if shutil.which("dot") is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip("Graphviz `dot` is not installed")
    model, loss = _lstm_loss()
    svg = gg.render(loss, tmp_path / "lstm.svg", params=model).read_text(encoding="utf-8")
    width = float(re.search(r'<svg width="([0-9.]+)pt"', svg).group(1))
    assert 0 < width * 96 / 72 < 2000  # points to pixels at 96 dpi (dot's PNG resolution)
    rolled = gg.to_dot(loss, params=model).source
    unrolled = gg.to_dot(loss, params=model, loops="steps").source  # (dot takes minutes on it)
    assert len(unrolled.splitlines()) > 10 * len(rolled.splitlines())  # what rolling saves
