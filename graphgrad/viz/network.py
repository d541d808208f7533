"""A Network's layer-level graph in Graphviz: one node per layer, not per op.

``net.to_networkx()`` (graphgrad/network.py) describes the layers and how they
feed each other; this draws it: inputs as ovals, layers as boxes listing their
parameters, the outputs outlined in bold.  Use ``gg.to_dot(net(x))`` for the
op-level graph of one forward pass.
"""

from __future__ import annotations

import graphviz

from graphgrad.viz.style import FONT, STYLES, label, node_finisher
from graphgrad.viz.text import shape_str


def network_to_dot(net) -> graphviz.Digraph:
    """The layer graph of `net` (a ``Network``) as a ``graphviz.Digraph``.

    Node labels: layer name, class, parameter count and each parameter's
    shape; an edge into a layer with several inputs says which input it feeds
    (``in0``, ``in1``...).  The ``graphgrad_dot_node_attrs`` hook sees each node's
    attributes from ``net.to_networkx()`` plus ``id``.
    """
    graph = net.to_networkx()
    dot = graphviz.Digraph(name=graph.graph.get("name") or "network")
    dot.attr("graph", rankdir="TB", fontname=FONT, fontsize="10")
    dot.attr("node", fontname=FONT, fontsize="10")
    dot.attr("edge", fontname=FONT, fontsize="9", color="#555555")
    finish = node_finisher()
    names = {n: f"n{i}" for i, n in enumerate(graph.nodes)}
    for n, data in graph.nodes(data=True):
        if data["kind"] == "input":
            attrs, lines = dict(STYLES["input"]), [n, "input"]
        else:
            attrs = dict(STYLES["parameter"] if data["num_parameters"] else STYLES["op"])
            lines = [n, data["type"]]
            if data["num_parameters"]:
                lines.append(f"{data['num_parameters']:,} params")
                lines += [f"{p} {shape_str(s)}" for p, s in data["params"].items()]
        attrs["label"] = label(lines)
        if data.get("is_output"):
            attrs["penwidth"] = "2"
        dot.node(names[n], **finish(data, n, attrs))
    for u, v, data in graph.edges(data=True):
        ports = data.get("ports") or []
        many = len(graph.nodes[v].get("inputs", [])) > 1
        dot.edge(names[u], names[v],
                 label=" " + ", ".join(f"in{p}" for p in ports) if many and ports else None)
    return dot
