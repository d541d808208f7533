"""TransformerEncoderLayer / DecoderLayer / Encoder (plugins/transformer.py) against torch 2.13
(dropout 0, train mode so torch takes its reference path); weights copied by name, Linear
weights transposed (graphgrad's Linear is (in, out))."""

import numpy as np
import pytest
from graphgrad_plugins.transformer import (
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

import graphgrad as gg

RNG = np.random.default_rng(5)
LINEARS = ("out_proj.weight", "linear1.weight", "linear2.weight")


def _param(module, name):
    for part in name.split("."):
        module = module[part] if isinstance(module, gg.Sequential) else getattr(module, part)
    return module


def _copy(gl, tl):
    names = {n for n, _ in gl.named_parameters()}
    assert names == {n for n, _ in tl.named_parameters()}
    for name, p in tl.named_parameters():
        v = p.detach().numpy()
        _param(gl, name).data[...] = v.T if name.endswith(LINEARS) else v


def _compare(gl, tl, g_in, t_in, kw, tkw, dtype, tol):
    torch = pytest.importorskip("torch")
    out = gl(*g_in, **kw)
    tout = tl(*t_in, **tkw)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    r = RNG.standard_normal(out.shape)
    (out * gg.tensor(r.astype(dtype))).sum().backward()
    (tout * torch.tensor(r, dtype=tout.dtype)).sum().backward()
    for name, p in tl.named_parameters():
        expected = p.grad.numpy()
        expected = expected.T if name.endswith(LINEARS) else expected
        g = _param(gl, name).grad
        np.testing.assert_allclose(getattr(g, "data", g), expected, rtol=tol, atol=tol,
                                   err_msg=name)
    for g, t in zip(g_in, t_in):
        np.testing.assert_allclose(getattr(g.grad, "data", g.grad), t.grad.numpy(), rtol=tol,
                                   atol=tol)


def _inputs(torch, dtype, *shapes):
    arrays = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    return ([gg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, dtype=tdtype, requires_grad=True) for a in arrays], tdtype)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_stack_matches_torch(norm_first, activation, dtype, tol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    g_in, t_in, tdtype = _inputs(torch, dtype, (3, 5, 8))
    tl = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, activation=activation, norm_first=norm_first, batch_first=True),
        2, enable_nested_tensor=False).to(tdtype)
    with torch.no_grad():
        for p in tl.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # the layers differ, and the norms are not 1/0
    gl = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                    activation=activation,
                                                    norm_first=norm_first, dtype=dtype), 2)
    _copy(gl, tl)
    pad = np.zeros((3, 5), bool)
    pad[1, 3:] = True
    causal = np.triu(np.ones((5, 5), bool), 1)
    kw = {"mask": causal, "src_key_padding_mask": pad}
    tkw = {"mask": torch.tensor(causal), "src_key_padding_mask": torch.tensor(pad)}
    _compare(gl, tl, g_in, t_in, kw, tkw, dtype, tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first, dtype, tol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    g_in, t_in, tdtype = _inputs(torch, dtype, (2, 4, 8), (2, 6, 8))
    tl = torch.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first,
                                          batch_first=True).to(tdtype)
    with torch.no_grad():
        for p in tl.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    gl = TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=dtype)
    _copy(gl, tl)
    causal = np.triu(np.ones((4, 4), bool), 1)
    mpad = np.zeros((2, 6), bool)
    mpad[0, 4:] = True
    kw = {"tgt_mask": causal, "memory_key_padding_mask": mpad}
    tkw = {"tgt_mask": torch.tensor(causal), "memory_key_padding_mask": torch.tensor(mpad)}
    _compare(gl, tl, g_in, t_in, kw, tkw, dtype, tol)


def test_encoder_deep_copies_and_errors():
    layer = TransformerEncoderLayer(8, 2, 16)
    enc = TransformerEncoder(layer, 3)
    w = [enc.layers[i].linear1.weight for i in range(3)]
    assert all(np.array_equal(w[0].data, x.data) for x in w[1:])
    assert w[0] is not w[1] and w[0] is not layer.linear1.weight
    with pytest.raises(ValueError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="batch_first=True"):
        TransformerEncoderLayer(8, 2, batch_first=False)
    with pytest.raises(ValueError, match="num_layers"):
        TransformerEncoder(layer, 0)
