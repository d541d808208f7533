"""LayerNorm, RMSNorm, GroupNorm, Softmax and LogSoftmax (plugins/norms.py) against torch 2.13
and finite differences; weights are copied by name."""

import numpy as np
import pytest
from graphgrad_plugins.norms import GroupNorm, LayerNorm, LogSoftmax, RMSNorm, Softmax

import graphgrad as gg

RNG = np.random.default_rng(7)


def _pair(layer, tlayer, x, dtype, tol):
    torch = pytest.importorskip("torch")
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tlayer = tlayer.to(tdtype)
    with torch.no_grad():
        for name, p in tlayer.named_parameters():
            p.copy_(torch.tensor(RNG.uniform(0.5, 1.5, p.shape), dtype=tdtype))
            getattr(layer, name).data[...] = p.detach().numpy()
    gx = gg.tensor(x.astype(dtype), requires_grad=True)
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    w = RNG.standard_normal(x.shape)
    y = layer(gx)
    (y * gg.tensor(w.astype(dtype))).sum().backward()
    ty = tlayer(tx)
    (ty * torch.tensor(w, dtype=tdtype)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=tol, rtol=tol)
    np.testing.assert_allclose(gx.grad.data if hasattr(gx.grad, "data") else gx.grad,
                               tx.grad.numpy(), atol=tol, rtol=tol)
    for name, p in tlayer.named_parameters():
        g = getattr(layer, name).grad
        np.testing.assert_allclose(getattr(g, "data", g), p.grad.numpy(), atol=tol, rtol=tol,
                                   err_msg=name)


CASES = {
    "layernorm_1d": (lambda: LayerNorm(6), lambda nn: nn.LayerNorm(6), (4, 3, 6)),
    "layernorm_2d": (lambda: LayerNorm((3, 6)), lambda nn: nn.LayerNorm((3, 6)), (4, 3, 6)),
    "layernorm_nobias": (lambda: LayerNorm(6, bias=False), lambda nn: nn.LayerNorm(6, bias=False),
                         (5, 6)),
    "layernorm_noaffine": (lambda: LayerNorm(6, elementwise_affine=False),
                           lambda nn: nn.LayerNorm(6, elementwise_affine=False), (5, 6)),
    "rmsnorm": (lambda: RMSNorm(6), lambda nn: nn.RMSNorm(6), (4, 3, 6)),
    "rmsnorm_eps": (lambda: RMSNorm((3, 6), eps=1e-3), lambda nn: nn.RMSNorm((3, 6), eps=1e-3),
                    (4, 3, 6)),
    "groupnorm": (lambda: GroupNorm(2, 6), lambda nn: nn.GroupNorm(2, 6), (3, 6, 4, 2)),
    "groupnorm_noaffine": (lambda: GroupNorm(3, 6, affine=False),
                           lambda nn: nn.GroupNorm(3, 6, affine=False), (3, 6, 5)),
    "softmax": (lambda: Softmax(dim=1), lambda nn: nn.Softmax(dim=1), (3, 5, 2)),
    "logsoftmax": (lambda: LogSoftmax(), lambda nn: nn.LogSoftmax(dim=-1), (3, 5, 2)),
}


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_outputs_and_gradients(case, dtype, tol):
    torch = pytest.importorskip("torch")
    build, tbuild, shape = CASES[case]
    layer = build()
    if dtype == np.float64:
        layer = layer.double()
    _pair(layer, tbuild(torch.nn), RNG.standard_normal(shape) * 2 + 0.5, dtype, tol)


def test_rmsnorm_default_eps_is_the_dtype_machine_epsilon():
    x = np.full((1, 4), 1e-4, dtype=np.float32)
    y = RMSNorm(4, elementwise_affine=False)(gg.tensor(x)).data
    expected = x / np.sqrt(1e-8 + np.finfo(np.float32).eps)
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def test_layernorm_gradients_against_finite_differences():
    layer = LayerNorm(5).double()
    x = gg.tensor(RNG.standard_normal((3, 5)), requires_grad=True)
    assert gg.check.gradcheck(lambda t: layer(t), [x])


@pytest.mark.parametrize("layer,shape,msg", [
    (LayerNorm(4), (3, 5), "normalized_shape"),
    (RMSNorm((2, 4)), (3, 4), "normalized_shape"),
    (GroupNorm(2, 4), (3, 5, 2), "channels on axis 1"),
])
def test_wrong_input_shape_is_named(layer, shape, msg):
    with pytest.raises(ValueError, match=msg):
        layer(gg.randn(*shape))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="divisible"):
        GroupNorm(4, 6)
    with pytest.raises(ValueError, match="normalized_shape"):
        LayerNorm(0)
    with pytest.raises(TypeError, match="axis=0 and dim=1"):
        Softmax(axis=0, dim=1)


@pytest.mark.parametrize("padding_idx", [1, -1])
def test_embedding_padding_idx_matches_torch(padding_idx):
    torch = pytest.importorskip("torch")
    layer = gg.layers.Embedding(5, 3, padding_idx=padding_idx).double()
    t = torch.nn.Embedding(5, 3, padding_idx=padding_idx).double()
    np.testing.assert_array_equal(layer.weight.data[padding_idx], 0.0)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(RNG.standard_normal((5, 3))))
    layer.weight.data[...] = t.weight.detach().numpy()
    idx = np.array([[1, 2, 4], [4, 1, 1]])
    w = RNG.standard_normal((2, 3, 3))
    y = layer(idx)
    (y * gg.tensor(w)).sum().backward()
    ty = t(torch.tensor(idx))
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-12)
    g = layer.weight.grad
    np.testing.assert_allclose(getattr(g, "data", g), t.weight.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="padding_idx"):
        gg.layers.Embedding(5, 3, padding_idx=5)


@pytest.mark.parametrize("cls,op", [(LayerNorm, "LayerNormOp"), (RMSNorm, "RMSNormOp")])
def test_layer_is_one_fused_node_and_twice_differentiable(cls, op):
    layer = cls((2, 3)).double()
    with gg.no_grad():
        layer.weight.copy_(RNG.uniform(0.5, 1.5, (2, 3)))
    x = gg.tensor(RNG.standard_normal((4, 2, 3)) + 1.0, requires_grad=True)
    y = layer(x)
    assert type(y.grad_fn).__name__ == op
    assert gg.check.gradcheck(lambda t: layer(t), [x])
    assert gg.check.gradgradcheck(lambda t: layer(t), [x])


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_functional_ops_and_double_backward_match_torch(dtype, tol):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = (RNG.standard_normal((3, 2, 5)) * 3 + 2).astype(dtype)
    w, b = RNG.uniform(0.5, 1.5, (2, 5)).astype(dtype), RNG.standard_normal((2, 5)).astype(dtype)
    g = RNG.standard_normal(x.shape).astype(dtype)
    for ours, theirs, params in (
            (lambda t, w, b: gg.layer_norm(t, (2, 5), w, b, 1e-3),
             lambda t, w, b: F.layer_norm(t, (2, 5), w, b, 1e-3), (w, b)),
            (lambda t, w: gg.rms_norm(t, (2, 5), w, 1e-3),
             lambda t, w: F.rms_norm(t, (2, 5), w, 1e-3), (w,))):
        gs = [gg.tensor(a, requires_grad=True) for a in (x, *params)]
        ts = [torch.tensor(a, requires_grad=True) for a in (x, *params)]
        y, ty = ours(*gs), theirs(*ts)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
        grads = gg.grad((y * gg.tensor(g)).sum(), gs, create_graph=True)
        tgrads = torch.autograd.grad((ty * torch.tensor(g)).sum(), ts, create_graph=True)
        for a, t in zip(grads, tgrads, strict=True):
            np.testing.assert_allclose(a.data, t.detach().numpy(), rtol=tol, atol=tol)
        # second order: the gradient of Σ ∂x² (the differentiable backward) against torch's
        second = gg.grad((grads[0] * grads[0]).sum(), gs, allow_unused=True)
        tsecond = torch.autograd.grad((tgrads[0] * tgrads[0]).sum(), ts, allow_unused=True)
        for a, t in zip(second, tsecond, strict=True):  # β does not reach ∂x: None in both
            assert (a is None) == (t is None)
            if t is not None:
                np.testing.assert_allclose(a.data, t.numpy(), rtol=tol * 10, atol=tol * 10)
