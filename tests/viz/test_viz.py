"""Graph inspection: to_networkx, to_dot, render, summary, the render CLI (graphgrad/viz*.py)."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import registry, viz
from graphgrad.autograd import module_scope, record_grads
from graphgrad.nn.module import Parameter

SVG = "{http://www.w3.org/2000/svg}"


def drawn_nodes(source: str) -> int:
    """Number of node statements in DOT source (edges are ``a -> b [...]``)."""
    return len(re.findall(r"^\s*n\d+ \[", source, flags=re.MULTILINE))


def need_dot():
    """Skip without Graphviz's `dot`, unless CI demands it (GRAPHGRAD_REQUIRE_DOT=1)."""
    if shutil.which("dot") is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip("Graphviz `dot` is not installed")


def hand_mlp(seed=0):
    """x (4, 15) -> fc1 (15→10) -> relu -> fc2 (10→5) -> mean, written with plain ops
    inside module scopes, as a Module would record it."""
    rng = np.random.default_rng(seed)
    x = gg.tensor(rng.standard_normal((4, 15)).astype(np.float32), name="x")
    w1 = Parameter(rng.standard_normal((15, 10)).astype(np.float32), name="fc1.weight")
    b1 = Parameter(np.zeros(10, np.float32), name="fc1.bias")
    w2 = Parameter(rng.standard_normal((10, 5)).astype(np.float32), name="fc2.weight")
    with module_scope("", "MLP"):
        with module_scope("fc1", "Linear"):
            h = x @ w1 + b1
        h = h.relu()
        with module_scope("fc2", "Linear"):
            out = h @ w2
    loss = out.mean()
    return loss, (x, w1, b1, w2)


def layer_mlp(seed=0):
    """The same kind of model from the registry's layers."""
    model = gg.Sequential(gg.layers.Linear(15, 10, rng=seed), gg.layers.ReLU(),
                          gg.layers.Linear(10, 5, rng=seed + 1))
    x = gg.tensor(np.random.default_rng(seed).standard_normal((4, 15)).astype(np.float32),
                  name="x")
    return model, x


# ------------------------------------------------------------------ networkx
def test_networkx_nodes_edges_and_attributes_of_a_known_model():
    loss, (x, w1, b1, w2) = hand_mlp()
    g = gg.to_networkx(loss)
    ops = {n: d for n, d in g.nodes(data=True) if d["kind"] == "op"}
    assert sorted(d["op"] for d in ops.values()) == ["Add", "MatMul", "MatMul", "Mean", "Relu"]
    kinds = sorted(d["kind"] for d in g.nodes.values() if d["kind"] != "op")
    assert kinds == ["input", "parameter", "parameter", "parameter"]
    assert g.number_of_nodes() == 9 and g.number_of_edges() == 8

    assert set(g.nodes) >= {"x", "fc1.weight", "fc1.bias", "fc2.weight", "fc1/MatMul_0",
                            "fc1/Add_0", "Relu_0", "fc2/MatMul_0", "Mean_0"}
    mm = g.nodes["fc1/MatMul_0"]
    assert (mm["module"], mm["module_type"]) == ("fc1", "Linear")
    assert mm["shape"] == (4, 10) and mm["dtype"] == "float32"
    assert mm["saved_bytes"] == x.data.nbytes + w1.data.nbytes  # MatMul keeps both operands
    assert mm["in_shapes"] == ((4, 15), (15, 10))
    # only the weight needs a gradient: one Jacobian, (4, 10) x (15, 10)
    assert mm["jacobians"] == ((0, 1, (4, 10), (15, 10)),)
    assert g.nodes["Relu_0"]["module"] == ""  # ran in the model itself

    # parameters sit in the module that consumes them; the model input outside all
    assert g.nodes["fc1.weight"]["module"] == "fc1" and g.nodes["fc2.weight"]["module"] == "fc2"
    assert g.nodes["x"]["module"] is None and not g.nodes["x"]["requires_grad"]
    assert g.nodes["fc1.bias"]["shape"] == (10,)
    assert g.nodes["Mean_0"]["is_root"] and g.graph["roots"] == ["Mean_0"]

    assert g.edges["fc1.weight", "fc1/MatMul_0"]["shape"] == (15, 10)
    assert g.edges["fc1/MatMul_0", "fc1/Add_0"]["input_nrs"] == (0,)
    assert g.edges["fc1.bias", "fc1/Add_0"]["input_nrs"] == (1,)
    assert g.edges["Relu_0", "fc2/MatMul_0"]["shape"] == (4, 10)
    assert all(d["grad_norm"] is None for d in g.nodes.values())  # no backward yet


def test_ids_are_stable_across_runs_and_graphs_can_be_diffed():
    def graph():
        model, x = layer_mlp()
        return gg.to_networkx(model(x), params=model)

    a, b = graph(), graph()
    assert list(a.nodes) == list(b.nodes)
    assert sorted(a.edges) == sorted(b.edges)
    assert "0.weight" in a and "2.bias" in a and "0/MatMul_0" in a and "1/Relu_0" in a
    assert a.nodes["0.weight"]["kind"] == "parameter"


def test_parameter_ids_are_dotted_even_without_params_mapping():
    model, x = layer_mlp()
    g = gg.to_networkx(model(x))
    params = {n: d for n, d in g.nodes(data=True) if d["kind"] == "parameter"}
    assert sorted(params) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert params["0.weight"]["name"] == "weight"  # the label stays the tensor's own name


def test_reused_tensor_is_one_node_with_both_argument_positions():
    x = gg.tensor(np.arange(3.0), requires_grad=True, name="x")
    g = gg.to_networkx((x * x).sum())
    assert sorted(g.nodes) == ["Mul_0", "Sum_0", "x"]
    assert g.edges["x", "Mul_0"]["input_nrs"] == (0, 1)


def test_settings_and_python_scalars_are_not_nodes_but_constant_tensors_are():
    x = gg.tensor(np.ones((2, 3)), requires_grad=True, name="x")
    mask = np.array([[True, False, True], [False, True, True]])
    y = gg.where(mask, x.softmax(axis=-1) * 2.0, x)
    g = gg.to_networkx(y)
    kinds = sorted(d["kind"] for d in g.nodes.values())
    assert kinds == ["constant", "input", "op", "op", "op"]  # the mask, x, Softmax/Mul/Where
    const = next(d for d in g.nodes.values() if d["kind"] == "constant")
    assert const["shape"] == (2, 3) and const["dtype"] == "bool"


def test_gradient_shapes_and_norms_after_backward():
    loss, (x, w1, b1, w2) = hand_mlp()
    with record_grads():
        loss.backward()
    g = gg.to_networkx(loss)
    # d mean / d out = 1/20 everywhere on the (4, 5) output of fc2's MatMul
    assert g.nodes["fc2/MatMul_0"]["grad_shape"] == (4, 5)
    assert g.nodes["fc2/MatMul_0"]["grad_norm"] == pytest.approx(np.sqrt(20) / 20, rel=1e-6)
    assert g.nodes["Mean_0"]["grad_norm"] == pytest.approx(1.0)
    for name, p in [("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", w2)]:
        assert g.nodes[name]["grad_shape"] == p.shape
        assert g.nodes[name]["grad_norm"] == pytest.approx(
            float(np.linalg.norm(p.grad.data.astype(np.float64))), rel=1e-6)
    assert g.nodes["x"]["grad_norm"] is None
    assert g.nodes["fc1/MatMul_0"]["saved_bytes"] == 0  # freed by the backward


def test_backward_view_reverses_edges_and_keeps_only_gradient_paths():
    loss, _ = hand_mlp()
    fwd = gg.to_networkx(loss)
    bwd = gg.to_networkx(loss, backward=True)
    assert "x" not in bwd  # no gradient flows to the input
    assert set(bwd.nodes) == set(fwd.nodes) - {"x"}
    assert {(v, u) for u, v in bwd.edges} == {(u, v) for u, v in fwd.edges if u != "x"}
    assert bwd.nodes["fc1/MatMul_0"]["op"] == "MatMulBackward"
    assert bwd.nodes["fc1.weight"]["op"] == "AccumulateGrad"
    assert bwd.graph["direction"] == "backward"


def test_root_that_is_a_leaf_and_bad_roots():
    x = gg.tensor([1.0, 2.0], requires_grad=True, name="x")
    g = gg.to_networkx(x)
    assert list(g.nodes) == ["x"] and g.nodes["x"]["is_root"]
    with pytest.raises(TypeError, match="root 0 is a ndarray"):
        gg.to_networkx(np.ones(3))
    with pytest.raises(ValueError, match="no root tensor"):
        gg.to_networkx([])
    with pytest.raises(TypeError, match="params must be a dict"):
        gg.to_networkx(x, params=[x])


def test_deep_chain_does_not_recurse_and_max_nodes_elides():
    x = gg.tensor(np.ones(2), requires_grad=True, name="x")
    y = x
    for _ in range(3000):
        y = y * 1.0
    g = gg.to_networkx(y)
    assert g.number_of_nodes() == 3001
    dot = gg.to_dot(y, max_nodes=20)
    body = dot.source
    assert drawn_nodes(body) == 20  # 6 nodes at the input end, 13 at the output, the placeholder
    assert "2982 more nodes" in body
    assert "3001 nodes &gt; max_nodes=20" in body or "3001 nodes > max_nodes=20" in body


def test_backward_view_of_a_deep_chain():
    # Regression: backward_view rebuilt a set of the kept nodes once per node
    # (quadratic: 18 s for 2·10^4 nodes); it is linear now (well under a second).
    x = gg.tensor(np.ones(2), requires_grad=True, name="x")
    y = x
    for _ in range(10_000):
        y = y * 1.0
    g = gg.to_networkx(y, backward=True)
    assert g.number_of_nodes() == 10_001
    assert g.graph["order"] == [n for n in gg.to_networkx(y).graph["order"] if n in g]
    assert len(g.graph["order"]) == 10_001


# ----------------------------------------------------------------------- dot
def test_dot_clusters_styles_and_edge_shapes():
    loss, _ = hand_mlp()
    src = gg.to_dot(loss).source
    assert "subgraph cluster_fc1 {" in src and "subgraph cluster_fc2 {" in src
    assert 'label="fc1: Linear"' in src
    assert 'label="fc1.weight\\n(15, 10) float32"' in src
    assert 'label=" (4, 15)"' in src and 'label=" (4, 10)"' in src
    assert "saved 840 B" in src  # x (4, 15) + W (15, 10), float32


def test_nested_clusters_and_depth_collapse():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((2, 3)), name="x")
    w = Parameter(rng.standard_normal((3, 3)), name="weight")
    with module_scope("blocks.0.lin", "Linear"):
        h = x @ w
    with module_scope("blocks.0", "Block"):
        h = h.tanh()
    with module_scope("head", "Linear"):
        out = h.sum()
    src = gg.to_dot(out).source
    assert src.index("subgraph cluster_blocks {") < src.index('subgraph "cluster_blocks.0" {') \
        < src.index('subgraph "cluster_blocks.0.lin" {')

    g = gg.to_networkx(out)
    src0 = gg.to_dot(out, depth=0).source
    assert "cluster" not in src0  # every top-level module is one node
    # x @ W keeps x and W (2·3 + 3·3 float64), tanh keeps its output (2·3)
    assert 'label="blocks\\n2 ops, 9 params\\nout (2, 3)\\nsaved 168 B"' in src0
    assert 'label="head: Linear\\n1 op, 0 params\\nout ()"' in src0
    src1 = gg.to_dot(out, depth=1).source
    assert "subgraph cluster_blocks {" in src1 and "cluster_blocks.0" not in src1
    assert 'label="blocks.0: Block\\n2 ops, 9 params\\nout (2, 3)' in src1
    assert g.number_of_nodes() == 5


def test_max_nodes_collapses_modules_and_says_so():
    model = gg.Sequential(*[gg.layers.Linear(3, 3, rng=i) for i in range(6)])
    x = gg.tensor(np.ones((2, 3), np.float32), name="x")
    y = model(x)
    full = gg.to_networkx(y)
    assert full.number_of_nodes() == 1 + 6 * 4  # x + per layer W, b, MatMul, Add
    src = gg.to_dot(y, max_nodes=10, fold=False).source
    assert "25 nodes &gt; max_nodes=10" in src or "25 nodes > max_nodes=10" in src
    assert "modules collapsed below depth 0" in src
    assert src.count("shape=box3d") == 6
    assert drawn_nodes(src) == 7
    folded = gg.to_dot(y, max_nodes=10).source  # six identical layers: one node "× 6"
    assert folded.count("shape=box3d") == 1 and "0–5: Linear × 6" in folded
    assert drawn_nodes(folded) == 2


def test_backward_dot_shows_jacobian_shapes():
    loss, _ = hand_mlp()
    src = gg.to_dot(loss, backward=True).source
    assert "MatMulBackward" in src and "AccumulateGrad" in src
    assert "∂out/∂in1: (4, 10) × (15, 10)" in src  # fc1: only W needs a gradient
    assert "∂out/∂in0: (4, 5) × (4, 10)" in src  # fc2: the gradient w.r.t. its input h
    assert "∂out/∂in0: () × (4, 5)" in src  # the mean
    assert "style=dashed" in src


def test_show_options_remove_their_lines():
    loss, _ = hand_mlp()
    with record_grads():
        loss.backward(retain_graph=True)
    full = gg.to_dot(loss).source
    assert "saved " in full and "‖grad‖" in full and "(4, 10)" in full
    bare = gg.to_dot(loss, show_shapes=False, show_saved=False, show_grads=False).source
    assert "saved " not in bare and "‖grad‖" not in bare and "(4, 10)" not in bare


def test_plugin_hook_restyles_nodes():
    class Restyler:
        @registry.hookimpl
        def graphgrad_dot_node_attrs(self, node, attrs):
            if node.get("op") == "MatMul":
                attrs["fillcolor"] = "red"
                attrs["xlabel"] = node["id"]

    loss, _ = hand_mlp()
    registry.register_plugin(Restyler(), name="test_viz_restyler")
    try:
        src = gg.to_dot(loss).source
    finally:
        registry.reload()
    assert src.count("fillcolor=red") == 2
    assert 'xlabel="fc1/MatMul_0"' in src
    assert "fillcolor=red" not in gg.to_dot(loss).source


def test_awkward_names_are_escaped():
    need_dot()
    x = gg.tensor([1.0], requires_grad=True, name='a "quoted" <b> back\\slash: x')
    dot = gg.to_dot((x * x).sum())
    import subprocess

    done = subprocess.run(["dot", "-Tsvg"], input=dot.source, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    texts = [t.text for t in ET.fromstring(done.stdout).iter(SVG + "text")]
    assert 'a "quoted" <b> back\\slash: x' in texts


def test_network_layer_graph():
    net = gg.Network(inputs=["x"])
    net.add("fc1", gg.layers.Linear(4, 8, rng=0), inputs="x")
    net.add("fc2", gg.layers.Linear(4, 8, rng=1), inputs="x")
    net.add("sum", gg.layers.Add(), inputs=["fc1", "fc2"])
    src = gg.to_dot(net).source
    assert drawn_nodes(src) == 4
    assert 'label="fc1\\nLinear\\n40 params\\nweight (4, 8)\\nbias (8,)"' in src
    assert 'label=" in0"' in src and 'label=" in1"' in src


# -------------------------------------------------------------------- render
def test_render_mlp_to_svg_and_find_clusters_names_and_shapes(tmp_path):
    need_dot()
    model, x = layer_mlp()
    out = gg.render(model(x), tmp_path / "mlp.svg", params=model)
    assert out == tmp_path / "mlp.svg" and (tmp_path / "mlp.dot").exists()
    root = ET.parse(out).getroot()
    clusters = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "cluster":
            title = g.find(SVG + "title").text
            clusters[title] = [t.text for t in g.iter(SVG + "text")]
    assert set(clusters) == {"cluster_0", "cluster_1", "cluster_2"}
    assert clusters["cluster_0"] == ["0: Linear"]  # a cluster's own group has only its label
    texts = [t.text for t in root.iter(SVG + "text")]
    for name, shape in [("0.weight", "(15, 10) float32"), ("0.bias", "(10,) float32"),
                        ("2.weight", "(10, 5) float32"), ("2.bias", "(5,) float32")]:
        i = texts.index(name)
        assert texts[i + 1] == shape
    assert "1: ReLU" in texts and "2: Linear" in texts
    assert " (4, 10)" in texts and " (4, 15)" in texts


def test_render_png_and_a_prebuilt_digraph(tmp_path):
    need_dot()
    loss, _ = hand_mlp()
    png = gg.render(loss, tmp_path / "g", format="png", depth=0)
    assert png == tmp_path / "g.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = gg.render(gg.to_dot(loss, backward=True), tmp_path / "b.svg")
    assert "MatMulBackward" in svg.read_text()


def test_render_failure_keeps_the_previous_picture(tmp_path, monkeypatch):
    need_dot()
    loss, _ = hand_mlp()
    svg = gg.render(loss, tmp_path / "g.svg")
    before = svg.read_bytes()
    failing = tmp_path / "bin" / "dot"
    failing.parent.mkdir()
    failing.write_text(  # writes half a picture wherever it is told to, then fails
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo partial > "$2"; shift; done\n'
        "echo partial\necho 'dot: broken' >&2\nexit 3\n")
    failing.chmod(0o755)
    monkeypatch.setenv("PATH", str(failing.parent))
    with pytest.raises(RuntimeError, match="dot: broken"):
        gg.render(loss, tmp_path / "g.svg")
    assert svg.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "g.dot", "g.svg"]


def test_render_without_dot_writes_source_and_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    loss, _ = hand_mlp()
    with pytest.raises(viz.GraphvizNotFoundError) as info:
        gg.render(loss, tmp_path / "graph.svg")
    message = str(info.value)
    assert "apt-get install graphviz" in message
    assert str(tmp_path / "graph.dot") in message
    assert (tmp_path / "graph.dot").read_text().startswith('digraph "graph"')
    assert not (tmp_path / "graph.svg").exists()


def test_render_path_and_format_errors(tmp_path):
    loss, _ = hand_mlp()
    with pytest.raises(ValueError, match="ends in .png but format='svg'"):
        gg.render(loss, tmp_path / "g.png", format="svg")
    with pytest.raises(ValueError, match="not supported"):
        gg.render(loss, tmp_path / "g", format="bmp")
    with pytest.raises(ValueError, match="the .dot source is written next to it"):
        gg.render(loss, tmp_path / "g.dot")
    with pytest.raises(TypeError, match="only apply when drawing a Tensor"):
        gg.render(gg.to_dot(loss), tmp_path / "g.svg", depth=1)


# ------------------------------------------------------------------- summary
def test_summary_rows_and_totals():
    model, x = layer_mlp()
    s = gg.summary(model, x)
    assert [(r.path, r.type) for r in s.rows] == [
        ("", "Sequential"), ("0", "Linear"), ("1", "ReLU"), ("2", "Linear")]
    assert [r.output_shapes for r in s.rows] == [((4, 5),), ((4, 10),), ((4, 10),), ((4, 5),)]
    assert [r.params for r in s.rows] == [0, 15 * 10 + 10, 0, 10 * 5 + 5]
    assert s.total_params == s.trainable_params == model.num_parameters() == 215
    assert s.param_bytes == 215 * 4
    # MatMul keeps x and W; ReLU keeps its input (float32 everywhere)
    assert s.rows[1].saved_bytes == 4 * (4 * 15 + 15 * 10)
    assert s.rows[2].saved_bytes == 4 * 4 * 10
    assert s.saved_bytes == sum(r.saved_bytes for r in s.rows)
    assert s.input_shapes == ((4, 15),) and s.output_shapes == ((4, 5),)
    text = str(s)
    assert "Total params: 215" in text and "(model)" in text and "Linear" in text


def test_summary_counts_frozen_parameters_and_accepts_arrays():
    model, x = layer_mlp()
    model[0].requires_grad_(False)
    s = gg.summary(model, x.data)
    assert s.trainable_params == 55 and s.total_params == 215
    assert "Non-trainable params: 160" in str(s)
    with pytest.raises(TypeError, match="must be a graphgrad Module"):
        gg.summary(lambda t: t, x)


# ----------------------------------------------------------------------- CLI
def test_cli_render(tmp_path, capsys):
    need_dot()
    from graphgrad import cli

    script = tmp_path / "model.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import graphgrad as gg

        def build():
            model = gg.Sequential(gg.layers.Linear(3, 2, rng=0), gg.layers.Tanh())
            return model(gg.tensor(np.ones((1, 3), np.float32))).sum()

        if __name__ == "__main__":
            raise SystemExit("must not run")
    """))
    out = tmp_path / "graph.svg"
    code = cli.main(["render", f"{script}:build", "-o", str(out), "--backward", "--depth", "0"])
    assert code == 0, capsys.readouterr().err
    assert "SumBackward" in out.read_text() and (tmp_path / "graph.dot").exists()
    assert f"wrote {out}" in capsys.readouterr().out

    assert cli.main(["render", f"{script}:nope", "-o", str(out)]) == 2
    assert "has no function 'nope'; functions defined there: build" in capsys.readouterr().err
    assert cli.main(["render", str(script), "-o", str(out)]) == 2
    assert "expected SCRIPT.py:FUNCTION" in capsys.readouterr().err


# ---------------------------------------------------------------------- docs
ROOT = Path(__file__).resolve().parents[2]


def test_docs_images_exist_and_the_script_makes_them_deterministically(tmp_path):
    referenced = [rel for page in ("visualization.md", "networks.md")
                  for rel in re.findall(r"\]\((img/[^)]+\.svg)\)|src=\"(img/[^\"]+\.svg)\"",
                                        (ROOT / "docs" / page).read_text(encoding="utf-8"))]
    referenced = [a or b for a, b in referenced]  # markdown ![](...) or the gallery's <img>
    assert len(referenced) == 15 + 7  # + the seven cases of "What the picture tells you"
    for rel in referenced:
        assert (ROOT / "docs" / rel).is_file(), rel
    need_dot()
    script = runpy.run_path(str(ROOT / "scripts" / "make_doc_images.py"), run_name="docs_images")
    backend = gg.get_backend()
    assert script["main"]([str(tmp_path / "a")]) == 0
    assert script["main"]([str(tmp_path / "b")]) == 0
    assert gg.get_backend() == backend
    made = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert made == sorted(Path(rel).name for rel in referenced)
    for name in made:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
