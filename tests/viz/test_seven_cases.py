"""The seven broken trainings of issue 26, each marked by the default to_dot (no opt-in
flag), and the new findings (modes, summed gradients, overflow, dead channels, folds)."""

import re

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd.engine import backward_count

CE = gg.losses["cross_entropy"]


def node_line(source, node_id):
    for line in source.splitlines():
        if f"tooltip={node_id}]" in line or f'tooltip="{node_id}"]' in line:
            return line
    raise AssertionError(f"no node {node_id!r} in the DOT source")


def data(n=32, d=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return (gg.tensor(rng.normal(size=(n, d)).astype(np.float32)),
            gg.tensor(rng.integers(0, k, size=n)))


def rules(found):
    return {f.rule for f in found}


def only(found, rule):
    (f,) = [f for f in found if f.rule == rule]
    return f


# -------------------------------------------------------------- 1. softmax into CE
def test_case1_softmax_into_cross_entropy():
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.ReLU(), gg.layers.Linear(8, 3),
                          gg.layers.Softmax())
    x, y = data()
    loss = CE()(model(x), y)
    loss.backward()
    f = only(gg.viz.findings(loss, model), "probabilities_into_logits_loss")
    assert f.nodes[0].startswith("3/Softmax")
    assert "PROBABILITIES INTO LOGITS LOSS" in node_line(gg.to_dot(loss, params=model).source,
                                                         f.nodes[0])


# ------------------------------------------------------ 2. a layer not in the optimizer
def test_case2_layer_left_out_of_the_optimizer_and_its_gradient_summing_up():
    gg.manual_seed(1)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.ReLU(), gg.layers.Linear(8, 3))
    opt = gg.optimizers["sgd"](list(model[0].parameters()), lr=0.1)
    x, y = data()
    for _ in range(3):
        opt.zero_grad()
        loss = CE()(model(x), y)
        loss.backward()
        opt.step()
    assert backward_count(model[2].weight) == 3 and backward_count(model[0].weight) == 1
    found = gg.viz.findings(loss, model, opt)
    assert set(only(found, "not_in_optimizer").params) == {"2.weight", "2.bias"}
    acc = only(found, "accumulated_gradients")
    assert set(acc.params) == {"2.weight", "2.bias"} and acc.evidence["backward_calls"] == 3
    line = node_line(gg.to_dot(loss, params=model, optimizer=opt).source, "2.weight")
    assert "NOT IN OPTIMIZER" in line and "GRAD SUMS 3 BACKWARDS" in line
    assert "#ffe0b8" in line  # the warning fill, not the 'hottest gradient' colour


def test_zero_grad_with_zeros_restarts_the_count():
    model = gg.layers.Linear(3, 2)
    x = gg.tensor(np.ones((2, 3), np.float32))
    opt = gg.optimizers["sgd"](list(model.parameters()), lr=0.1)
    for _ in range(2):
        opt.zero_grad(set_to_none=False)
        model(x).sum().backward()
    assert backward_count(model.weight) == 1
    model(x).sum().backward()
    assert backward_count(model.weight) == 2


# ---------------------------------------------------------- 3. NaN from a huge lr
def test_case3_learning_rate_overflow_names_magnitudes_and_the_learning_rate():
    gg.manual_seed(2)
    model = gg.Sequential(gg.layers.Linear(6, 32), gg.layers.ReLU(), gg.layers.Linear(32, 3))
    opt = gg.optimizers["sgd"](list(model.parameters()), lr=1e9)
    x, y = data()
    err = None
    quiet = np.errstate(all="ignore")
    quiet.__enter__()
    for _ in range(60):
        opt.zero_grad()
        try:
            with gg.detect_anomaly():
                loss = CE()(model(x), y)
                loss.backward()
        except gg.viz.AnomalyError as e:
            err = e
            break
        opt.step()
    quiet.__exit__(None, None, None)
    assert err is not None and err.phase == "forward"
    text = str(err)
    assert "overflow" in text and "learning rate" in text
    params = max(float(np.abs(p.data).max()) for p in model.parameters())
    assert f"{params:.3g}" in text  # the largest |parameter| behind it
    if err.op == "MatMul":
        assert "zeros" not in text and "negative" not in text
    dot = gg.to_dot(err.output, params=model).source
    assert "OVERFLOW" in dot and "#ff6b6b" in dot


# -------------------------------------------------- 4. batch norm in train mode for eval
def bn_model():
    return gg.Sequential(gg.layers.Linear(6, 8), gg.layers.BatchNorm(8), gg.layers.ReLU(),
                         gg.layers.Dropout(0.5), gg.layers.Linear(8, 3))


def test_case4_train_mode_batchnorm_in_an_evaluation_graph():
    gg.manual_seed(3)
    model = bn_model()
    x, y = data()
    CE()(model(x), y).backward()  # a training step: leaves .grad behind
    out = model(x)  # evaluation, model.eval() forgotten
    f = [g for g in gg.viz.findings(out, model) if g.rule == "wrong_mode"][0]
    assert f.title == "TRAIN MODE IN EVALUATION"
    both = {g.evidence["module"] for g in gg.viz.findings(out, model) if g.rule == "wrong_mode"}
    assert both == {"1", "3"} or both == {"1"}  # Dropout is an identity only in eval
    src = gg.to_dot(out, params=model).source
    assert "TRAIN MODE IN EVALUATION" in node_line(src, f.nodes[0])
    assert "BatchNorm (train)" in src and "Dropout (train)" in src
    assert "‖grad‖" not in src  # stale gradients of the training step are not drawn
    model.eval()
    out = model(x)
    assert "wrong_mode" not in rules(gg.viz.findings(out, model))
    src = gg.to_dot(out, params=model).source
    assert "BatchNorm (eval)" in src  # (an eval-mode Dropout runs no op: nothing to draw)
    assert "running_mean" in src and "running_std" in src
    graph = gg.to_networkx(out, params=model)
    assert graph.nodes["running_mean"]["kind"] == "constant"
    assert graph.nodes["running_mean"]["module"] == "1"  # in the BatchNorm's box
    assert not [n for n, d in graph.nodes(data=True) if d["kind"] == "input"][1:]


def test_eval_mode_batchnorm_in_a_training_step():
    gg.manual_seed(4)
    model = bn_model()
    model[1].eval()
    x, y = data()
    loss = CE()(model(x), y)
    loss.backward()
    f = only(gg.viz.findings(loss, model), "wrong_mode")
    assert f.title == "EVAL MODE IN TRAINING" and f.evidence["module"] == "1"
    assert "EVAL MODE IN TRAINING" in gg.to_dot(loss, params=model).source


# ------------------------------------------------------ 5. ten sigmoid layers vanish
def test_case5_ten_sigmoid_layers_fold_in_phase_with_sparkline_ends():
    gg.manual_seed(5)
    layers = []
    for i in range(10):
        layers += [gg.layers.Linear(6 if i == 0 else 16, 16), gg.layers.Sigmoid()]
    model = gg.Sequential(*layers, gg.layers.Linear(16, 3))
    x, y = data()
    loss = CE()(model(x), y)
    loss.backward()
    f = only(gg.viz.findings(loss, model), "gradient_across_depth")
    assert f.title == "VANISHING GRADIENT" and f.nodes == ("0.weight", "20.weight")
    src = gg.to_dot(loss, params=model, depth=0).source
    assert "(Linear, Sigmoid) × 10" in src and "VANISHING GRADIENT" in src
    assert re.search(r"‖grad‖ per layer: \S+ \(\S+ → \S+\)", src)


# ----------------------------------------------------- 6. one weight in two layers
def test_case6_a_weight_shared_by_two_layers():
    gg.manual_seed(6)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.Tanh(), gg.layers.Linear(8, 8),
                          gg.layers.Tanh(), gg.layers.Linear(8, 8), gg.layers.Tanh(),
                          gg.layers.Linear(8, 3))
    model[4].weight = model[2].weight  # by accident
    x, y = data()
    loss = CE()(model(x), y)
    loss.backward()
    f = only(gg.viz.findings(loss, model), "shared_parameters")
    assert f.title == "shared: layers 2, 4" and f.params == ("2.weight",)
    assert "shared: layers 2, 4" in node_line(gg.to_dot(loss, params=model).source, "2.weight")
    total = 56 + 72 + 8 + 27  # the shared 8 x 8 weight once
    assert sum(p.numel() for p in model.parameters()) == total
    layers = gg.viz.collapse.collapse(gg.to_networkx(loss, params=model), 0)  # layer picture
    assert sum(d["params"] if d["kind"] == "module" else
               int(np.prod(d["shape"])) * (d["kind"] == "parameter")
               for _, d in layers.nodes(data=True)) == total


# ------------------------------------------------ 7. a CNN behind a bias of -10
def test_case7_cnn_feature_maps_die_per_channel():
    gg.manual_seed(7)
    cnn = gg.Sequential(gg.layers.Conv2d(1, 32, 3, padding=1), gg.layers.ReLU(),
                        gg.layers.Flatten(), gg.layers.Linear(32 * 6 * 6, 3))
    cnn[0].bias.data[...] = -10.0
    cnn[0].bias.data[0] = 0.0  # one channel lives: 31 of 32 dead
    x = gg.tensor(np.random.default_rng(0).normal(size=(8, 1, 6, 6)).astype(np.float32))
    with gg.record_stats():
        loss = CE()(cnn(x), gg.tensor(np.arange(8) % 3))
    loss.backward()
    f = only(gg.viz.findings(loss, cnn), "dead_units")
    assert f.title == "DEAD 97% of channels" and f.evidence["dead_frac"] == 31 / 32
    line = node_line(gg.to_dot(loss, params=cnn).source, f.nodes[0])
    assert "DEAD 97% of channels" in line and "#d9d9d9" in line


# ------------------------------------------------------------------- more marks
def test_frozen_first_layer_keeps_its_layers():
    gg.manual_seed(8)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.ReLU(), gg.layers.Linear(8, 3))
    model[0].requires_grad_(False)
    x, y = data()
    loss = CE()(model(x), y)
    loss.backward()
    graph = gg.to_networkx(loss, params=model)
    cut = "1 output (frozen: not recorded)"  # layers 0-1 ran no recorded op
    assert [d["name"] for _, d in graph.nodes(data=True) if d["kind"] == "input"] == [cut]
    f = only(gg.viz.findings(loss, model), "frozen")
    assert set(f.params) == {"0.weight", "0.bias"} and f.nodes == (cut,)
    assert "FROZEN" in node_line(gg.to_dot(loss, params=model).source, cut)
    model[0].requires_grad_(True)
    assert model(x).name is None


def test_lambda_name_is_drawn():
    model = gg.Sequential(gg.layers.Linear(4, 4), gg.layers.Lambda(lambda t: t * 2, name="twice"))
    out = model(gg.tensor(np.ones((2, 4), np.float32)))
    assert "Lambda twice" in gg.to_dot(out, params=model).source


def test_healthy_examples_have_no_warnings():
    gg.manual_seed(9)
    model = bn_model()
    opt = gg.optimizers["sgd"](list(model.parameters()), lr=0.1)
    x, y = data()
    for _ in range(2):
        opt.zero_grad()
        loss = CE()(model(x), y)
        loss.backward()
        opt.step()
    bad = [f for f in gg.viz.findings(loss, model, opt) if f.severity != "info"]
    assert bad == []
    model.eval()
    assert [f for f in gg.viz.findings(model(x), model) if f.severity != "info"] == []


@pytest.mark.parametrize("percent_in, text", [(0.9996, "99.96%"), (0.99999, "99.999%"),
                                               (0.97, "97%")])
def test_percent_never_rounds_to_100(percent_in, text):
    from graphgrad.viz.finding import percent

    assert percent(percent_in) == text
