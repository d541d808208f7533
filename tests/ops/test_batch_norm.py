"""gg.batch_norm (one fused op, ``F.batch_norm``'s semantics) and the BatchNorm layers built on
it, against PyTorch in float64 to 1e-10 (outputs, input/γ/β gradients, running statistics
with momentum and the cumulative average, train and eval, both backends), finite differences
(first and second derivatives) and its errors."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.kernels import get_backend, set_backend

TOL = 1e-10


@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    was = get_backend()
    set_backend(request.param)
    yield request.param
    set_backend(was)


def _torch_layer(torch, shape, momentum):
    cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    return cls(shape[1], momentum=momentum, dtype=torch.float64)


def _assert_close(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (4, 3, 2, 3)])
@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_layers_match_torch(backend, shape, momentum, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    layer_cls = gg.layers.BatchNorm2d if len(shape) == 4 else gg.layers.BatchNorm
    ours = layer_cls(shape[1], momentum=momentum, affine=affine, dtype="float64")
    theirs = _torch_layer(torch, shape, momentum)
    if not affine:
        theirs = type(theirs)(shape[1], momentum=momentum, affine=False, dtype=torch.float64)
    else:
        w, b = rng.uniform(0.5, 1.5, shape[1]), rng.standard_normal(shape[1])
        with gg.no_grad():
            ours.weight.copy_(w)
            ours.bias.copy_(b)
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
            theirs.bias.copy_(torch.tensor(b))
    for step in range(4):
        if step == 3:
            ours.eval()
            theirs.eval()
        x = rng.standard_normal(shape) * (1 + step) + step
        g = rng.standard_normal(shape)
        xo, xt = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        _assert_close(yo.data, yt.detach().numpy())
        (yo * gg.tensor(g)).sum().backward()
        (yt * torch.tensor(g)).sum().backward()
        _assert_close(xo.grad.data, xt.grad.numpy())
        if affine:
            _assert_close(ours.weight.grad.data, theirs.weight.grad.numpy())
            _assert_close(ours.bias.grad.data, theirs.bias.grad.numpy())
            ours.zero_grad()
            theirs.weight.grad = theirs.bias.grad = None
        _assert_close(ours.running_mean, theirs.running_mean.numpy())
        _assert_close(ours.running_var, theirs.running_var.numpy())
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked)


@pytest.mark.parametrize("training", [True, False])
def test_the_function_matches_torch_functional(backend, training):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((6, 4, 3)), rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2.0, 4)
    trm, trv = torch.tensor(rm), torch.tensor(rv)
    y = gg.batch_norm(x, rm, rv, w, b, training=training, momentum=0.2, eps=1e-3)
    want = F.batch_norm(torch.tensor(x), trm, trv, torch.tensor(w), torch.tensor(b),
                        training=training, momentum=0.2, eps=1e-3)
    _assert_close(y.data, want.numpy())
    _assert_close(rm, trm.numpy())  # updated in place in training, untouched in eval
    _assert_close(rv, trv.numpy())
    without = gg.batch_norm(x, training=False)  # no running statistics: the batch's
    _assert_close(without.data, F.batch_norm(torch.tensor(x), None, None, training=True).numpy())


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 2), (3, 2, 2, 2)])
def test_first_and_second_derivatives(backend, training, shape):
    rng = np.random.default_rng(2)
    x = gg.tensor(rng.standard_normal(shape), requires_grad=True)
    w = gg.tensor(rng.uniform(0.5, 1.5, 2), requires_grad=True)
    b = gg.tensor(rng.standard_normal(2), requires_grad=True)
    rm, rv = rng.standard_normal(2), rng.uniform(0.5, 2.0, 2)

    def fn(x, w, b):  # fresh copies: training moves the running statistics
        return gg.batch_norm(x, rm.copy(), rv.copy(), w, b, training=training)

    assert gg.check.gradcheck(fn, [x, w, b])
    assert gg.check.gradgradcheck(fn, [x, w, b])


def test_float32_and_no_grad(backend):
    rng = np.random.default_rng(3)
    layer = gg.layers.BatchNorm2d(3)
    x = (rng.standard_normal((4, 3, 2, 2)) * 4 + 2).astype(np.float32)
    with gg.no_grad():  # the running statistics still move, as in torch
        y = layer(gg.tensor(x))
    assert y.dtype == np.float32 and layer.running_mean.dtype == np.float32
    mean = x.astype(np.float64).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.running_mean, 0.1 * mean, rtol=1e-6)
    np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0.0, atol=1e-6)
    assert int(layer.num_batches_tracked) == 1


def test_mixed_dtypes_promote_as_the_ops_do():
    x = gg.randn(4, 3, rng=0).astype("float64")
    x.requires_grad = True
    w = gg.tensor(np.ones(3, np.float32), requires_grad=True)
    y = gg.batch_norm(x, weight=w, training=True)
    assert y.dtype == np.float64
    y.sum().backward()
    assert w.grad.dtype == np.float32 and x.grad.dtype == np.float64


def test_one_node_per_call():
    layer = gg.layers.BatchNorm2d(3)
    x = gg.randn(4, 3, 2, 2, rng=0)
    x.requires_grad = True
    graph = gg.to_networkx(layer(x).sum())
    ops = [d.get("op") for _, d in graph.nodes(data=True) if d["kind"] == "op"]
    assert ops.count("BatchNormOp") == 1 and len(ops) == 2, ops  # batch norm, then the sum


def test_errors():
    x = gg.randn(4, 3)
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        gg.batch_norm(x, weight=gg.ones(2))
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        gg.batch_norm(x, np.zeros(3, np.float32), training=True)
    with pytest.raises(ValueError, match="more than one value per channel"):
        gg.batch_norm(gg.randn(1, 3), training=True)
    with pytest.raises(ValueError, match="needs num_batches_tracked"):
        gg.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32), training=True,
                      momentum=None)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, ...\)"):
        gg.batch_norm(gg.randn(3))
    with pytest.raises(TypeError, match="must be floating point, got int64"):
        gg.batch_norm(np.arange(24).reshape(6, 4), training=True)
    with pytest.raises(TypeError, match="num_batches_tracked is counted in place"):
        # a Python int would be incremented in a local copy: m = 1 on every call
        gg.batch_norm(x, np.zeros(3, np.float32), np.ones(3, np.float32), training=True,
                      momentum=None, num_batches_tracked=0)


def test_the_cumulative_average_counts_in_the_given_buffer():
    rng = np.random.default_rng(0)
    batches = [rng.normal(i, 1.0, (8, 3)) for i in range(3)]
    mean, var, count = np.zeros(3), np.ones(3), np.zeros((), np.int64)
    for b in batches:
        gg.batch_norm(b, mean, var, training=True, momentum=None, num_batches_tracked=count)
    assert count == 3
    # the cumulative average of the batch means (NumPy), as torch's momentum=None
    np.testing.assert_allclose(mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
