"""Built-in layers (plugins/layers.py, activations.py, normalization.py, merge.py).

Forward values against NumPy formulas, gradients against finite differences
(``gg.check.module``: inputs and every parameter, float64), output shapes,
and train vs eval behaviour.
"""

from __future__ import annotations

import numpy as np
import pytest
from graphgrad_plugins import activations, layers, merge, normalization
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg

BUILT_INS = (layers.graphgrad_register_layers() + activations.graphgrad_register_layers()
             + normalization.graphgrad_register_layers() + merge.graphgrad_register_layers())


def _build(cls, rng):
    return cls.example(rng) if hasattr(cls, "example") else cls()


def _f64(shape, seed=0, margin=0.0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return gg.tensor(x + margin * np.sign(x))


@pytest.mark.parametrize("cls", BUILT_INS, ids=lambda c: c.__name__)
def test_every_layer_passes_check_module(cls):
    rng = np.random.default_rng(0)
    layer = _build(cls, rng)
    report = gg.check.module(layer, layer.example_input(rng))
    assert report.ok, str(report)
    for name in ("gradcheck[train]", "gradcheck[eval]", "gradgradcheck"):
        assert report[name].status == "pass", str(report)


def test_every_layer_is_registered_under_its_name():
    expected = {"linear", "sigmoid", "tanh", "scaled_tanh", "tanh_linear", "rbf", "relu",
                "leaky_relu", "prelu", "noisy_relu", "softplus", "dropout", "batch_norm",
                "flatten", "add", "concat", "subtract", "multiply", "embedding", "lambda"}
    assert expected <= set(gg.layers.names())
    assert gg.layers["batch_norm"] is normalization.BatchNorm
    assert gg.layers.Linear is layers.Linear


# --------------------------------------------------------------- activations
@pytest.mark.parametrize("layer, reference", [
    (activations.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (activations.Tanh(), np.tanh),
    (activations.ScaledTanh(), lambda x: 1.7159 * np.tanh(2 * x / 3)),
    (activations.TanhLinear(beta=0.25), lambda x: np.tanh(x) + 0.25 * x),
    (activations.ReLU(), lambda x: np.maximum(x, 0)),
    (activations.LeakyReLU(slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (activations.Softplus(), lambda x: np.log1p(np.exp(x))),
    (activations.PReLU(), lambda x: np.where(x > 0, x, 0.25 * x)),
], ids=lambda v: type(v).__name__ if isinstance(v, gg.Module) else "")
def test_activation_values(layer, reference):
    x = _f64((3, 4, 2), margin=0.05)
    y = layer(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.data, reference(x.data), rtol=1e-6, atol=1e-7)


def test_scaled_tanh_maps_plus_minus_one_near_plus_minus_one():
    y = activations.ScaledTanh()(gg.tensor([-1.0, 1.0], dtype="float64"))
    np.testing.assert_allclose(y.data, [-1.0, 1.0], atol=2e-4)


def test_prelu_per_channel_on_nchw_and_slope_gradient():
    layer = activations.PReLU(num_parameters=3, init=0.1).double()
    with gg.no_grad():
        layer.weight.copy_(np.array([0.1, 0.2, 0.3]))
    x = _f64((2, 3, 2, 2), margin=0.05)
    slopes = np.array([0.1, 0.2, 0.3]).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(layer(x).data, np.where(x.data > 0, x.data, slopes * x.data))
    layer(x).sum().backward()  # ∂/∂a_c = Σ min(0, x) over channel c
    expected = np.minimum(x.data, 0).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(layer.weight.grad.data, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="PReLU: 3 slopes .* shape \\(2, 4\\)"):
        layer(_f64((2, 4)))


def test_noisy_relu_adds_gaussian_noise_in_training_only():
    layer = activations.NoisyReLU(sigma=0.5, rng=1)
    x = gg.tensor(np.full((200, 500), 10.0))  # far from the kink: y = x + ε exactly
    noise = layer(x).data - 10.0
    assert abs(noise.mean()) < 5 * 0.5 / np.sqrt(noise.size)
    assert noise.std() == pytest.approx(0.5, rel=0.01)
    layer.eval()
    x = _f64((4, 5))
    np.testing.assert_array_equal(layer(x).data, np.maximum(x.data, 0))


def test_noisy_relu_is_reproducible_with_a_seed():
    x = _f64((3, 3))
    a = activations.NoisyReLU(rng=4)(x).data
    b = activations.NoisyReLU(rng=4)(x).data
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------- linear
def test_linear_computes_x_at_w_plus_b_with_w_in_by_out():
    layer = layers.Linear(4, 3, rng=0, dtype="float64")
    assert layer.weight.shape == (4, 3) and layer.bias.shape == (3,)
    with gg.no_grad():
        layer.bias.copy_(np.array([1.0, -1.0, 0.5]))
    x = _f64((5, 4))
    np.testing.assert_allclose(layer(x).data, x.data @ layer.weight.data + layer.bias.data)
    batched = _f64((2, 5, 4))
    assert layer(batched).shape == (2, 5, 3)
    no_bias = layers.Linear(4, 3, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    assert no_bias(x).dtype == np.float64  # float64 input × float32 weight promotes


def test_linear_shape_error_names_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Linear: .*in_features=4.*shape \(5, 3\)"):
        layers.Linear(4, 2)(_f64((5, 3)))
    with pytest.raises(ValueError, match="must be >= 1"):
        layers.Linear(0, 2)


def test_linear_init_by_name_object_and_callable_and_reproducible():
    a = layers.Linear(6, 5, init="xavier_uniform", rng=3)
    b = layers.Linear(6, 5, init=gg.initializers.XavierUniform(), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    bound = np.sqrt(6 / 11)
    assert np.abs(a.weight.data).max() <= bound
    c = layers.Linear(2, 2, init=lambda shape, rng: np.eye(2), bias_init="zeros")
    np.testing.assert_array_equal(c.weight.data, np.eye(2))
    gg.manual_seed(9)
    d = layers.Linear(6, 5)
    gg.manual_seed(9)
    np.testing.assert_array_equal(d.weight.data, layers.Linear(6, 5).weight.data)
    assert d.weight.dtype == np.float32
    with pytest.raises(KeyError, match="no initializers component named 'he_nrmal'"):
        layers.Linear(2, 2, init="he_nrmal")


def test_he_normal_default_gives_variance_two_over_fan_in():
    w = layers.Linear(400, 600, rng=0).weight.data.astype(np.float64)
    assert w.std() == pytest.approx(np.sqrt(2 / 400), rel=0.01)


@settings(max_examples=20, deadline=None)
@given(lead=st.lists(st.integers(1, 4), max_size=3), n_in=st.integers(1, 5),
       n_out=st.integers(1, 5))
def test_linear_output_shapes(lead, n_in, n_out):
    x = gg.tensor(np.ones(tuple(lead) + (n_in,), dtype=np.float32))
    y = layers.Linear(n_in, n_out, rng=0)(x)
    assert y.shape == tuple(lead) + (n_out,) and y.dtype == np.float32


# ------------------------------------------------------------------------ rbf
def test_rbf_matches_the_formula():
    layer = layers.RBF(3, 2, num_centres=4, rng=0, dtype="float64")
    with gg.no_grad():
        layer.widths.copy_(np.array([0.5, 1.0, 2.0, 0.1]))
    x = _f64((5, 3))
    w, beta, u = layer.centres.data, layer.widths.data, layer.weight.data
    expected = np.zeros((5, 2))
    for n in range(5):
        for k in range(2):
            expected[n, k] = sum(u[j, k] * np.exp(-beta[j] * np.sum((x.data[n] - w[j]) ** 2))
                                 for j in range(4))
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-10)


def test_rbf_defaults_and_parameters():
    layer = layers.RBF(8, 3)
    assert layer.num_centres == 3
    assert {n: p.shape for n, p in layer.named_parameters()} == {
        "centres": (3, 8), "widths": (3,), "weight": (3, 3)}
    np.testing.assert_allclose(layer.widths.data, 1 / 8)
    with pytest.raises(ValueError, match="RBF: .*in_features=8"):
        layer(_f64((2, 3)))


# -------------------------------------------------------------------- dropout
def test_dropout_rate_and_inverted_scaling_in_training():
    layer = layers.Dropout(p=0.3, rng=0)
    x = gg.tensor(np.ones((400, 500)))
    y = layer(x).data
    dropped = np.mean(y == 0)
    assert dropped == pytest.approx(0.3, abs=0.005)
    np.testing.assert_allclose(y[y != 0], 1 / 0.7)
    assert y.mean() == pytest.approx(1.0, abs=0.01)  # E[y] = x


def test_dropout_eval_uses_all_units_unscaled():
    layer = layers.Dropout(p=0.5).eval()
    x = _f64((3, 4))
    assert layer(x) is x


def test_dropout_edge_probabilities_and_errors():
    x = _f64((3, 4))
    np.testing.assert_array_equal(layers.Dropout(p=0.0)(x).data, x.data)
    assert not layers.Dropout(p=1.0)(x).data.any()
    with pytest.raises(ValueError, match=r"Dropout: p .* \[0, 1\], got 1.5"):
        layers.Dropout(p=1.5)


def test_dropout_gradient_is_the_mask():
    layer = layers.Dropout(p=0.5, rng=2)
    x = gg.tensor(np.ones((4, 6)), requires_grad=True)
    y = layer(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)  # mask/(1-p) with x = 1


def test_dropout_masks_follow_the_global_seed():
    x = gg.tensor(np.ones((5, 5)))
    gg.manual_seed(1)
    a = layers.Dropout()(x).data
    gg.manual_seed(1)
    np.testing.assert_array_equal(a, layers.Dropout()(x).data)


# ----------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape, axes", [((64, 3), (0,)), ((8, 3, 4, 5), (0, 2, 3))])
def test_batch_norm_training_normalizes_per_channel(shape, axes):
    layer = normalization.BatchNorm(3, momentum=0.1)
    rng = np.random.default_rng(0)
    scale = np.array([1.0, 5.0, 0.2]).reshape((1, 3) + (1,) * (len(shape) - 2))
    x = rng.standard_normal(shape) * scale + 3.0
    y = layer(gg.tensor(x)).data
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.std(axis=axes), 1.0, rtol=1e-3)
    n = x.size // 3
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=axes) * n / (n - 1),
                               rtol=1e-5)
    assert int(layer.num_batches_tracked) == 1


def test_batch_norm_eval_uses_running_statistics():
    layer = normalization.BatchNorm(2).double()
    layer.running_mean = np.array([1.0, -1.0])
    layer.running_var = np.array([4.0, 0.25])
    with gg.no_grad():
        layer.weight.copy_(np.array([2.0, 1.0]))
        layer.bias.copy_(np.array([0.0, 0.5]))
    layer.eval()
    x = _f64((5, 2))
    expected = (x.data - [1.0, -1.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5) * [2.0, 1.0]
    np.testing.assert_allclose(layer(x).data, expected + [0.0, 0.5], rtol=1e-12)
    single = layer(_f64((1, 2)))  # one sample is fine in eval
    assert single.shape == (1, 2)
    assert int(layer.num_batches_tracked) == 0


def test_batch_norm_cumulative_average_and_no_affine():
    layer = normalization.BatchNorm(2, momentum=None, affine=False)
    assert list(layer.parameters()) == []
    batches = [np.random.default_rng(s).standard_normal((10, 2)) + s for s in range(3)]
    for b in batches:
        layer(gg.tensor(b))
    np.testing.assert_allclose(layer.running_mean, np.mean([b.mean(0) for b in batches], 0),
                               rtol=1e-5)


def test_batch_norm_state_dict_has_running_statistics():
    layer = normalization.BatchNorm(4)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"]


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm: expected input \(N, 3\).*\(4, 2\)"):
        normalization.BatchNorm(3)(_f64((4, 2)))
    with pytest.raises(ValueError, match="more than one value per channel"):
        normalization.BatchNorm(3)(_f64((1, 3)))


def test_batch_norm_nchw_gradcheck_in_training():
    layer = normalization.BatchNorm(2).double()
    x = _f64((3, 2, 2, 2)).detach()
    x.requires_grad = True
    assert gg.check.gradcheck(lambda x: layer(x), [x])


# ------------------------------------------------------------------ flatten
@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), start=st.integers(0, 1))
def test_flatten_shapes(shape, start):
    y = layers.Flatten(start_axis=start)(gg.tensor(np.zeros(shape)))
    assert y.shape == tuple(shape[:start]) + (int(np.prod(shape[start:])),)


def test_a_network_of_built_in_layers_trains_a_step():
    gg.manual_seed(0)
    net = gg.Network(inputs=["x"])
    net.add("fc1", gg.layers.Linear(4, 8))
    net.add("bn", gg.layers.BatchNorm(8))
    net.add("act", gg.layers.ReLU())
    net.add("drop", gg.layers.Dropout(0.1))
    net.add("fc2", gg.layers.Linear(8, 4))
    net.add("skip", gg.layers.Add(), inputs=["fc2", "x"])
    x = gg.tensor(np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32))
    loss = (net(x) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    with gg.no_grad():
        for p in net.parameters():
            p.add_(p.grad, alpha=-0.1)
    assert float((net(x) ** 2).mean().item()) != float(loss.item())
