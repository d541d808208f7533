"""The six broken networks of examples/debugging/: each bug is marked in the graph data
(to_networkx) and in the DOT source (issue 17); plus the pieces they are built from."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd import observe
from graphgrad.viz import health

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "debugging"


def example(name):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"debugging_{name}")


def node_line(source: str, text: str) -> str:
    """The DOT statement of the (first) node whose label contains `text`."""
    return next(line for line in source.splitlines()
                if re.match(r"\s*n\d+ \[", line) and text in line)


def fill(line: str) -> str:
    return re.search(r'fillcolor="(#[0-9a-f]{6})"', line).group(1)


def need_dot():
    if shutil.which("dot") is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip("Graphviz `dot` is not installed")


# ------------------------------------------------------------- the six networks
def test_shape_error_names_the_module_and_the_partial_pictures_mark_it():
    error, table, dot = example("shape_error")["find"]()
    assert "in module model.4: Linear, input shape (4, 6)" in error.__notes__
    assert error.graphgrad_module == ("4", "Linear")
    assert table.failed.path == "4" and table.failed.type == "Linear"
    assert [r.status for r in table.rows] == ["ok", "ok", "ok", "ok", "ok", "failed"]
    assert [r.output_shapes for r in table.rows[1:5]] == [((4, 6),)] * 4  # what ran
    text = str(table)
    assert "<-- FAILED" in node_line_text(text, "Linear      -") and "FAILED in model.4" in text
    assert 'color:#c00000' in table._repr_html_()  # red in a notebook
    line = node_line(dot.source, "4: Linear")
    assert fill(line) == health.BAD and "FAILED here" in line
    assert "FAILED in model.4: Linear: ValueError" in dot.source
    assert dot.source.count("label=\"MatMul") == 2  # the two Linears that ran


def node_line_text(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if start in line)


def test_dead_relu_nodes_are_grey_zero_and_named():
    graph, dot, check = example("dead_relu")["find"]()
    relu = graph.nodes["1/Relu_0"]
    assert relu["zero_frac"] == 1.0 and relu["mean"] == 0 and relu["grad_norm"] == 0
    for name in ("0.weight", "0.bias"):
        assert graph.nodes[name]["grad_norm"] == 0
        line = node_line(dot.source, f"label=\"{name}")
        assert fill(line) == health.ZERO and "dashed" in line
    line = node_line(dot.source, 'tooltip="1/Relu_0"')
    assert "DEAD: all outputs 0" in line and fill(line) == health.ZERO and "dashed" in line
    assert fill(node_line(dot.source, 'label="4.bias')) in health.HEAT  # alive: coloured
    assert check.status == "warn" and "dead: 1 (ReLU) 100%" in check.detail


def test_exploding_layer_is_hotter_than_the_last_and_the_compact_view_keeps_gradients():
    ns = example("exploding_tanh")
    graph, full, compact = ns["find"]()
    first, last = graph.nodes["0/MatMul_0"], graph.nodes["24/MatMul_0"]
    assert first["grad_norm"] > 100 * last["grad_norm"]
    hot = health.HEAT.index(fill(node_line(full.source, 'tooltip="0/MatMul_0"')))
    cold = health.HEAT.index(fill(node_line(full.source, 'tooltip="24/MatMul_0"')))
    assert hot == len(health.HEAT) - 1 and hot > cold
    folded = node_line(compact.source, "× 12")
    assert "0–23: (Linear, Tanh) × 12" in folded and "‖grad‖ per layer: █" in folded
    spark = folded.split("per layer: ")[1][:12]
    assert spark[0] == "█" and spark[-1] == "▁"  # falls from the input to the output
    assert fill(folded) == health.HEAT[-1]
    assert "‖grad‖ = " in node_line(compact.source, "24: Linear")


def test_detached_branch_parameters_are_listed_drawn_as_ghosts_and_the_cut_is_labelled():
    graph, dot = example("detached_skip")["find"]()
    assert graph.graph["missing_grads"] == ["skip.proj.weight", "skip.proj.bias"]
    assert graph.nodes["skip.proj.weight"]["missing_grad"]
    assert not graph.nodes["body.weight"]["missing_grad"]
    cuts = [(u, v) for u, v, d in graph.edges(data=True) if d.get("detached")]
    assert cuts == [("skip.proj/Add_0", "add/Add_0")]
    assert "NO GRADIENT reached 2 parameters: skip.proj.weight, skip.proj.bias" in dot.source
    for name in ("skip.proj.weight", "skip.proj.bias"):
        line = node_line(dot.source, f'label="{name}')
        assert fill(line) == health.GHOST and "dashed" in line and "NO GRADIENT" in line
    assert re.search(r'label=" detached \(4, 6\)"', dot.source)
    assert "input" not in [d["kind"] for n, d in graph.nodes(data=True) if n != "x"]
    backward = gg.to_networkx(_detached_loss(), backward=True)  # no gradient crosses the cut
    assert not any(d.get("detached") for _, _, d in backward.edges(data=True))


def _detached_loss():
    net, x, y = example("detached_skip")["build"]()
    return gg.softmax_cross_entropy(net(x), y).mean()


def test_large_graphs_fold_roll_and_keep_both_ends(tmp_path):
    ns = example("large_graphs")
    dots = ns["find"]()
    mlp = dots["mlp_depth0"].source
    assert "0–57: (Linear, ReLU) × 29" in mlp and "‖grad‖ per layer:" in mlp
    ends = dots["mlp_max_nodes"].source
    assert 'tooltip=x' in ends and "Mean" in ends and "more nodes" in ends
    rolled = dots["loop_rolled"].source
    assert "cell: Cell × 50 calls" in rolled and "‖grad‖ per call:" in rolled
    steps = dots["loop_steps"].source
    assert "cell, call 49" in steps and 'label="xs[3]' in steps
    need_dot()
    svg = gg.render(dots["loop_steps"], tmp_path / "loop.svg")
    width = ET.parse(svg).getroot().get("width")
    assert width.endswith("pt") and float(width[:-2]) * 4 / 3 < 2000  # px at 96 dpi


def test_nan_from_log_names_the_op_its_module_and_the_line():
    plain, error, dot = example("nan_log")["find"]()
    assert np.isnan(plain.item())
    assert error.op == "Log" and error.module == "model.2: LogFeatures"
    assert error.line.startswith("nan_log.py:") and "self.fc(x).log()" in error.line
    text = str(error)
    assert "Log in model.2: LogFeatures" in text and "Log got 7 negative values" in text
    line = node_line(dot.source, 'tooltip="2/Log_0"')
    assert fill(line) == health.BAD and "ANOMALY" in line
    assert "detect_anomaly: Log" in dot.source
    graph = gg.to_networkx(error.output)
    assert graph.nodes["2/Log_0"]["anomaly"] == text


# ------------------------------------------------------------------- the pieces
def test_observe_sees_every_op_and_every_backward_and_costs_nothing_after():
    seen = []

    class Watcher:
        def forward(self, cls, node, args, outputs):
            seen.append(("f", cls.__name__, node is not None, outputs[0].shape))

        def backward(self, node, grads, in_grads):
            seen.append(("b", node.name, len(in_grads)))

    x = gg.tensor(np.ones(3), requires_grad=True)
    with observe(Watcher()):
        y = (x * 2).sum()
        y.backward()
        with gg.no_grad():
            x.exp()
    # Sum's backward returns one gradient per forward argument (x, axis, keepdims);
    # Mul's backward runs an op itself (the gradient times 2), seen unrecorded
    assert seen == [("f", "Mul", True, (3,)), ("f", "Sum", True, ()), ("b", "Sum", 3),
                    ("f", "Mul", False, (3,)), ("b", "Mul", 2), ("f", "Exp", False, (3,))]
    assert gg.autograd.STATE.observers == ()


def test_anomaly_in_backward_names_the_backward_and_the_forward_line():
    x = gg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    with pytest.raises(gg.viz.AnomalyError) as info, np.errstate(all="ignore"):
        with gg.detect_anomaly():
            y = x.sqrt().sum()  # finite forward, sqrt'(0) = inf in backward
            y.backward()
    err = info.value
    assert err.phase == "backward" and err.op.startswith("Sqrt") and "test_debugging.py" in err.line
    assert err.node.anomaly == str(err)
    with pytest.raises(gg.viz.AnomalyError), np.errstate(all="ignore"):
        with gg.detect_anomaly():
            gg.tensor(np.array([-1.0])).log()  # no graph recorded: still checked
    with np.errstate(all="ignore"), gg.detect_anomaly(check_backward=False):
        x2 = gg.tensor(np.array([0.0, 1.0]), requires_grad=True)
        x2.sqrt().sum().backward()
    assert np.isinf(x2.grad.data[0])


def test_record_stats_and_stats_from_saved_outputs_match_numpy():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((50, 4)), requires_grad=True)
    with gg.record_stats():
        h = (x - 0.5).relu()
    g = gg.to_networkx(h)
    data = g.nodes["Relu_0"]
    ref = np.maximum(x.data - 0.5, 0)
    assert data["zero_frac"] == pytest.approx(np.mean(ref == 0))
    assert data["mean"] == pytest.approx(ref.mean()) and data["std"] == pytest.approx(ref.std())
    assert data["nonfinite_frac"] == 0
    h2 = (x - 0.5).relu()  # not recorded: stats=True reads the output Relu saved
    assert gg.to_networkx(h2).nodes["Relu_0"]["zero_frac"] is None
    assert gg.to_networkx(h2, stats=True).nodes["Relu_0"]["zero_frac"] == data["zero_frac"]


def test_update_ratio_colouring_and_the_legend():
    model = gg.Sequential(gg.layers.Linear(3, 4, rng=0), gg.layers.Linear(4, 2, rng=1))
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    loss = model(gg.tensor(np.ones((2, 3), np.float32))).sum()
    loss.backward(retain_graph=True)
    model[0].weight.data -= 0.5 * model[0].weight.grad.data   # a large step
    model[1].weight.data -= 1e-4 * model[1].weight.grad.data  # a tiny one
    graph = gg.to_networkx(loss, params=model)
    gg.viz.failure.add_update_ratios(graph, model, before)
    w0 = before["0.weight"].astype(np.float64)
    assert graph.nodes["0.weight"]["update_ratio"] == pytest.approx(
        np.linalg.norm(model[0].weight.data - w0) / np.linalg.norm(w0))
    dot = gg.to_dot(loss, params=model, before=before)
    assert "‖Δθ‖/‖θ‖ (log scale)" in dot.source
    assert fill(node_line(dot.source, 'label="0.weight')) == health.HEAT[-1]
    assert fill(node_line(dot.source, 'label="1.weight')) == health.HEAT[0]
    assert fill(node_line(dot.source, 'label="1.bias')) == health.ZERO  # not updated


def test_health_scale_and_sparkline():
    scale = health.scale_of([1e-3, 1.0, 0.0, float("nan"), None])
    assert scale == (-3.0, 0.0)
    assert health.heat_index(1e-3, scale) == 0 and health.heat_index(1.0, scale) == 8
    assert health.health_attrs(float("inf"), scale)["fillcolor"] == health.BAD
    assert health.health_attrs(0.0, scale)["fillcolor"] == health.ZERO
    assert health.sparkline([1, 10, 100, 0, float("nan")]) == "▁▅█·!"


def test_elide_keeps_both_ends():
    x = gg.tensor(np.ones(2), requires_grad=True, name="x")
    y = x
    for _ in range(100):
        y = y * 1.0
    src = gg.to_dot(y.sum(), max_nodes=20).source
    assert "tooltip=x" in src and "tooltip=Sum_0" in src and "83 more nodes" in src
    assert "102 nodes &gt; max_nodes=20; 83 nodes in the middle not drawn" in src or \
        "102 nodes > max_nodes=20; 83 nodes in the middle not drawn" in src


def test_tensor_kind_and_detach_keeps_no_graph_alive_outside_modules():
    import gc
    import weakref

    p = gg.Parameter(np.ones(2))
    assert p.kind == "parameter" and gg.tensor([1.0]).kind == "input"
    y = p * 2
    d = y.detach()
    node = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert node() is None and d._origin is not None  # only a weak reference


# ----------------------------------------------------------------------- CLI
def test_cli_render_grads_stats_models_networks_and_failures(tmp_path, capsys):
    need_dot()
    import textwrap

    from graphgrad import cli

    script = tmp_path / "nets.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import graphgrad as gg

        def model():
            m = gg.Sequential(gg.layers.Linear(3, 4, rng=0), gg.layers.ReLU(),
                              gg.layers.Linear(4, 2, rng=1))
            m[0].bias.data[:] = -10.0   # dead ReLUs
            return m

        def loss():
            return (model()(gg.tensor(np.ones((2, 3), np.float32))) ** 2).sum()

        def pair():
            return model(), np.ones((2, 3), np.float32)

        def broken():
            m = gg.Sequential(gg.layers.Linear(3, 4, rng=0), gg.layers.Linear(5, 2, rng=1))
            return m, np.ones((2, 3), np.float32)

        def network():
            net = gg.Network(inputs=["x"])
            net.add("fc", gg.layers.Linear(3, 2, rng=0), inputs="x")
            return net
    """))
    out = tmp_path / "g.svg"
    assert cli.main(["render", f"{script}:loss", "-o", str(out), "--grads", "--stats"]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert "‖grad‖ (log scale)" in dot and "DEAD: all outputs 0" in dot
    assert fill(node_line(dot, 'tooltip="0.weight"')) == health.ZERO
    capsys.readouterr()
    assert cli.main(["render", f"{script}:pair", "-o", str(out), "--depth", "0"]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert "0: Linear" in dot and "shape=box3d" in dot
    assert cli.main(["render", f"{script}:network", "-o", str(out)]) == 0
    assert "fc\\nLinear" in (tmp_path / "g.dot").read_text()
    capsys.readouterr()
    assert cli.main(["render", f"{script}:broken", "-o", str(out)]) == 2
    err = capsys.readouterr()
    assert "the picture shows what ran" in err.err and f"wrote {out}" in err.out
    dot = (tmp_path / "g.dot").read_text()
    assert fill(node_line(dot, "1: Linear")) == health.BAD and "FAILED in model.1: Linear" in dot
    # a model alone (issue 26): its layers are drawn, saying how to get its graph
    assert cli.main(["render", f"{script}:model", "-o", str(out)]) == 0
    assert "return (model, example_input)" in out.with_suffix(".dot").read_text()


def test_parameters_never_reached_are_ghost_nodes_in_their_module():
    model = gg.Sequential(gg.layers.Linear(3, 2, rng=0), gg.layers.Linear(3, 2, rng=1))
    loss = model[0](gg.tensor(np.ones((1, 3), np.float32))).sum()  # model[1] never runs
    with pytest.raises(ValueError, match="before= needs params="):
        gg.to_dot(loss, before={})
    assert gg.to_networkx(loss, params=model).graph["missing_grads"] == []  # no backward yet
    loss.backward()
    graph = gg.to_networkx(loss, params=model)
    assert graph.graph["missing_grads"] == ["1.weight", "1.bias"]
    ghost = graph.nodes["1.weight"]
    assert ghost["missing_grad"] and ghost["module"] == "1" and ghost["shape"] == (3, 2)
    assert graph.degree("1.weight") == 0
    assert "1.weight" in gg.to_networkx(loss, params=model, backward=True)
    source = gg.to_dot(loss, params=model).source
    assert "subgraph cluster_1 {" in source
    assert fill(node_line(source, 'label="1.weight')) == health.GHOST
