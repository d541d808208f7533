"""Findings (viz.finding, viz.rules): data first, then drawn by the default to_dot."""

import json
import os
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import registry
from graphgrad.viz.finding import Finding, percent

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def need_dot():
    """Skip without Graphviz's `dot`, unless CI demands it (GRAPHGRAD_REQUIRE_DOT=1)."""
    if shutil.which("dot") is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip("Graphviz `dot` is not installed")


def node_line(source, node_id):
    """The DOT statement of the node whose tooltip is `node_id`."""
    for line in source.splitlines():
        if f"tooltip={node_id}]" in line or f'tooltip="{node_id}"]' in line:
            return line
    raise AssertionError(f"no node {node_id!r} in the DOT source")


def batch(seed=0, n=16, d=6):
    rng = np.random.default_rng(seed)
    return (gg.tensor(rng.normal(size=(n, d)).astype(np.float32)),
            gg.tensor(rng.integers(0, 3, size=n)))


def mlp(d=6, h=8, k=3):
    return gg.Sequential(gg.layers.Linear(d, h), gg.layers.ReLU(), gg.layers.Linear(h, k))


def step(model, prob=False):
    x, y = batch()
    out = model(x)
    if prob:
        out = gg.softmax(out, axis=-1)
    loss = gg.losses["cross_entropy"]()(out, y)
    loss.backward()
    return loss


def by_rule(found, rule):
    return [f for f in found if f.rule == rule]


def warnings(found):
    return [f for f in found if f.severity in ("error", "warning")]


def test_softmax_into_cross_entropy_is_marked_by_default():
    gg.manual_seed(0)
    model = mlp()
    loss = step(model, prob=True)
    (f,) = by_rule(gg.viz.findings(loss, model), "probabilities_into_logits_loss")
    assert f.severity == "error" and f.nodes[0].startswith("Softmax")
    assert "SoftmaxCrossEntropy" in f.nodes[1] and "logits" in f.advice
    src = gg.to_dot(loss, params=model).source  # no opt-in flag
    line = node_line(src, f.nodes[0])
    assert "PROBABILITIES INTO LOGITS LOSS" in line and 'color="#d62728"' in line
    assert "ERROR PROBABILITIES INTO LOGITS LOSS" in src.split("\n\t")[1] + src[:600]
    assert not by_rule(gg.viz.findings(step(mlp())), "probabilities_into_logits_loss")


def test_layer_left_out_of_the_optimizer_is_marked_not_hottest():
    gg.manual_seed(1)
    model = mlp()
    opt = gg.optimizers["sgd"](list(model[0].parameters()), lr=0.1)
    loss = step(model)
    (f,) = by_rule(gg.viz.findings(loss, model, opt), "not_in_optimizer")
    assert set(f.params) == {"2.weight", "2.bias"} and set(f.nodes) == {"2.weight", "2.bias"}
    src = gg.to_dot(loss, params=model, optimizer=opt).source
    line = node_line(src, "2.weight")
    assert "NOT IN OPTIMIZER" in line and 'fillcolor="#ffe0b8"' in line
    graph = gg.to_networkx(loss, params=model, optimizer=opt)
    assert graph.nodes["2.weight"]["findings"][0]["title"] == "NOT IN OPTIMIZER"
    assert graph.graph["findings"][0]["rule"] == "not_in_optimizer"
    full = gg.optimizers["sgd"](list(model.parameters()), lr=0.1)
    assert not by_rule(gg.viz.findings(loss, model, full), "not_in_optimizer")


def test_frozen_first_layer_is_an_info_finding():
    gg.manual_seed(2)
    model = mlp()
    model[0].requires_grad_(False)
    loss = step(model)
    (f,) = by_rule(gg.viz.findings(loss, model), "frozen")
    assert f.severity == "info" and set(f.params) == {"0.weight", "0.bias"}
    assert "FROZEN" in gg.to_dot(loss, params=model).source


def test_dead_relu_behind_a_bias_of_minus_10_is_greyed_and_marked():
    gg.manual_seed(3)
    model = mlp(h=64)
    model[0].bias.data[...] = -10.0
    with gg.record_stats():  # forward statistics kept (a backward frees saved outputs)
        loss = step(model)
    (f,) = by_rule(gg.viz.findings(loss, model), "dead_units")
    assert f.nodes == ("1/Relu_0",) and f.evidence["zero_frac"] >= 0.9
    line = node_line(gg.to_dot(loss, params=model).source, "1/Relu_0")  # stats not asked for
    assert "DEAD" in line and 'fillcolor="#d9d9d9"' in line


def test_percentages_never_round_to_100_or_0():
    assert percent(0.9996) == "99.96%" and percent(0.97) == "97%"
    assert percent(1.0) == "100%" and percent(0.0) == "0%"
    assert percent(0.00004) != "0%" and float(percent(0.99999)[:-1]) < 100


def test_ten_sigmoid_layers_vanish():
    gg.manual_seed(4)
    layers = []
    for _ in range(10):
        layers += [gg.layers.Linear(16, 16), gg.layers.Sigmoid()]
    model = gg.Sequential(*layers, gg.layers.Linear(16, 3))
    x, y = batch(d=16)
    loss = gg.losses["cross_entropy"]()(model(x), y)
    loss.backward()
    (f,) = by_rule(gg.viz.findings(loss, model), "gradient_across_depth")
    norms = [p.grad for n, p in model.named_parameters() if n.endswith("weight")]
    expected = np.linalg.norm(norms[0]) / np.linalg.norm(norms[-1])
    assert f.title == "VANISHING GRADIENT" and f.evidence["ratio"] == pytest.approx(expected,
                                                                                  rel=1e-4)
    assert f.nodes == ("0.weight", "20.weight")
    assert "VANISHING GRADIENT" in gg.to_dot(loss, params=model).source


def test_healthy_networks_have_no_warnings():
    gg.manual_seed(5)
    model = mlp()
    opt = gg.optimizers["sgd"](list(model.parameters()), lr=0.1)
    assert warnings(gg.viz.findings(step(model), model, opt)) == []
    cnn = gg.Sequential(gg.layers.Conv2d(1, 4, 3, padding=1), gg.layers.ReLU(),
                        gg.layers.Flatten(), gg.layers.Linear(4 * 6 * 6, 3))
    x = gg.tensor(np.random.default_rng(0).normal(size=(8, 1, 6, 6)).astype(np.float32))
    loss = gg.losses["cross_entropy"]()(cnn(x), gg.tensor(np.arange(8) % 3))
    loss.backward()
    assert warnings(gg.viz.findings(loss, cnn)) == []
    assert "⚠" not in gg.to_dot(loss, params=cnn).source


def _example(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"findings_{name}")


def _healthy_models():
    """(what, model, input shape): the demo's MLP and CNN (graphgrad demo, built from
    its configs) and the examples' models (digits MLP and CNN, the skip connection)."""
    from graphgrad.cli.demo import CNN_CONFIG, DEMO_CONFIG
    from graphgrad.config import build_model

    yield "demo mlp", build_model(DEMO_CONFIG["model"]), (32, 1, 8, 8)
    yield "demo cnn", build_model(CNN_CONFIG["model"]), (32, 1, 8, 8)
    yield "digits_mlp.py", _example("digits_mlp")["build_model"](), (32, 64)
    yield "digits_cnn.py", _example("digits_cnn")["build_model"](), (32, 1, 8, 8)
    yield "skip_connection.py", _example("skip_connection")["build_network"](), (32, 64)


def test_the_demo_and_example_networks_have_no_warnings_training_or_evaluating():
    rng = np.random.default_rng(0)
    for what, model, shape in _healthy_models():
        gg.manual_seed(0)
        opt = gg.optimizers["sgd"](list(model.parameters()), lr=0.05, momentum=0.9)
        x = gg.tensor(rng.normal(size=shape).astype(np.float32), name="x")
        y = gg.tensor(rng.integers(0, 10, size=shape[0]))
        model.train()
        for _ in range(3):  # a few steps of training, as the demo does
            opt.zero_grad()
            loss = gg.losses["cross_entropy"]()(model(x), y)
            loss.backward()
            opt.step()
        found = gg.viz.findings(loss, model, opt)
        assert warnings(found) == [], (what, [f.line() for f in warnings(found)])
        assert "⚠" not in gg.to_dot(loss, params=model, optimizer=opt).source, what
        model.eval()
        out = model(x)
        assert warnings(gg.viz.findings(out, model)) == [], what


def test_finding_is_json_and_validated():
    f = Finding("r", "warning", "T", nodes=["a"], evidence={"x": np.float32(2.5),
                                                          "y": float("inf")})
    d = json.loads(json.dumps(f.to_dict()))
    assert d == {"rule": "r", "severity": "warning", "title": "T", "nodes": ["a"],
                 "params": [], "evidence": {"x": 2.5, "y": "inf"}, "advice": ""}
    with pytest.raises(ValueError, match="severity"):
        Finding("r", "bad", "T")


def test_a_plugin_adds_a_rule_through_the_hook():
    def every_matmul(ctx):
        return [Finding("every_matmul", "info", "MATMUL", nodes=(n,))
                for n, d in ctx.graph.nodes(data=True) if d["op"] == "MatMul"]

    class Rules:
        @registry.hookimpl
        def graphgrad_register_findings_rules(self):
            return [every_matmul]

    loss = step(mlp())
    registry.register_plugin(Rules(), name="test_findings_rules")
    try:
        found = by_rule(gg.viz.findings(loss), "every_matmul")
        src = gg.to_dot(loss).source
    finally:
        registry.reload()
    assert sorted(f.nodes[0] for f in found) == ["0/MatMul_0", "2/MatMul_0"]
    assert src.count("⚠ MATMUL") == 2
    assert not by_rule(gg.viz.findings(loss), "every_matmul")
