"""The modern activation layers (plugins/modern_activations.py): registry names,
gg.check.module (gradients of inputs, twice), values against closed forms and,
when installed, against torch.nn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from graphgrad_plugins import activations, modern_activations

import graphgrad as gg

LAYERS = modern_activations.graphgrad_register_layers()


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_every_modern_activation_passes_check_module(cls):
    rng = np.random.default_rng(0)
    layer = cls()
    report = gg.check.module(layer, layer.example_input(rng))
    assert report.ok, str(report)
    assert report["gradgradcheck"].status == "pass", str(report)


def test_registered_names_leave_swish_to_outside_plugins():
    names = set(gg.layers.names())
    assert {"gelu", "silu", "mish", "elu", "celu", "selu", "hardtanh", "relu6", "hardsigmoid",
            "hardswish", "log_sigmoid", "softsign", "softmin"} <= names
    assert gg.layers["silu"] is modern_activations.SiLU
    x = gg.tensor([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(gg.swish(x).data, gg.silu(x).data)


def _erf(x):
    return np.vectorize(math.erf)(x)


SELU_L, SELU_A = 1.0507009873554805, 1.6732632423543772


@pytest.mark.parametrize("layer, reference", [
    (modern_activations.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    (modern_activations.GELU("tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    (modern_activations.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (modern_activations.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (modern_activations.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (modern_activations.CELU(2.0), lambda x: np.where(x > 0, x, 2.0 * np.expm1(x / 2.0))),
    (modern_activations.SELU(), lambda x: SELU_L * np.where(x > 0, x, SELU_A * np.expm1(x))),
    (modern_activations.Hardtanh(-2.0, 0.5), lambda x: np.clip(x, -2.0, 0.5)),
    (modern_activations.ReLU6(), lambda x: np.clip(x, 0, 6)),
    (modern_activations.Hardsigmoid(), lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    (modern_activations.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (modern_activations.LogSigmoid(), lambda x: -np.log1p(np.exp(-x))),
    (modern_activations.Softsign(), lambda x: x / (1 + np.abs(x))),
    (modern_activations.Softmin(dim=1),
     lambda x: np.exp(-x) / np.exp(-x).sum(axis=1, keepdims=True)),
    (activations.Softplus(beta=2.0, threshold=3.0),
     lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2)),
], ids=lambda v: type(v).__name__ if isinstance(v, gg.Module) else "")
def test_activation_values(layer, reference):
    x = np.random.default_rng(1).standard_normal((3, 4, 2)) * 4
    y = layer(gg.tensor(x))
    np.testing.assert_allclose(y.data, reference(x), rtol=1e-7, atol=1e-10)


def test_activations_match_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    x = np.random.default_rng(2).standard_normal((5, 6)) * 4
    pairs = [(modern_activations.GELU(), nn.GELU()), (modern_activations.GELU("tanh"),
             nn.GELU("tanh")), (modern_activations.SiLU(), nn.SiLU()),
             (modern_activations.Mish(), nn.Mish()), (modern_activations.ELU(0.3), nn.ELU(0.3)),
             (modern_activations.CELU(1.5), nn.CELU(1.5)), (modern_activations.SELU(), nn.SELU()),
             (modern_activations.Hardtanh(-0.5, 2.0), nn.Hardtanh(-0.5, 2.0)),
             (modern_activations.ReLU6(), nn.ReLU6()),
             (modern_activations.Hardsigmoid(), nn.Hardsigmoid()),
             (modern_activations.Hardswish(), nn.Hardswish()),
             (modern_activations.LogSigmoid(), nn.LogSigmoid()),
             (modern_activations.Softsign(), nn.Softsign()),
             (modern_activations.Softmin(0), nn.Softmin(0)),
             (activations.Softplus(0.5, 1.0), nn.Softplus(0.5, 1.0))]
    for ours, theirs in pairs:
        t = torch.tensor(x, requires_grad=True)
        theirs(t).pow(2).sum().backward()
        g = gg.tensor(x, requires_grad=True)
        (ours(g) ** 2).sum().backward()
        # rtol 1e-7: torch's float64 Hardsigmoid rounds its 1/6 like a float32 constant
        np.testing.assert_allclose(ours(gg.tensor(x)).data, theirs(t).detach().numpy(),
                                   rtol=1e-7, atol=1e-12, err_msg=type(ours).__name__)
        np.testing.assert_allclose(g.grad.data, t.grad.numpy(), rtol=1e-7, atol=1e-12,
                                   err_msg=type(ours).__name__)


def test_gelu_rejects_an_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        modern_activations.GELU("erf")
