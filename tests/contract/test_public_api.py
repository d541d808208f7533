"""The public API contract of docs (DESIGN "Public API"): every name and signature
works as written, and float32 stays float32 through a whole training step."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import numpy as np
import pluggy
import pytest

import graphgrad as gg

OP_FUNCTIONS = (
    "exp log sqrt abs sign tanh sigmoid relu leaky_relu softplus maximum minimum where clip "
    "concatenate stack matmul sum mean max min var logsumexp softmax log_softmax reshape "
    "transpose getitem"
).split()


# issue 14: the op set of a dense-network engine (gg.<name>; a Tensor method where torch has one)
DENSE_OPS = (
    "gelu silu swish elu celu selu mish hardswish hardsigmoid hardtanh logsigmoid softsign "
    "softmin relu6 sin cos tan arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh "
    "log2 log10 log1p exp2 expm1 rsqrt reciprocal square erf erfc floor ceil round trunc fmod "
    "remainder copysign logaddexp logaddexp2 lerp fmax fmin isnan isinf isfinite isclose prod "
    "any all argmax argmin cumsum cumprod cummax cummin logcumsumexp norm sort argsort topk std "
    "einsum tensordot dot inner outer kron trace diag diagonal tril triu eye cross pad flip roll "
    "repeat tile repeat_interleave split chunk array_split hstack vstack squeeze unsqueeze "
    "expand permute movedim flatten unflatten meshgrid clone linspace logspace gather scatter "
    "scatter_add scatter_reduce index_select masked_fill masked_select nonzero one_hot "
    "take_along_axis put_along_axis"
).split()
TORCH_METHODS = (
    "sin cos tan asin acos atan atan2 sinh cosh asinh acosh atanh log2 log10 log1p exp2 expm1 "
    "rsqrt reciprocal square erf erfc floor ceil round trunc fmod remainder copysign logaddexp "
    "logaddexp2 lerp fmax fmin isnan isinf isfinite isclose prod any all argmax argmin cumsum "
    "cumprod cummax cummin logcumsumexp norm sort argsort topk std dot inner outer kron trace "
    "diag diagonal tril triu cross flip roll repeat tile repeat_interleave split chunk squeeze "
    "unsqueeze expand permute movedim flatten unflatten clone gather scatter scatter_add "
    "scatter_reduce index_select masked_fill masked_select nonzero"
).split()


@pytest.mark.parametrize("name", DENSE_OPS)
def test_dense_network_ops_exist(name):
    assert callable(getattr(gg, name)), name
    assert getattr(gg, name).__doc__, f"gg.{name} has no docstring"


@pytest.mark.parametrize("name", TORCH_METHODS)
def test_tensor_methods_where_torch_has_one(name):
    assert callable(getattr(gg.Tensor, name)), name


def test_tensor_methods_forward_to_the_functions():
    x = gg.tensor(np.array([[0.2, -0.5, 0.9], [0.4, 0.1, -0.3]]))
    np.testing.assert_array_equal(x.asin().data, gg.arcsin(x).data)
    np.testing.assert_array_equal(x.cumsum(dim=1).data, gg.cumsum(x, 1).data)
    np.testing.assert_array_equal((x % 0.25).data, gg.remainder(x, 0.25).data)
    np.testing.assert_array_equal(x.topk(2)[0].data, gg.topk(x, 2)[0].data)
    np.testing.assert_array_equal(x.permute(1, 0).data, x.data.T)


def test_tensor_construction_and_attributes():
    x = gg.tensor([[1.0, 2.0]], requires_grad=True, dtype="float32", name="x")
    assert x.dtype == np.float32 and x.shape == (1, 2) and x.ndim == 2 and x.name == "x"
    assert x.grad is None and isinstance(x.data, np.ndarray)
    assert x.numpy() is x.data
    assert gg.tensor([3.0]).item() == 3.0
    d = x.detach()
    assert d.data is x.data and not d.requires_grad and d.grad_fn is None


def test_the_contract_expression_and_backward_signature():
    x = gg.tensor([[1.0, 2.0]], requires_grad=True, dtype="float32", name="x")
    w = gg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = gg.tensor(np.zeros(3, np.float32), requires_grad=True)
    y = (x @ w + b).tanh().sum(axis=1, keepdims=True).mean()
    y.backward(grad=None, retain_graph=False, create_graph=False)
    for t in (x, w, b):
        assert t.grad is not None and t.grad.dtype == np.float32 and t.grad.shape == t.shape
    params = inspect.signature(gg.Tensor.backward).parameters
    assert list(params)[1:] == ["grad", "retain_graph", "create_graph"]


def test_grad_signature_and_no_grad():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = gg.grad((x * x).sum(), x, grad_outputs=None, retain_graph=None, create_graph=False)
    np.testing.assert_allclose(g.data, [2.0, 4.0])
    assert x.grad is None
    assert list(inspect.signature(gg.grad).parameters)[:5] == [
        "outputs", "inputs", "grad_outputs", "retain_graph", "create_graph"]
    with gg.no_grad():
        assert (x * 2).grad_fn is None

    @gg.no_grad()
    def double(t):
        return t * 2

    assert double(x).grad_fn is None


@pytest.mark.parametrize("name", OP_FUNCTIONS)
def test_op_functions_exist_and_are_methods_where_numpy_has_one(name):
    assert callable(getattr(gg, name))
    if hasattr(np.ndarray, name):
        assert callable(getattr(gg.Tensor, name))


def _every_op(q):
    """Each listed function and operator applied to a float32 (3, 4) tensor."""
    unary = ["exp", "log", "sqrt", "abs", "sign", "tanh", "sigmoid", "relu", "leaky_relu",
             "softplus", "sum", "mean", "max", "min", "var", "logsumexp", "softmax",
             "log_softmax"]
    out = [getattr(gg, n)(q) for n in unary] + [getattr(q, n)() for n in unary]
    out += [gg.maximum(q, 1.0), gg.minimum(q, 1.0), gg.maximum(q, q * 2),
            gg.where(q > 1, q, 0.0), gg.clip(q, 0.0, 1.0), q.clip(0.0, 1.0),
            gg.concatenate([q, q]), gg.stack([q, q]), gg.matmul(q, q.T), q @ q.T,
            gg.reshape(q, (4, 3)), q.reshape(12), gg.transpose(q), q.transpose(),
            gg.getitem(q, 0), q[0], q[:, [0, 2]],
            q + 1, 1 + q, q - 1, 1 - q, q * 2, 2 * q, q / 2, 2 / q, q**2, q**0.5, 2**q, -q]
    return out


def test_every_op_keeps_float32_forward_and_backward():
    q = gg.tensor(np.random.default_rng(0).random((3, 4)).astype(np.float32) + 0.5,
                  requires_grad=True)
    for r in _every_op(q):
        assert r.dtype == np.float32, r
        q.grad = None
        r.sum().backward()
        assert q.grad.dtype == np.float32
    for c in (q < 1, q <= 1, q > 1, q >= 1, q == 1, q != 1):
        assert c.grad_fn is None and c.dtype == bool


def test_modules_registries_and_hooks():
    assert issubclass(gg.Parameter, gg.Tensor)
    assert issubclass(gg.Sequential, gg.Module) and isinstance(gg.Network, type)
    for kind in ("layers", "losses", "initializers", "optimizers", "schedules", "transforms"):
        registry = getattr(gg, kind)
        assert registry.names() == sorted(registry.names()) and registry.names()
    assert gg.layers.Linear is gg.layers["linear"]
    assert isinstance(gg.hookimpl, pluggy.HookimplMarker)
    assert gg.hookimpl.project_name == "graphgrad"
    from graphgrad.registry import hookspecs

    for hook in ("graphgrad_register_layers", "graphgrad_register_losses",
                 "graphgrad_register_initializers", "graphgrad_register_optimizers",
                 "graphgrad_register_schedules", "graphgrad_register_transforms"):
        assert not inspect.signature(getattr(hookspecs, hook)).parameters
    expected = {"graphgrad_train_start": ["trainer"],
                "graphgrad_epoch_end": ["trainer", "epoch", "metrics"],
                "graphgrad_train_end": ["trainer", "history"],
                "graphgrad_dot_node_attrs": ["node", "attrs"]}
    for hook, args in expected.items():
        assert list(inspect.signature(getattr(hookspecs, hook)).parameters) == args


def test_component_conventions():
    lin = gg.layers.Linear(in_features=2, out_features=3, bias=True, init="he_normal")
    assert lin.weight.shape == (2, 3) and lin.bias.shape == (3,)
    assert gg.layers.Linear(2, 3, bias=False).bias is None
    mse = gg.losses["mse"]
    pred, target = gg.tensor(np.ones((4, 2), np.float32)), gg.tensor(np.zeros((4, 2), np.float32))
    assert mse(reduction="mean")(pred, target).shape == ()
    assert mse(reduction="sum")(pred, target).shape == ()
    assert mse(reduction="none")(pred, target).shape[0] == 4
    sig = inspect.signature(gg.optimizers.SGD).parameters
    assert [(n, p.default) for n, p in sig.items()][1:] == [
        ("lr", inspect.Parameter.empty), ("momentum", 0.0), ("nesterov", False),
        ("weight_decay", 0.0), ("l1", 0.0)]
    opt = gg.optimizers.SGD(lin.parameters(), 0.1, momentum=0.9, nesterov=True,
                            weight_decay=1e-4, l1=1e-5)
    x = gg.tensor(np.ones((4, 2), np.float32))

    def closure():
        opt.zero_grad()
        loss = (lin(x) ** 2).mean()
        loss.backward()
        return loss

    assert isinstance(opt.step(closure), gg.Tensor)
    opt.zero_grad()
    assert set(opt.state_dict()) == {"state", "param_groups"}
    schedule = gg.schedules.StepDecay(opt, step_size=2, gamma=0.5)
    opt.step()
    schedule.step()
    schedule.step()
    assert schedule.get_last_lr() == [pytest.approx(0.05)]


def test_data_training_check_and_viz_names():
    assert {"DataLoader", "ArrayDataset", "RandomSampler", "SequentialSampler",
            "StratifiedSampler", "HardExampleSampler"} <= set(dir(gg.data))
    assert callable(gg.Trainer) and callable(gg.EarlyStopping)
    a = gg.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    assert gg.check.gradcheck(lambda t: (t * t).sum(), [a])
    assert gg.check.jacobian(lambda t: t * t, a).shape == (3, 3)
    assert callable(gg.check.babysit)
    y = (a * 2).sum()
    assert gg.to_networkx(y).number_of_nodes() > 0
    assert "digraph" in gg.to_dot(y).source
    assert list(inspect.signature(gg.render).parameters)[:3] == ["root", "path", "format"]


def test_set_backend_and_environment_variable():
    previous = gg.get_backend()
    try:
        gg.set_backend("numpy")
        assert gg.get_backend() == "numpy"
    finally:
        gg.set_backend(previous)
    env = {**os.environ, "GRAPHGRAD_BACKEND": "numpy"}
    out = subprocess.run([sys.executable, "-c", "import graphgrad; print(graphgrad.get_backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"


# ---------------------------------------------------------------- float32 training
def _float32_arrays(tree, path="state"):
    """(path, dtype) of every floating ndarray or Tensor in a nested state that is not float32."""
    bad = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            bad += _float32_arrays(v, f"{path}.{k}")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            bad += _float32_arrays(v, f"{path}[{i}]")
    elif isinstance(tree, (np.ndarray, gg.Tensor)) and tree.dtype.kind == "f":
        if tree.dtype != np.float32:
            bad.append((path, tree.dtype))
    return bad


FIRST_ORDER = {"sgd": dict(momentum=0.9, nesterov=True, weight_decay=1e-3, l1=1e-4),
               "adam": dict(weight_decay=1e-3), "rmsprop": dict(weight_decay=1e-3),
               "adagrad": dict(weight_decay=1e-3)}


@pytest.mark.parametrize("optimizer", sorted(FIRST_ORDER))
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_float32_mlp_training_step_stays_float32(optimizer, loss):
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((16, 5)).astype(np.float32))
    if loss == "cross_entropy":
        target = rng.integers(0, 3, 16)
    else:
        target = gg.tensor(rng.standard_normal((16, 3)).astype(np.float32))
    model = gg.Sequential(gg.layers.Linear(5, 8), gg.layers["batch_norm"](8),
                          gg.layers["relu"](), gg.layers["dropout"](0.1),
                          gg.layers.Linear(8, 8), gg.layers["tanh"](), gg.layers.Linear(8, 3))
    opt = gg.optimizers[optimizer](model.parameters(), lr=0.01, **FIRST_ORDER[optimizer])
    schedule = gg.schedules.StepDecay(opt, step_size=1, gamma=0.5)
    loss_fn = gg.losses[loss]()
    for _ in range(3):
        opt.zero_grad()
        value = loss_fn(model(x), target)
        assert value.dtype == np.float32
        value.backward()
        for name, p in model.named_parameters():
            assert p.grad.dtype == np.float32, name
        opt.step()
        schedule.step()
    assert not [(n, p.dtype) for n, p in model.named_parameters() if p.dtype != np.float32]
    assert not _float32_arrays(dict(model.named_buffers()), "buffers")
    assert not _float32_arrays(opt.state_dict())
    assert not _float32_arrays({str(i): s for i, s in enumerate(opt.state.values())})
    model.eval()
    assert model(x).dtype == np.float32
