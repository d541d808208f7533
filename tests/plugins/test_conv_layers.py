"""Built-in convolution and pooling layers (plugins/conv.py, BatchNorm2d in normalization.py).

Each layer against its PyTorch twin with the same weights (when torch is
installed), gradients via ``gg.check.module`` (float64 finite differences),
initializer fans with the receptive field, BatchNorm2d's running statistics
and eval mode, and the inspection tools: summary rows, the Jacobian shapes
of ``gg.check.shapes`` and the Graphviz labels of conv/pool nodes.
"""

from __future__ import annotations

import numpy as np
import pytest
from graphgrad_plugins import conv, normalization

import graphgrad as gg

LAYERS = conv.graphgrad_register_layers() + [normalization.BatchNorm2d]


@pytest.mark.parametrize("cls", LAYERS, ids=lambda c: c.__name__)
def test_every_conv_layer_passes_check_module(cls):
    rng = np.random.default_rng(0)
    layer = cls.example(rng) if hasattr(cls, "example") else cls()
    report = gg.check.module(layer, layer.example_input(rng))
    assert report.ok, str(report)


def _torch_twin(layer, torch):
    nn = torch.nn
    name = type(layer).__name__
    if name in ("Conv1d", "Conv2d"):
        t = getattr(nn, name)(layer.in_channels, layer.out_channels, layer.kernel_size,
                              layer.stride, layer.padding, layer.dilation, layer.groups,
                              bias=layer.bias is not None)
    elif name == "ConvTranspose2d":
        t = nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                               layer.stride, layer.padding, layer.output_padding, layer.groups,
                               bias=layer.bias is not None, dilation=layer.dilation)
    else:
        raise AssertionError(name)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(layer.weight.data))
        if layer.bias is not None:
            t.bias.copy_(torch.tensor(layer.bias.data))
    return t


@pytest.mark.parametrize("make", [
    lambda: conv.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=0),
    lambda: conv.Conv2d(3, 4, (3, 2), padding="same", dilation=(1, 2), rng=1),
    lambda: conv.Conv1d(2, 4, 5, stride=2, padding=2, bias=False, rng=2),
    lambda: conv.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2,
                                 rng=3),
], ids=["conv2d", "conv2d-same", "conv1d", "conv-transpose"])
def test_conv_layers_match_torch(make):
    torch = pytest.importorskip("torch")
    layer = make()
    twin = _torch_twin(layer, torch)
    shape = (2, layer.in_channels, 7) + (() if type(layer).__name__ == "Conv1d" else (6,))
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(layer(gg.tensor(x)).data,
                               twin(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_pool_and_dropout_layers_match_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 6)).astype(np.float32)
    for ours, theirs in ((conv.MaxPool2d(3, 2, 1, ceil_mode=True),
                          nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
                         (conv.AvgPool2d(3, 2, 1, count_include_pad=False),
                          nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
                         (conv.AdaptiveAvgPool2d((2, 4)), nn.AdaptiveAvgPool2d((2, 4))),
                         (conv.Dropout2d(0.3).eval(), nn.Dropout2d(0.3).eval())):
        np.testing.assert_allclose(ours(gg.tensor(x)).data, theirs(torch.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_batchnorm2d_matches_torch_in_train_and_eval():
    torch = pytest.importorskip("torch")
    ours, theirs = normalization.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    rng = np.random.default_rng(7)
    for _ in range(3):
        x = (rng.standard_normal((4, 3, 5, 5)) * 2 + 1).astype(np.float32)
        np.testing.assert_allclose(ours(gg.tensor(x)).data,
                                   theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), atol=1e-5)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(ours(gg.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               atol=1e-5)


def test_batchnorm2d_says_nchw_is_expected():
    with pytest.raises(ValueError, match=r"channels-last.*NCHW is expected"):
        normalization.BatchNorm2d(3)(gg.zeros(2, 5, 5, 3))


def test_initializer_fans_include_the_receptive_field():
    """Var[w] = 2 / fan_in with fan_in = in/groups·kh·kw (He), as PyTorch computes the fans."""
    layer = conv.Conv2d(16, 64, 5, groups=2, rng=0, init="he_normal", dtype="float64")
    fan_in = 8 * 25
    assert abs(layer.weight.data.var() / (2.0 / fan_in) - 1) < 0.05
    glorot = conv.Conv2d(16, 32, 3, rng=1, init="xavier_uniform", dtype="float64")
    assert abs(glorot.weight.data.var() / (2.0 / (16 * 9 + 32 * 9)) - 1) < 0.05
    torch = pytest.importorskip("torch")
    from graphgrad_plugins.initializers import compute_fans

    for shape in [(64, 8, 5, 5), (32, 16, 3), (4, 2, 3, 3)]:
        assert compute_fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(shape))


def _digits_cnn():
    L = gg.layers
    return gg.Sequential(L.Conv2d(1, 8, 3, padding=1, rng=0), L.ReLU(), L.MaxPool2d(2),
                         L.Conv2d(8, 4, 3, padding=1, rng=1), L.ReLU(),
                         L.AdaptiveAvgPool2d(1), L.Flatten(), L.Linear(4, 10, rng=2))


def test_summary_lists_output_shapes_and_parameters_per_conv_layer():
    table = gg.summary(_digits_cnn(), gg.zeros(2, 1, 8, 8))
    rows = {r.path: r for r in table.rows}
    assert rows["0"].type == "Conv2d" and rows["0"].params == 8 * 9 + 8
    assert rows["3"].params == 4 * 8 * 9 + 4
    assert tuple(rows["2"].output_shapes[0]) == (2, 8, 4, 4)
    assert tuple(rows["5"].output_shapes[0]) == (2, 4, 1, 1)


def test_shapes_show_the_jacobian_of_a_conv_layer():
    x = gg.zeros(2, 1, 8, 8)
    layer = conv.Conv2d(1, 3, 3, padding=1, rng=0)
    rows = [r for r in gg.check.shapes(layer(x)) if r.op == "Conv2d"]
    assert len(rows) == 1
    jac = {i: (o, s) for _, i, o, s in rows[0].jacobians}
    assert jac[1] == ((2, 3, 8, 8), (3, 1, 3, 3))  # ∂y/∂W: y.shape × W.shape
    assert rows[0].jacobian_matrix_shapes()[0] == (2 * 3 * 64, 27)


def test_graphviz_labels_show_kernel_stride_padding():
    model = _digits_cnn()
    out = model(gg.zeros(2, 1, 8, 8))
    graph = gg.to_networkx(out, params=model)
    labels = {d["op"]: d["label"] for _, d in graph.nodes(data=True) if d["kind"] == "op"}
    assert labels["Conv2d"] == "k 3, s 1, p 1"
    assert labels["MaxPool2d"] == "k 2, s 2, p 0"
    assert labels["MatMul"] is None
    source = gg.to_dot(out).source
    assert "k 3, s 1, p 1" in source and "k 2, s 2, p 0" in source
