"""Attention and transformer weights through graphgrad.interop: a torch 2.13 state_dict loaded
with load_torch_state_dict gives the same outputs and every parameter gradient (compared in
PyTorch's layout through torch_mappings), torch_state_dict loads back into torch strictly,
and mismatched models fail with every key and shape named."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.interop import load_torch_state_dict, torch_mappings, torch_state_dict

RNG = np.random.default_rng(241)
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _perturbed(torch, module, dtype):
    """The torch module in `dtype` with every parameter moved off its init (norms not 1/0)."""
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    module = module.to(tdtype)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return module, tdtype


def _grads_in_torch_layout(model):
    """{PyTorch key: gradient} of a graphgrad model, mapped by its own torch mappings."""
    params = dict(model.named_parameters())
    out = {}
    for m in torch_mappings(model):
        grads = [params[n].grad for n in m.graphgrad]
        if all(g is not None for g in grads):
            for key, value in zip(m.torch, m.to_torch(*(g.data for g in grads)), strict=True):
                out[key] = value
    return out


def _compare(torch, gl, tl, g_in, t_in, kw, tkw, dtype):
    tol = TOL[dtype]
    missing, unexpected = load_torch_state_dict(gl, tl.state_dict())
    assert missing == [] and unexpected == []
    out, tout = gl(*g_in, **kw), tl(*t_in, **tkw)
    out, tout = (out[0], tout[0]) if isinstance(out, tuple) else (out, tout)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    r = RNG.standard_normal(out.shape)
    (out * gg.tensor(r.astype(dtype))).sum().backward()
    (tout * torch.tensor(r, dtype=tout.dtype)).sum().backward()
    ours = _grads_in_torch_layout(gl)
    theirs = {k: p.grad.numpy() for k, p in tl.named_parameters()}
    assert set(ours) == set(theirs)
    for key, want in theirs.items():
        np.testing.assert_allclose(ours[key], want, rtol=tol, atol=tol, err_msg=key)
    for g, t in zip(g_in, t_in, strict=True):
        np.testing.assert_allclose(g.grad.data, t.grad.numpy(), rtol=tol, atol=tol)
    back = torch_state_dict(gl)  # and back: loads strictly into a zeroed copy of the torch model
    fresh = copy.deepcopy(tl)
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()}, strict=True)
    for k, v in tl.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def _inputs(torch, dtype, *shapes):
    arrays = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    return ([gg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_encoder_state_dict_loads_and_matches(norm_first, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    tl, _ = _perturbed(torch, torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, norm_first=norm_first, batch_first=True), 2,
        enable_nested_tensor=False), dtype)
    gl = gg.layers.TransformerEncoder(gg.layers.TransformerEncoderLayer(
        8, 2, 16, dropout=0.0, norm_first=norm_first, dtype=dtype), 2)
    g_in, t_in = _inputs(torch, dtype, (3, 5, 8))
    pad = np.zeros((3, 5), bool)
    pad[1, 3:] = pad[2, 4:] = True
    causal = np.triu(np.ones((5, 5), bool), 1)
    _compare(torch, gl, tl, g_in, t_in, {"mask": causal, "src_key_padding_mask": pad},
             {"mask": torch.tensor(causal), "src_key_padding_mask": torch.tensor(pad)}, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm_first", [False, True])
def test_torch_decoder_layer_state_dict_loads_and_matches(norm_first, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    tl, _ = _perturbed(torch, torch.nn.TransformerDecoderLayer(
        8, 2, 16, dropout=0.0, norm_first=norm_first, batch_first=True), dtype)
    gl = gg.layers.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first,
                                           dtype=dtype)
    g_in, t_in = _inputs(torch, dtype, (2, 4, 8), (2, 6, 8))
    causal = np.triu(np.ones((4, 4), bool), 1)
    mpad = np.zeros((2, 6), bool)
    mpad[0, 4:] = True
    _compare(torch, gl, tl, g_in, t_in, {"tgt_mask": causal, "memory_key_padding_mask": mpad},
             {"tgt_mask": torch.tensor(causal), "memory_key_padding_mask": torch.tensor(mpad)},
             dtype)


@pytest.mark.parametrize("kvdim,bias", [(None, True), ((6, 3), True), (None, False)],
                         ids=["packed", "separate_qkv", "no_bias"])
def test_torch_multihead_attention_state_dict_loads_and_matches(kvdim, bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(5)
    kdim, vdim = kvdim or (None, None)
    tl, _ = _perturbed(torch, torch.nn.MultiheadAttention(8, 2, bias=bias, batch_first=True,
                                                          kdim=kdim, vdim=vdim), np.float64)
    gl = gg.layers.MultiheadAttention(8, 2, bias=bias, kdim=kdim, vdim=vdim, dtype="float64")
    keys = set(tl.state_dict())
    assert {k for m in torch_mappings(gl) for k in m.torch} == keys
    if kvdim:
        assert {"q_proj_weight", "k_proj_weight", "v_proj_weight"} <= keys
    g_in, t_in = _inputs(torch, np.float64, (3, 4, 8), (3, 5, kdim or 8), (3, 5, vdim or 8))
    pad = np.zeros((3, 5), bool)
    pad[0, 3:] = True
    _compare(torch, gl, tl, g_in, t_in, {"key_padding_mask": pad, "need_weights": False},
             {"key_padding_mask": torch.tensor(pad), "need_weights": False}, np.float64)


def test_mismatched_models_name_every_key_and_every_shape():
    torch = pytest.importorskip("torch")
    tl = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(
        8, 2, 16, batch_first=True), 3, enable_nested_tensor=False)
    gl = gg.layers.TransformerEncoder(gg.layers.TransformerEncoderLayer(8, 2, 32), 2)
    with pytest.raises(ValueError) as err:
        load_torch_state_dict(gl, tl.state_dict())
    text = str(err.value)
    extra = [k for k in tl.state_dict() if k.startswith("layers.2.")]
    assert extra and "unexpected keys" in text
    assert all(f"'{k}'" in text for k in extra)
    for i in range(2):
        assert (f"layers.{i}.linear1.weight (16, 8) -> graphgrad layers.{i}.linear1.weight "
                f"needs (8, 32), got (8, 16)") in text
        assert f"layers.{i}.linear2.weight (8, 16)" in text
    with pytest.raises(ValueError, match=r"missing keys.*'self_attn.in_proj_weight'"):
        sd = torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True).state_dict()
        del sd["self_attn.in_proj_weight"]
        load_torch_state_dict(gg.layers.TransformerEncoderLayer(8, 2, 16), sd)
