"""scaled_dot_product_attention and MultiheadAttention (plugins/attention.py) against torch 2.13;
weights are copied by name (out_proj.weight transposed: graphgrad's Linear is (in, out)).
MultiheadAttention runs both ways: with the weights (the composition, the weights averaged over
heads) and without (need_weights=False: the fused op)."""

import numpy as np
import pytest
from graphgrad_plugins.attention import MultiheadAttention, scaled_dot_product_attention

import graphgrad as gg

RNG = np.random.default_rng(11)


def _t(torch, a, dtype):
    return torch.tensor(a, dtype=torch.float64 if dtype == np.float64 else torch.float32,
                        requires_grad=True)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("mask", ["none", "causal", "bool", "float", "scale"])
def test_sdpa_matches_torch(mask, dtype, tol):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = (RNG.standard_normal(s).astype(dtype) for s in ((2, 3, 4, 5), (2, 3, 6, 5),
                                                                (2, 3, 6, 2)))
    kwargs, tkwargs = {}, {}
    if mask == "causal":
        kwargs = tkwargs = {"is_causal": True}
    elif mask == "bool":
        m = RNG.random((4, 6)) > 0.4
        m[:, 0] = True
        kwargs, tkwargs = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    elif mask == "float":
        m = RNG.standard_normal((2, 1, 4, 6)).astype(dtype)
        kwargs, tkwargs = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    elif mask == "scale":
        kwargs = tkwargs = {"scale": 0.3}
    gq, gk, gv = (gg.tensor(a, requires_grad=True) for a in (q, k, v))
    tq, tk, tv = (_t(torch, a, dtype) for a in (q, k, v))
    w = RNG.standard_normal((2, 3, 4, 2))
    out = scaled_dot_product_attention(gq, gk, gv, **kwargs)
    (out * gg.tensor(w.astype(dtype))).sum().backward()
    tout = F.scaled_dot_product_attention(tq, tk, tv, **tkwargs)
    (tout * torch.tensor(w, dtype=tout.dtype)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    for g, t in ((gq, tq), (gk, tk), (gv, tv)):
        np.testing.assert_allclose(g.grad.data if hasattr(g.grad, "data") else g.grad,
                                   t.grad.numpy(), rtol=tol, atol=tol)


def test_sdpa_fully_masked_row_is_zero_and_errors():
    q = gg.tensor(RNG.standard_normal((1, 2, 3)))
    m = np.array([[True, True], [False, False]])
    out = scaled_dot_product_attention(q, q, q, attn_mask=m)
    np.testing.assert_array_equal(out.data[0, 1], 0.0)
    assert np.isfinite(out.data).all()
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, q, q, attn_mask=m, is_causal=True)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: expected"):
        scaled_dot_product_attention(q, gg.tensor(np.ones((1, 2, 4))), q)


def test_sdpa_gradcheck_with_mask():
    q, k, v = (gg.tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True) for _ in range(3))
    m = np.tril(np.ones((3, 3), bool))
    assert gg.check.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, attn_mask=m),
                              [q, k, v])


def _copy(layer, tlayer):
    for name, p in tlayer.named_parameters():
        target = layer
        parts = name.split(".")
        for part in parts[:-1]:
            target = getattr(target, part)
        value = p.detach().numpy()
        if name == "out_proj.weight":
            value = value.T
        getattr(target, parts[-1]).data[...] = value


def _grad(p):
    return getattr(p.grad, "data", p.grad)


MHA_CASES = ["plain", "bool_mask", "float_mask", "key_padding", "per_head_mask", "kvdim",
             "no_bias", "seq_first"]


@pytest.mark.parametrize("need_weights", [True, False], ids=["weights", "fused"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("case", MHA_CASES)
def test_mha_matches_torch(case, dtype, tol, need_weights):
    torch = pytest.importorskip("torch")
    E, H, N, L, S = 8, 2, 3, 4, 5
    kdim = vdim = None
    if case == "kvdim":
        kdim, vdim = 6, 3
    bias = case != "no_bias"
    batch_first = case != "seq_first"
    torch.manual_seed(0)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tl = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=batch_first, kdim=kdim,
                                     vdim=vdim).to(tdtype)
    with torch.no_grad():
        for p in tl.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    gl = MultiheadAttention(E, H, bias=bias, batch_first=batch_first, kdim=kdim, vdim=vdim,
                            dtype=dtype)
    assert {n for n, _ in gl.named_parameters()} == {n for n, _ in tl.named_parameters()}
    _copy(gl, tl)
    shapes = [(N, L, E), (N, S, kdim or E), (N, S, vdim or E)]
    if not batch_first:
        shapes = [(s[1], s[0], s[2]) for s in shapes]
    arrays = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    kw, tkw = {}, {}
    if case == "bool_mask":
        m = RNG.random((L, S)) > 0.5
        m[:, 0] = False
        kw, tkw = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    elif case == "float_mask":
        m = RNG.standard_normal((L, S)).astype(dtype)
        kw, tkw = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    elif case == "per_head_mask":
        m = RNG.random((N * H, L, S)) > 0.5
        m[..., 1] = False
        kw, tkw = {"attn_mask": m}, {"attn_mask": torch.tensor(m)}
    elif case == "key_padding":
        pad = np.zeros((N, S), bool)
        pad[0, 3:] = pad[2, 4:] = True
        am = np.triu(np.ones((L, S), bool), 1)
        kw = {"key_padding_mask": pad, "attn_mask": am, "is_causal": True}
        tkw = {"key_padding_mask": torch.tensor(pad), "attn_mask": torch.tensor(am),
               "is_causal": True}
    g_in = [gg.tensor(a, requires_grad=True) for a in arrays]
    t_in = [_t(torch, a, dtype) for a in arrays]
    out, w = gl(*g_in, **kw, need_weights=need_weights)
    tout, tw = tl(*t_in, **tkw, need_weights=need_weights)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    r = RNG.standard_normal(out.shape)
    loss = (out * gg.tensor(r.astype(dtype))).sum()
    tloss = (tout * torch.tensor(r, dtype=tdtype)).sum()
    if need_weights:  # averaged over the heads, as PyTorch's average_attn_weights=True
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=tol, atol=tol)
        loss, tloss = loss + (w * w).sum(), tloss + (tw * tw).sum()
    else:
        assert w is None and tw is None
    loss.backward()
    tloss.backward()
    for name, p in tl.named_parameters():
        target = gl
        for part in name.split("."):
            target = getattr(target, part)
        expected = p.grad.numpy().T if name == "out_proj.weight" else p.grad.numpy()
        np.testing.assert_allclose(_grad(target), expected, rtol=tol, atol=tol, err_msg=name)
    for g, t in zip(g_in, t_in):
        np.testing.assert_allclose(_grad(g), t.grad.numpy(), rtol=tol, atol=tol)


def test_mha_need_weights_false_and_errors():
    m = MultiheadAttention(4, 2)
    x = gg.randn(2, 3, 4)
    out, w = m(x, x, x, need_weights=False)
    assert w is None and out.shape == (2, 3, 4)
    with pytest.raises(ValueError, match="needs attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiheadAttention(5, 2)
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(2, 3\)"):
        m(x, x, x, key_padding_mask=np.zeros((3, 3), bool))
