"""gg.viz.to_html without a browser: the page's data, its self-containment, the layouts,
the Trainer callback and `graphgrad inspect` (browser tests: test_html_browser.py)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd import record_grads
from graphgrad.viz.html import InspectorCallback, record_source, to_html

ROOT = Path(__file__).resolve().parents[2]


def mlp_loss(bias=0.0):
    model = gg.Sequential(gg.layers.Linear(6, 5, rng=0), gg.layers.ReLU(),
                          gg.layers.Linear(5, 3, rng=1))
    model[0].bias.data[:] = bias
    x = gg.tensor(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32), name="x")
    with record_source():
        loss = (model(x) ** 2).mean()
    with record_grads():
        loss.backward(retain_graph=True)
    return model, loss


def page_data(page) -> dict:
    blob = re.search(r'<script type="application/json" id="gg-data">(.*?)</script>',
                     page.html, re.S).group(1)
    return json.loads(blob)


def test_page_is_self_contained():
    model, loss = mlp_loss()
    page = to_html(loss, params=model)
    text = page.html
    assert not re.search(r"https?://", text)
    assert "default-src 'none'" in text  # the CSP forbids every request
    assert not re.search(r"<(script|img|iframe)[^>]*\bsrc=", text)
    assert "<link" not in text
    assert "window.ggInspector" in text  # the script is inlined


def test_node_records_match_to_networkx():
    model, loss = mlp_loss()
    graph = gg.to_networkx(loss, params=model, stats=True)
    data = page_data(to_html(loss, params=model))
    nodes = {n["id"]: n for n in data["nodes"]}
    assert set(graph.nodes) <= set(nodes)
    for nid, d in graph.nodes(data=True):
        assert nodes[nid]["kind"] == d["kind"]
        assert tuple(nodes[nid]["shape"]) == tuple(d["shape"])
        assert nodes[nid]["module"] == d["module"]
    assert nodes["0.weight"]["shape"] == [6, 5]
    grad = data["metrics"]["0.weight"][-1][data["metricNames"].index("grad_norm")]
    assert grad == pytest.approx(np.linalg.norm(model[0].weight.grad), rel=1e-3)
    matmul = nodes["0/MatMul_0"]
    assert matmul["in_shapes"] == [[4, 6], [6, 5]] and matmul["in_dtypes"] == ["float32"] * 2
    assert matmul["jacobians"] == [[0, 1, [4, 5], [6, 5]]]  # x needs no gradient
    assert matmul["saved_bytes"] > 0
    assert matmul["source"].startswith("test_html.py:") and "model(x)" in matmul["source"]


def test_every_drawn_node_has_a_record_and_views_are_listed():
    model, loss = mlp_loss()
    page = to_html(loss, params=model)
    data = page_data(page)
    ids = {n["id"] for n in data["nodes"]}
    drawn = set(re.findall(r'data-gg="([^"]*)"', page.html))
    assert drawn and drawn <= ids
    assert data["views"] == ["forward", "backward", "grad", "update", "stats"]
    assert set(data["layouts"]) == {"forward", "backward"}
    for layout in data["layouts"].values():
        for key in layout.values():
            assert f'id="gg-svg-{key}"' in page.html


def test_dead_relu_stats_and_nan_are_kept():
    model, loss = mlp_loss(bias=-100.0)  # every unit of the first ReLU is dead
    data = page_data(to_html(loss, params=model))
    zero = data["metricNames"].index("zero_frac")
    relu = next(n for n in data["nodes"] if n["label"] == "Relu")
    assert data["metrics"][relu["id"]][-1][zero] == 1.0
    graph = gg.to_networkx(loss, params=model)
    graph.nodes["0.weight"]["grad_norm"] = float("nan")  # JSON has no NaN: sent as text
    data = page_data(to_html(graph))
    assert data["metrics"]["0.weight"][-1][data["metricNames"].index("grad_norm")] == "nan"


def test_large_graph_opens_collapsed_and_uses_the_layered_layout():
    model = gg.Sequential(*[gg.layers.Linear(3, 3, rng=i) for i in range(40)])
    loss = model(gg.tensor(np.ones((1, 3), np.float32), name="x")).sum()
    loss.backward(retain_graph=True)
    page = to_html(loss, params=model, collapse_above=50, graphviz_max=20)
    data = page_data(page)
    assert data["collapsed"] is True
    assert data["layouts"]["forward"] == {"full": "forward-full",
                                          "collapsed": "forward-collapsed"}
    modules = [n for n in data["nodes"] if n["kind"] == "module"]
    assert modules and all(n["members"] for n in modules)
    full = re.search(r'id="gg-svg-forward-full">(.*?)</script>', page.html, re.S).group(1)
    graph = gg.to_networkx(loss, params=model)
    assert len(re.findall(r'class="node" data-gg=', full)) == graph.number_of_nodes()
    # bands of the layered layout: every node inside the y range its band declares
    for y0, y1, body in re.findall(r'<g class="band" data-y0="(\d+)" data-y1="(\d+)">(.*?)'
                                   r'</g>(?=<g class="band"|</g></svg>)', full, re.S):
        for y in re.findall(r'<rect x="\d+" y="(\d+)"', body):
            assert int(y0) <= int(y) <= int(y1)


def test_findings_given_as_dicts_or_objects():
    model, loss = mlp_loss()

    class Finding:
        def to_dict(self):
            return {"severity": "error", "title": "dead", "nodes": ["0.weight"],
                    "evidence": "zeros 100%", "advice": "raise the bias"}

    data = page_data(to_html(loss, params=model, findings=[
        Finding(), {"severity": "info", "title": "fine", "nodes": []}]))
    assert [f["title"] for f in data["findings"]] == ["dead", "fine"]
    assert data["findings"][0]["nodes"] == ["0.weight"]
    with pytest.raises(ValueError, match="severity"):
        to_html(loss, findings=[{"nodes": []}])


def test_bad_targets_are_named():
    with pytest.raises(TypeError, match="to_html: expected a Tensor"):
        to_html("loss")
    model, loss = mlp_loss()
    with pytest.raises(ValueError, match="forward graph"):
        to_html(gg.to_networkx(loss, backward=True))
    step = gg.compile(lambda: loss)
    with pytest.raises(TypeError, match="compiled step"):
        to_html(step)
    with pytest.raises(ValueError, match="step_labels"):
        to_html(loss, step_labels=["a", "b"])


def test_save_and_repr_html(tmp_path):
    model, loss = mlp_loss()
    page = to_html(loss, tmp_path / "sub" / "page.html", params=model)
    assert page.path.read_text(encoding="utf-8") == page.html
    assert page.size == len(page.html.encode())
    again = page.save(tmp_path / "copy.html")
    assert again.read_text(encoding="utf-8") == page.html
    inline = page._repr_html_()
    assert inline.startswith("<iframe srcdoc=") and "&lt;!DOCTYPE html&gt;" in inline
    assert gg.viz.to_html is to_html


def test_callback_writes_a_page_with_a_step_per_epoch(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)
    model = gg.Sequential(gg.layers.Linear(6, 3, rng=0))
    loader = gg.data.DataLoader(gg.data.ArrayDataset(x, y), batch_size=16, shuffle=False)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(),
                         gg.optimizers.SGD(model.parameters(), lr=0.1), progress=False)
    slider = InspectorCallback(tmp_path / "train.html")
    per_epoch = InspectorCallback(tmp_path / "e{epoch}.html", pages="epoch", every=2)
    trainer.fit(loader, epochs=3, callbacks=[slider, per_epoch])
    assert slider.written == [tmp_path / "train.html"]
    assert per_epoch.written == [tmp_path / "e1.html"]
    data = json.loads(re.search(r'id="gg-data">(.*?)</script>',
                                (tmp_path / "train.html").read_text(), re.S).group(1))
    assert [s.split(" (")[0] for s in data["steps"]] == ["epoch 0", "epoch 1", "epoch 2"]
    ratio = data["metricNames"].index("update_ratio")
    series = data["metrics"]["0.weight"]
    assert len(series) == 3 and all(row[ratio] > 0 for row in series)  # it trained
    with pytest.raises(ValueError, match="epoch"):
        InspectorCallback("x.html", pages="epoch")


def test_cli_inspect_writes_the_page(tmp_path, capsys):
    from graphgrad.cli import main

    script = tmp_path / "model.py"
    script.write_text("import graphgrad as gg\n"
                      "def loss():\n"
                      "    x = gg.tensor([[1.0, 2.0]], requires_grad=True, name='x')\n"
                      "    w = gg.tensor([[0.5], [-0.5]], requires_grad=True, name='w')\n"
                      "    return (x @ w).tanh().sum()\n")
    out = tmp_path / "page.html"
    assert main(["inspect", f"{script}:loss", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="gg-data">(.*?)</script>', text, re.S).group(1))
    w = next(n for n in data["nodes"] if n["id"] == "w")
    assert w["shape"] == [2, 1]
    assert data["metrics"]["w"][-1][data["metricNames"].index("grad_norm")] is not None
    tanh = next(n for n in data["nodes"] if n["label"] == "Tanh")
    assert tanh["source"].startswith("model.py:5")
    assert main(["inspect", f"{script}:nothing", "-o", str(out)]) == 2


def test_page_assets_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "graphgrad.viz.html" in config["tool"]["setuptools"]["packages"]
    patterns = config["tool"]["setuptools"]["package-data"]["graphgrad.viz.html"]
    folder = ROOT / "graphgrad" / "viz" / "html"
    for name in ("inspector.js", "inspector.css", "template.html"):
        assert (folder / name).is_file() and any(Path(name).match(p) for p in patterns)


def test_findings_rules_are_called_when_viz_has_them(monkeypatch):
    model, loss = mlp_loss()
    calls = []

    def rules(root, model=None, optimizer=None):
        calls.append((root, model, optimizer))
        return [{"severity": "warning", "title": "from the rules", "nodes": ["2.weight"]}]

    monkeypatch.setattr(gg.viz, "findings", rules, raising=False)
    optimizer = gg.optimizers.SGD(model.parameters(), lr=0.1)
    data = page_data(to_html(loss, params=model, optimizer=optimizer))
    assert calls == [(loss, model, optimizer)]
    assert [f["title"] for f in data["findings"]] == ["from the rules"]
    assert page_data(to_html(loss, params=model, findings=[]))["findings"] == []  # explicit wins

    def broken(root, model=None, optimizer=None):
        raise RuntimeError("rule crashed")

    monkeypatch.setattr(gg.viz, "findings", broken, raising=False)
    with pytest.warns(RuntimeWarning, match="rule crashed"):
        data = page_data(to_html(loss, params=model))
    assert data["findings"] == []
