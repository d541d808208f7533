"""Positional encodings (plugins/positional.py) and Embedding(max_norm=...) against the
closed form, PyTorch's tutorial table / torch.nn.Embedding(max_norm=...), finite differences,
and gg.compile."""

from __future__ import annotations

import math

import numpy as np
import pytest
from graphgrad_plugins.positional import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    sinusoidal_table,
)

import graphgrad as gg

RNG = np.random.default_rng(3)


def test_sinusoidal_table_is_the_vaswani_formula():
    pe = sinusoidal_table(50, 6, dtype=np.float64)
    for t in (0, 1, 7, 49):
        for i in range(3):
            angle = t / 10000 ** (2 * i / 6)
            assert pe[t, 2 * i] == pytest.approx(math.sin(angle), abs=1e-14)
            assert pe[t, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-14)
    odd = sinusoidal_table(4, 5, dtype=np.float64)  # the last column is a sine
    assert odd.shape == (4, 5)
    np.testing.assert_allclose(odd[:, 4], np.sin(np.arange(4) / 10000 ** (4 / 5)), atol=1e-15)


def test_sinusoidal_table_equals_pytorchs_tutorial_construction():
    torch = pytest.importorskip("torch")
    d, n = 16, 30
    position = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    want = torch.zeros(n, d, dtype=torch.float64)
    want[:, 0::2] = torch.sin(position * div_term)
    want[:, 1::2] = torch.cos(position * div_term)
    np.testing.assert_allclose(sinusoidal_table(n, d, np.float64), want.numpy(), atol=1e-15)


@pytest.mark.parametrize("batch_first", [True, False])
def test_sinusoidal_encoding_adds_the_buffer_and_has_no_parameter(batch_first):
    layer = SinusoidalPositionalEncoding(8, max_len=20, batch_first=batch_first, dtype="float64")
    assert list(layer.parameters()) == []
    assert [name for name, _ in layer.named_buffers()] == ["pe"]
    assert "pe" in layer.state_dict()
    x = RNG.standard_normal((3, 7, 8) if batch_first else (7, 3, 8))
    y = layer(gg.tensor(x))
    table = sinusoidal_table(20, 8, np.float64)[:7]
    np.testing.assert_allclose(y.data, x + (table if batch_first else table[:, None]),
                               rtol=1e-15)
    t = gg.tensor(x, requires_grad=True)
    assert gg.check.gradcheck(lambda v: layer(v), [t])


@pytest.mark.parametrize("batch_first", [True, False])
def test_learned_encoding_is_an_embedding_over_positions(batch_first):
    layer = LearnedPositionalEncoding(10, 4, batch_first=batch_first, rng=0).double()
    assert [n for n, _ in layer.named_parameters()] == ["embedding.weight"]
    x = RNG.standard_normal((2, 6, 4) if batch_first else (6, 2, 4))
    y = layer(gg.tensor(x))
    rows = layer.embedding.weight.data[:6]
    np.testing.assert_allclose(y.data, x + (rows if batch_first else rows[:, None]),
                               rtol=1e-15)
    w = RNG.standard_normal(x.shape)
    (y * gg.tensor(w)).sum().backward()
    grad = layer.embedding.weight.grad.data
    np.testing.assert_allclose(grad[:6], w.sum(axis=0 if batch_first else 1), rtol=1e-13)
    np.testing.assert_array_equal(grad[6:], 0.0)  # positions never used


def test_dropout_and_errors():
    layer = SinusoidalPositionalEncoding(4, max_len=5, dropout=0.5)
    x = gg.tensor(np.ones((2, 3, 4), np.float32))
    layer.train()
    assert (layer(x).data == 0).any()
    layer.eval()
    np.testing.assert_allclose(layer(x).data, np.broadcast_to(1 + sinusoidal_table(5, 4)[:3],
                                                              (2, 3, 4)), rtol=1e-6)
    with pytest.raises(ValueError, match="6 positions, more than max_len=5"):
        layer(gg.tensor(np.ones((1, 6, 4), np.float32)))
    with pytest.raises(ValueError, match=r"expected input \(N, T, D\) with D = d_model = 4"):
        layer(gg.tensor(np.ones((1, 3, 5), np.float32)))
    with pytest.raises(ValueError, match="max_len must be an integer >= 1"):
        LearnedPositionalEncoding(0, 4)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_embedding_max_norm_matches_torch(norm_type, dtype, tol):
    torch = pytest.importorskip("torch")
    weight = (RNG.standard_normal((6, 4)) * 2).astype(dtype)
    layer = gg.layers.Embedding(6, 4, max_norm=1.5, norm_type=norm_type, dtype=dtype)
    layer.weight.data[...] = weight
    t = torch.nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type,
                           dtype=torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(weight))
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    w = RNG.standard_normal((2, 3, 4)).astype(dtype)
    y = layer(idx)
    (y * gg.tensor(w)).sum().backward()
    ty = t(torch.tensor(idx))
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.weight.data, t.weight.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(layer.weight.grad.data, t.weight.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_array_equal(layer.weight.data[[3, 4]], weight[[3, 4]])  # not looked up
    norms = np.linalg.norm(layer.weight.data[[0, 1, 2, 5]].astype(np.float64), ord=norm_type,
                           axis=1)
    assert (norms <= 1.5 + 1e-5).all()


def test_embedding_max_norm_arguments():
    with pytest.raises(ValueError, match="max_norm must be a number > 0 or None"):
        gg.layers.Embedding(3, 2, max_norm=0)
    with pytest.raises(ValueError, match="norm_type must be a number > 0"):
        gg.layers.Embedding(3, 2, max_norm=1.0, norm_type=-1)
    assert "max_norm=1.0" in repr(gg.layers.Embedding(3, 2, max_norm=1))


def test_embedding_max_norm_under_compile_runs_eagerly_and_says_so():
    def build():
        layer = gg.layers.Embedding(6, 4, max_norm=1.0, rng=0)
        opt = gg.optimizers.SGD(layer.parameters(), lr=0.5)

        def step(idx):
            opt.zero_grad()
            loss = (layer(idx) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        return layer, step

    eager_layer, eager = build()
    layer, step = build()
    compiled = gg.compile(step)
    with pytest.warns(gg.compile.CompileWarning, match="__setitem__"):
        for i in range(3):
            idx = np.array([[i, 2], [5, i + 1]])
            np.testing.assert_allclose(compiled(idx).data, eager(idx).data, rtol=1e-6)
    np.testing.assert_allclose(layer.weight.data, eager_layer.weight.data, rtol=1e-6)
