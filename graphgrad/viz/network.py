"""A Network's layer-level graph in Graphviz: one node per layer, not per op.

``net.to_networkx()`` (graphgrad/nn/network.py) describes the layers and how
they feed each other; this draws it: inputs as ovals named after the
network's inputs (a loss target dashed and labelled "target"), layers as
boxes listing their parameters, losses in red, the outputs outlined in bold.
An edge into a layer with several inputs says which input it feeds (``in0``,
``in1``...); with example inputs every edge also carries the shape of the
tensor it moves.  A layer used by several nodes (a shared encoder) is drawn
once, as a box holding its parameters, with a dashed edge to each use, so
its parameters are counted once.  Use ``gg.to_dot(net(x))`` for the op-level
graph of one forward pass.
"""

from __future__ import annotations

import graphviz

from graphgrad.viz.dot import FONT, STYLES, _label, _node_finisher
from graphgrad.viz.text import shape_str

_LOSS = {"shape": "box", "style": "rounded,filled", "fillcolor": "#f8d0d0"}
_TARGET = {"shape": "oval", "style": "dashed,filled", "fillcolor": "#fff4c2"}


def _shapes(value) -> str:
    if value and isinstance(value[0], tuple):
        return ", ".join(shape_str(s) for s in value)
    return shape_str(value)


def _param_lines(data) -> list[str]:
    n = data["num_parameters"]
    return ([f"{n:,} params"] + [f"{p} {shape_str(s)}" for p, s in data["params"].items()]
            if n else [])


def network_to_dot(net, example_inputs=None) -> graphviz.Digraph:
    """The layer graph of `net` (a ``Network``) as a ``graphviz.Digraph``.

    Node labels: node name, class, parameter count and each parameter's
    shape (once per layer object: the uses of a shared layer point to one
    box that lists them).  With `example_inputs` (what the network is called
    with: a Tensor/array, a tuple, or a dict by input name), the network runs
    once (``net.check(example_inputs)``: no graph, evaluation mode) and every
    edge and input shows its shape.  The ``graphgrad_dot_node_attrs`` hook
    sees each node's attributes from ``net.to_networkx()`` plus ``id``.
    """
    graph = net.to_networkx(example_inputs)
    dot = graphviz.Digraph(name=graph.graph.get("name") or "network")
    dot.attr("graph", rankdir="TB", fontname=FONT, fontsize="10")
    dot.attr("node", fontname=FONT, fontsize="10")
    dot.attr("edge", fontname=FONT, fontsize="9", color="#555555")
    finish = _node_finisher()
    names = {n: f"n{i}" for i, n in enumerate(graph.nodes)}
    shared_boxes: dict[tuple, str] = {}  # the uses of one shared layer -> its box id
    for n, data in graph.nodes(data=True):
        shape = data.get("shape")
        if data["kind"] == "input":
            target = data["is_target"]
            attrs = dict(_TARGET if target else STYLES["input"])
            lines = [n, "target" if target else "input"]
            if shape is not None:
                lines.append(_shapes(shape))
        else:
            uses = tuple(data["shared_with"])
            if data["is_loss"]:
                attrs = dict(_LOSS)
            elif data["num_parameters"] and not uses:
                attrs = dict(STYLES["parameter"])
            else:
                attrs = dict(STYLES["op"])
            lines = [n, data["type"] + (" (shared)" if uses else "")]
            if uses:
                if uses not in shared_boxes:
                    shared_boxes[uses] = f"s{len(shared_boxes)}"
                    box = dict(STYLES["parameter"])
                    box["label"] = _label([f"{data['type']} shared by {', '.join(uses)}"]
                                          + _param_lines(data))
                    info = dict(data, kind="shared_layer", uses=list(uses))
                    dot.node(shared_boxes[uses], **finish(info, shared_boxes[uses], box))
            else:
                lines += _param_lines(data)
            if data["is_output"] and shape is not None:
                lines.append("out " + _shapes(shape))
        attrs["label"] = _label(lines)
        if data.get("is_output"):
            attrs["penwidth"] = "2"
        dot.node(names[n], **finish(data, n, attrs))
    for uses, box in shared_boxes.items():
        for use in uses:
            dot.edge(box, names[use], style="dashed", arrowhead="none", color="#2e7d32",
                     label=" weights")
    for u, v, data in graph.edges(data=True):
        ports = data.get("ports") or []
        parts = []
        if len(graph.nodes[v].get("inputs", [])) > 1 and ports:
            parts.append(", ".join(f"in{p}" for p in ports))
        if "shape" in data:
            parts.append(_shapes(data["shape"]))
        dot.edge(names[u], names[v], label=" " + ": ".join(parts) if parts else None)
    return dot
