"""The seven broken trainings of issue 26, each marked by the default to_dot (no opt-in
flag), and the new findings (modes, summed gradients, overflow, dead channels, folds).

The cases are built by examples/debugging/seven_cases.py (shared with
scripts/make_doc_images.py, which draws them for the docs' gallery)."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd.engine import backward_count

CE = gg.losses["cross_entropy"]
SEVEN = Path(__file__).resolve().parents[2] / "examples" / "debugging" / "seven_cases.py"


def load_cases():
    """examples/debugging/seven_cases.py as a module (it defines a dataclass: it must be
    in sys.modules while it runs)."""
    spec = importlib.util.spec_from_file_location("graphgrad_example_seven_cases", SEVEN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cases = load_cases()
data, bn_model = cases.data, cases.bn_model


def node_line(source, node_id):
    for line in source.splitlines():
        if f"tooltip={node_id}]" in line or f'tooltip="{node_id}"]' in line:
            return line
    raise AssertionError(f"no node {node_id!r} in the DOT source")


def rules(found):
    return {f.rule for f in found}


def only(found, rule):
    (f,) = [f for f in found if f.rule == rule]
    return f


# -------------------------------------------------------------- 1. softmax into CE
def test_case1_softmax_into_cross_entropy():
    case = cases.softmax_into_cross_entropy()
    f = only(case.findings(), "probabilities_into_logits_loss")
    assert f.nodes[0].startswith("3/Softmax")
    assert "PROBABILITIES INTO LOGITS LOSS" in node_line(case.dot().source, f.nodes[0])


# ------------------------------------------------------ 2. a layer not in the optimizer
def test_case2_layer_left_out_of_the_optimizer_and_its_gradient_summing_up():
    case = cases.layer_not_in_optimizer()
    model = case.model
    assert backward_count(model[2].weight) == 3 and backward_count(model[0].weight) == 1
    found = case.findings()
    assert set(only(found, "not_in_optimizer").params) == {"2.weight", "2.bias"}
    acc = only(found, "accumulated_gradients")
    assert set(acc.params) == {"2.weight", "2.bias"} and acc.evidence["backward_calls"] == 3
    line = node_line(case.dot().source, "2.weight")
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
    case = cases.learning_rate_overflow()
    model, err = case.model, case.extra["error"]
    assert err is not None and err.phase == "forward"
    text = str(err)
    assert "overflow" in text and "learning rate" in text
    params = max(float(np.abs(p.data).max()) for p in model.parameters())
    assert f"{params:.3g}" in text  # the largest |parameter| behind it
    if err.op == "MatMul":
        assert "zeros" not in text and "negative" not in text
    assert case.root is err.output
    dot = case.dot().source
    assert "OVERFLOW" in dot and "#ff6b6b" in dot


# -------------------------------------------------- 4. batch norm in train mode for eval
def test_case4_train_mode_batchnorm_in_an_evaluation_graph():
    case = cases.batchnorm_train_mode_in_eval()
    model, out, x = case.model, case.root, case.extra["x"]  # model.eval() forgotten
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
    assert "running_mean" in src and "running_var" in src  # the fused op takes both
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
    case = cases.ten_sigmoid_layers()
    f = only(case.findings(), "gradient_across_depth")
    assert f.title == "VANISHING GRADIENT" and f.nodes == ("0.weight", "20.weight")
    assert case.view == {"depth": 0}
    src = case.dot().source
    assert "(Linear, Sigmoid) × 10" in src and "VANISHING GRADIENT" in src
    assert re.search(r"‖grad‖ per layer: \S+ \(\S+ → \S+\)", src)


# ----------------------------------------------------- 6. one weight in two layers
def test_case6_a_weight_shared_by_two_layers():
    case = cases.shared_weight()
    model, loss = case.model, case.root
    assert model[4].weight is model[2].weight
    f = only(case.findings(), "shared_parameters")
    assert f.title == "shared: layers 2, 4" and f.params == ("2.weight",)
    assert "shared: layers 2, 4" in node_line(case.dot().source, "2.weight")
    total = 56 + 72 + 8 + 27  # the shared 8 x 8 weight once
    assert sum(p.numel() for p in model.parameters()) == total
    layers = gg.viz.collapse.collapse(gg.to_networkx(loss, params=model), 0)  # layer picture
    assert sum(d["params"] if d["kind"] == "module" else
               int(np.prod(d["shape"])) * (d["kind"] == "parameter")
               for _, d in layers.nodes(data=True)) == total


# ------------------------------------------------ 7. a CNN behind a bias of -10
def test_case7_cnn_feature_maps_die_per_channel():
    case = cases.dead_cnn_channels()
    f = only(case.findings(), "dead_units")
    assert f.title == "DEAD 97% of channels" and f.evidence["dead_frac"] == 31 / 32
    line = node_line(case.dot().source, f.nodes[0])
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


def test_the_example_script_prints_each_case_and_its_findings(capsys):
    assert cases.main([]) == 0
    out = capsys.readouterr().out
    for name in cases.CASES:
        assert f"{name}:\n" in out
    assert "ERROR PROBABILITIES INTO LOGITS LOSS" in out and "INFO shared: layers 2, 4" in out
