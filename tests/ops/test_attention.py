"""The fused op gg.scaled_dot_product_attention: against torch 2.13's
``F.scaled_dot_product_attention`` (outputs and the gradients of q, k, v), against finite
differences (first and second order), the Numba kernels against their NumPy twins, dropout,
fully blocked rows, errors, and a compiled step with a mask that changes every step."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck
from graphgrad.kernels import reference

REF = reference.KERNELS
RNG = np.random.default_rng(24)

CASES = ["plain", "causal", "bool", "bool_4d", "float", "scale", "causal_l_ne_s", "dead_rows",
         "batch3", "no_batch"]


def _case(name, dtype):
    """(q, k, v shapes, our kwargs, torch kwargs builder)."""
    shapes = ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 2))
    kw = {}
    if name in ("causal", "causal_l_ne_s"):
        kw = {"is_causal": True}
        if name == "causal":
            shapes = ((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 3))
    elif name == "bool":
        m = RNG.random((4, 6)) > 0.4
        m[:, 0] = True
        kw = {"attn_mask": m}
    elif name == "bool_4d":
        m = RNG.random((2, 1, 4, 6)) > 0.5
        m[..., 2] = True
        kw = {"attn_mask": m}
    elif name == "float":
        kw = {"attn_mask": RNG.standard_normal((2, 1, 4, 6)).astype(dtype)}
    elif name == "scale":
        kw = {"scale": 0.3}
    elif name == "dead_rows":
        m = RNG.random((2, 3, 4, 6)) > 0.5
        m[0, 1, 2] = False  # one fully blocked row, and a whole blocked head
        m[1, 2] = False
        m[1, 0, :, 0] = True
        kw = {"attn_mask": m}
    elif name == "batch3":
        shapes = ((2, 2, 2, 3, 4), (2, 2, 2, 5, 4), (2, 2, 2, 5, 3))
    elif name == "no_batch":
        shapes = ((4, 3), (7, 3), (7, 2))
    return shapes, kw


def _torch_kwargs(torch, kw):
    return {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("case", CASES)
def test_matches_torch(case, dtype, tol, backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shapes, kw = _case(case, dtype)
    arrays = [RNG.standard_normal(s).astype(dtype) for s in shapes]
    ours = [gg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = gg.scaled_dot_product_attention(*ours, **kw)
    tout = F.scaled_dot_product_attention(*theirs, **_torch_kwargs(torch, kw))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    w = RNG.standard_normal(out.shape)
    (out * gg.tensor(w.astype(dtype))).sum().backward()
    (tout * torch.tensor(w, dtype=tout.dtype)).sum().backward()
    for name, a, b in zip("qkv", ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=f"d{name}")


def test_fully_blocked_rows_give_zero_and_no_gradient_as_torch(backend):
    # PyTorch 2.13 (its CPU flash kernel and its math path alike) gives 0 for a row whose
    # every position is blocked, and that row passes no gradient; so does graphgrad
    q, k, v = (gg.tensor(RNG.standard_normal((1, 3, 4)), requires_grad=True) for _ in range(3))
    m = np.array([[True, True, False], [False, False, False], [True, False, True]])
    out = gg.scaled_dot_product_attention(q, k, v, attn_mask=m)
    np.testing.assert_array_equal(out.data[0, 1], 0.0)
    assert np.isfinite(out.data).all()
    g = np.zeros((1, 3, 4))
    g[0, 1] = 1.0  # the gradient of the blocked row only
    out.backward(gg.tensor(g))
    for t in (q, k, v):
        np.testing.assert_array_equal(t.grad.data, 0.0)
    fm = np.zeros((3, 3))
    fm[1] = -np.inf  # a float mask of −inf blocks the same way
    out2 = gg.scaled_dot_product_attention(q, k, v, attn_mask=fm)
    np.testing.assert_array_equal(out2.data[0, 1], 0.0)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"attn_mask": "bool"},
                                {"attn_mask": "float"}, {"dropout_p": 0.4, "rng": 3}],
                         ids=["plain", "causal", "bool", "float", "dropout"])
def test_gradcheck_and_gradgradcheck(kw, backend):
    kw = dict(kw)
    if kw.get("attn_mask") == "bool":
        kw["attn_mask"] = np.tril(np.ones((3, 4), bool))
    elif kw.get("attn_mask") == "float":
        kw["attn_mask"] = RNG.standard_normal((3, 4))
    q = gg.tensor(RNG.standard_normal((2, 3, 2)), requires_grad=True)
    k, v = (gg.tensor(RNG.standard_normal((2, 4, 2)), requires_grad=True) for _ in range(2))

    def f(a, b, c):  # a fixed seed: the same dropout pattern at every evaluation
        return gg.scaled_dot_product_attention(a, b, c, **kw)

    assert gradcheck(f, [q, k, v])
    assert gradgradcheck(f, [q, k, v])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal", "dropout"])
def test_numba_kernels_equal_their_twins(mask, dtype):
    nb = pytest.importorskip("graphgrad.kernels.numba_backend")
    q = RNG.standard_normal((3, 2, 5, 8)).astype(dtype)
    k = RNG.standard_normal((3, 2, 7, 8)).astype(dtype)
    v = RNG.standard_normal((3, 2, 7, 4)).astype(dtype)
    g = RNG.standard_normal((3, 2, 5, 4)).astype(dtype)
    m, causal, p = None, mask == "causal", 0.3 if mask == "dropout" else 0.0
    if mask == "bool":
        m = RNG.random((3, 1, 5, 7)) > 0.5
        m[0, 0, 1] = False
    elif mask == "float":
        m = RNG.standard_normal((5, 7)).astype(dtype)
    args = (q, k, v, m, causal, 0.35, p)
    want = REF["attention"](*args, np.random.default_rng(5))
    got = nb.KERNELS["attention"](*args, np.random.default_rng(5))
    tol = 64 * np.finfo(dtype).eps
    np.testing.assert_array_equal(got[2], want[2])  # the same seed, so the same dropout
    np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(got[1], want[1], rtol=tol, atol=tol)
    bargs = (g, q, k, v, want[0], want[1], want[2], m, causal, 0.35, p)
    for a, b in zip(nb.KERNELS["attention_backward"](*bargs), REF["attention_backward"](*bargs),
                    strict=True):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 8)


def test_dropout_drops_at_rate_p_and_scales_the_rest(backend):
    # v = identity rows: out[i] = the dropped and rescaled weights of row i
    L = S = 64
    q = gg.tensor(np.zeros((4, L, 2)))
    v = gg.tensor(np.eye(S)[None].repeat(4, 0))
    out = gg.scaled_dot_product_attention(q, gg.tensor(np.zeros((4, S, 2))), v, dropout_p=0.25,
                                          rng=np.random.default_rng(0)).data
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], (1 / S) / 0.75)
    gg.manual_seed(7)
    a = gg.scaled_dot_product_attention(q, q, v, dropout_p=0.25).data
    gg.manual_seed(7)
    b = gg.scaled_dot_product_attention(q, q, v, dropout_p=0.25).data
    c = gg.scaled_dot_product_attention(q, q, v, dropout_p=0.25).data
    np.testing.assert_array_equal(a, b)  # graphgrad's generator: reproducible
    assert not np.array_equal(b, c)  # and fresh at every call


def test_dropout_zero_draws_nothing_and_is_exact():
    state = gg.random.get_rng_state()
    q = gg.tensor(RNG.standard_normal((2, 3, 4)))
    a = gg.scaled_dot_product_attention(q, q, q, dropout_p=0.0)
    assert gg.random.get_rng_state() == state
    s = (q.data @ q.data.swapaxes(-1, -2)) / 2.0
    p = np.exp(s - s.max(-1, keepdims=True))
    np.testing.assert_allclose(a.data, (p / p.sum(-1, keepdims=True)) @ q.data, atol=1e-14)


def test_one_node_in_the_graph():
    q = gg.tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    out = gg.scaled_dot_product_attention(q, q, q, is_causal=True)
    assert type(out.grad_fn).__name__ == "ScaledDotProductAttention"
    assert all(e is None or e[0] is q for e in out.grad_fn.next_edges)


def test_errors_name_the_op_and_the_shapes():
    q = gg.tensor(RNG.standard_normal((1, 2, 3)))
    m = np.array([[True, True], [False, False]])
    with pytest.raises(ValueError, match="not both"):
        gg.scaled_dot_product_attention(q, q, q, attn_mask=m, is_causal=True)
    with pytest.raises(ValueError, match=r"expected q \(..., L, E\)"):
        gg.scaled_dot_product_attention(q, gg.tensor(np.ones((1, 2, 4))), q)
    with pytest.raises(ValueError, match="does not broadcast"):
        gg.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 2), bool))
    with pytest.raises(TypeError, match="bool or floating"):
        gg.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((2, 2), int))
    with pytest.raises(TypeError, match="one floating dtype"):
        gg.scaled_dot_product_attention(q, q.astype("float32"), q)
    with pytest.raises(ValueError, match="dropout_p"):
        gg.scaled_dot_product_attention(q, q, q, dropout_p=1.0)


def test_compiles_with_a_mask_that_is_a_step_input_and_dropout(backend):
    """The op's kernel calls are recorded: a replay reads the new mask and fresh dropout."""
    w = gg.Parameter(RNG.standard_normal((4, 4)).astype(np.float32))
    opt = gg.optimizers.SGD([w], lr=0.1)

    def step(x, mask):
        opt.zero_grad()
        h = x @ w
        loss = gg.scaled_dot_product_attention(h, h, h, attn_mask=mask, dropout_p=0.2).sum()
        loss.backward()
        opt.step()
        return loss

    xs = [RNG.standard_normal((2, 5, 4)).astype(np.float32) for _ in range(6)]
    masks = [RNG.random((2, 5, 5)) > 0.4 for _ in range(6)]
    w0 = w.data.copy()
    gg.manual_seed(3)
    eager = [step(x, m).data for x, m in zip(xs, masks)]
    w_eager = w.data.copy()
    with gg.no_grad():
        w.data[...] = w0
    compiled = gg.compile(step)
    gg.manual_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gg.compile.CompileWarning)
        replayed = [compiled(x, m).data for x, m in zip(xs, masks)]
    assert compiled.replays == 4
    names = [e.label for e in compiled.plan.entries]
    assert "attention" in names and "attention_backward" in names
    np.testing.assert_allclose(replayed, eager, rtol=1e-5)
    np.testing.assert_allclose(w.data, w_eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["heads", "batch5", "no_batch", "broadcast_k"])
def test_numba_kernels_on_strided_views_keep_the_inputs_layout(layout, dtype):
    """q, k, v as the heads of (N, L, H·E) projections (what MultiheadAttention passes):
    the kernels read them in place, agree with the twins, and return the output and the
    gradients in their input's memory layout (so the heads' transpose back is free)."""
    nb = pytest.importorskip("graphgrad.kernels.numba_backend")

    def heads(n, t, h, e):
        return RNG.standard_normal((n, t, h * e)).astype(dtype).reshape(n, t, h, e) \
            .transpose(0, 2, 1, 3)

    if layout == "heads":
        q, k, v, g = heads(3, 5, 2, 4), heads(3, 7, 2, 4), heads(3, 7, 2, 3), heads(3, 5, 2, 3)
    elif layout == "batch5":
        q, k, v, g = (RNG.standard_normal((2, 2, 2) + s).astype(dtype).swapaxes(-1, -2)
                      for s in ((4, 5), (4, 7), (3, 7), (3, 5)))
    elif layout == "no_batch":
        q, k, v, g = (RNG.standard_normal(s).astype(dtype).T
                      for s in ((4, 5), (4, 7), (3, 7), (3, 5)))
    else:
        q, v, g = heads(3, 5, 2, 4), heads(3, 7, 2, 3), heads(3, 5, 2, 3)
        k = np.broadcast_to(RNG.standard_normal((1, 2, 7, 4)).astype(dtype), (3, 2, 7, 4))
    assert not q.flags.c_contiguous
    args = (q, k, v, None, False, 0.4, 0.0)
    out, lse, seed = nb.KERNELS["attention"](*args, None)
    want = REF["attention"](*args, None)
    tol = 64 * np.finfo(dtype).eps
    np.testing.assert_allclose(out, want[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(lse, want[1], rtol=tol, atol=tol)
    if layout == "heads":
        assert out.transpose(0, 2, 1, 3).flags.c_contiguous
    bargs = (g, q, k, v, want[0], want[1], want[2], None, False, 0.4, 0.0)
    got = nb.KERNELS["attention_backward"](*bargs)
    for a, b, x in zip(got, REF["attention_backward"](*bargs), (q, k, v), strict=True):
        assert a.shape == x.shape and a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 8)
        if layout == "heads":
            assert a.transpose(0, 2, 1, 3).flags.c_contiguous


def test_multihead_attention_runs_without_head_copies():
    """Through MultiheadAttention (need_weights=False) the heads reach the fused op as
    views and come back without a `contiguous` copy, forward and backward."""
    from graphgrad.kernels import K

    mha = gg.layers.MultiheadAttention(8, 2, rng=np.random.default_rng(0))
    x = gg.tensor(RNG.standard_normal((3, 5, 8)), requires_grad=True)
    calls = []
    real = K.contiguous

    def spy(a):
        calls.append(a.shape)
        return real(a)

    vars(K)["contiguous"] = spy
    try:
        out, _ = mha(x, x, x, need_weights=False)
        out.sum().backward()
    finally:
        vars(K)["contiguous"] = real
    assert calls == []
    torch = pytest.importorskip("torch")
    t_mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    from graphgrad.interop import torch_state_dict
    t_mha.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v))
                           for k, v in torch_state_dict(mha).items()})
    tx = torch.tensor(x.data, requires_grad=True)
    t_out, _ = t_mha(tx, tx, tx, need_weights=False)
    t_out.sum().backward()
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
