"""Issue 19 items 6-8: a Network's pictures and summary: shared layers once, shapes, port
labels, named inputs, loss targets, and a dict of inputs."""

from __future__ import annotations

import re

import numpy as np

import graphgrad as gg


def _siamese():
    """Two inputs through one shared encoder (3·20 + 20 = 80 params), a head, a loss."""
    gg.manual_seed(0)
    encoder = gg.layers.Linear(3, 20)
    net = gg.Network(inputs=["left", "right", "y"], outputs=["loss", "score"])
    net.add("enc_left", encoder, inputs="left")
    net.add("enc_right", encoder, inputs="right")
    net.add("diff", gg.layers.Subtract(), inputs=["enc_left", "enc_right"])
    net.add("score", gg.layers.Linear(20, 1))
    net.add("loss", gg.losses.MSE(), inputs=["score", "y"])
    return net


def _batch(n=4):
    rng = np.random.default_rng(0)
    return {"left": rng.standard_normal((n, 3)).astype(np.float32),
            "right": rng.standard_normal((n, 3)).astype(np.float32),
            "y": rng.standard_normal((n, 1)).astype(np.float32)}


def test_a_shared_layer_is_drawn_once_with_an_edge_to_each_use():
    net = _siamese()
    source = gg.to_dot(net).source
    assert source.count("weight (3, 20)") == 1
    assert source.count("80 params") == 1
    assert "Linear shared by enc_left, enc_right" in source
    names = _node_names(source)
    box = next(i for i, n in names.items() if n.startswith("Linear shared by"))
    uses = [names[v] for v in re.findall(rf"^\t{box} -> (\w+) \[", source, re.M)]
    assert sorted(uses) == ["enc_left", "enc_right"]
    counted = sum(int(n.replace(",", "")) for n in re.findall(r"([\d,]+) params", source))
    assert counted == net.num_parameters() == 80 + 21


def test_summary_counts_a_shared_layer_once_and_lists_each_use_and_takes_a_dict():
    net = _siamese()
    report = gg.summary(net, _batch())
    rows = {r.path: r for r in report.rows}
    assert rows["enc_left"].params == 80 and rows["enc_right"].params == 0
    assert rows["enc_right"].shared_with == "enc_left"
    assert rows["enc_right"].output_shapes == ((4, 20),)  # its own use ran and is listed
    assert report.total_params == 101 == sum(r.params for r in report.rows)
    assert report.input_shapes == ((4, 3), (4, 3), (4, 1))
    assert "Linear (shared with enc_left)" in str(report)


def test_named_modules_can_list_every_use():
    net = _siamese()
    assert [p for p, _ in net.named_modules()] == ["", "enc_left", "diff", "score", "loss"]
    every = [p for p, _ in net.named_modules(remove_duplicate=False)]
    assert every == ["", "enc_left", "enc_right", "diff", "score", "loss"]


def _node_names(source):
    """DOT node id -> the first line of its label."""
    return dict(re.findall(r'^\t(\w+) \[label="([^\\"]+)', source, re.M))


def _edge_labels(source):
    names = _node_names(source)
    return {(names[u], names[v]): label for u, v, label in
            re.findall(r'^\t(\w+) -> (\w+) \[label=" ([^"]*)"', source, re.M)}


def test_example_inputs_put_shapes_and_ports_on_edges_and_name_inputs_and_targets():
    net = _siamese()
    source = gg.to_dot(net, _batch()).source
    edges = _edge_labels(source)
    assert edges[("left", "enc_left")] == "(4, 3)"
    assert edges[("enc_left", "diff")] == "in0: (4, 20)"
    assert edges[("enc_right", "diff")] == "in1: (4, 20)"
    assert edges[("y", "loss")] == "in1: (4, 1)"
    assert 'label="left\\ninput\\n(4, 3)"' in source
    assert re.search(r'label="y\\ntarget\\n\(4, 1\)"[^\]]*style="dashed,filled"', source)
    assert 'label="loss\\nMSE' in source
    g = net.to_networkx(_batch())
    assert g.nodes["y"]["is_target"] and not g.nodes["left"]["is_target"]
    assert g.nodes["loss"]["is_loss"] and g.nodes["score"]["shape"] == (4, 1)


def test_depth_zero_is_the_layer_view_with_ports_and_other_depths_name_the_inputs():
    net = _siamese()
    layer_view = net.to_dot(_batch(), depth=0).source
    assert "in0: (4, 20)" in layer_view and "in1: (4, 20)" in layer_view
    op_view = net.to_dot(_batch()).source
    for name in ("left", "right", "y"):
        assert re.search(rf'label="{name}\\n\(4, \d\) float32"', op_view), name
    assert "cluster_enc_right" in op_view
