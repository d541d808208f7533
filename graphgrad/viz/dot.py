"""Graphviz export: `to_dot` draws the graph from `to_networkx` as a ``graphviz.Digraph``.

Modules become nested clusters (``"blocks"`` contains ``"blocks.0"``), parameters
are green boxes, model inputs grey ovals, ops rounded blue boxes, and edges carry
the shape of the tensor (forward) or gradient (backward) they move.  Every node's
Graphviz attributes pass through the plugin hook ``graphgrad_dot_node_attrs(node,
attrs)`` before they are written, so a plugin can restyle any node.
"""

from __future__ import annotations

import graphviz
import networkx as nx

from graphgrad.viz.collapse import collapse, elide, level, max_level, module_types
from graphgrad.viz.graph import to_networkx
from graphgrad.viz.text import bytes_str, shape_str

FONT = "Helvetica"
STYLES = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6"},
    "op_backward": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fde2c8"},
    "parameter": {"shape": "box", "style": "filled", "fillcolor": "#d5f0d5"},
    "input": {"shape": "oval", "style": "filled", "fillcolor": "#eeeeee"},
    "input_grad": {"shape": "oval", "style": "filled", "fillcolor": "#fff4c2"},
    "constant": {"shape": "oval", "style": "dashed", "fontsize": "9"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#e8e0f5"},
    "elided": {"shape": "note", "style": "filled", "fillcolor": "#ffffff"},
}
CLUSTER_FILLS = ("#f6f6f6", "#ffffff")


def _escape(text: str) -> str:
    return str(text).replace("\\", "\\\\")


def _label(lines: list[str]) -> str:
    # Escaped user text, joined by DOT's centred line break; nohtml keeps a
    # "<name>" from being read as an HTML label.
    return graphviz.nohtml("\\n".join(_escape(line) for line in lines if line))


def _leaf_lines(data, opts) -> list[str]:
    title = data["name"] or data["kind"]
    lines = ["AccumulateGrad", title] if data["op"] == "AccumulateGrad" else [title]
    if opts["show_shapes"]:
        lines.append(f"{shape_str(data['shape'])} {data['dtype']}")
    if opts["show_grads"] and data["grad_norm"] is not None:
        lines.append(f"‖grad‖ = {data['grad_norm']:.3g}")
    return lines


def _op_lines(data, opts, backward) -> list[str]:
    lines = [data["op"]] + ([data["label"]] if data.get("label") else [])
    if opts["show_shapes"]:
        if backward:
            many = len(data["shapes"]) > 1
            for o, i, out_shape, in_shape in data["jacobians"]:
                lines.append(f"∂out{o if many else ''}/∂in{i}: {shape_str(out_shape)} × "
                             f"{shape_str(in_shape)}")
        elif data["is_root"]:
            lines.append(f"out {shape_str(data['shape'])} {data['dtype']}")
    if opts["show_saved"] and data["saved_bytes"]:
        lines.append(f"saved {bytes_str(data['saved_bytes'])}")
    if opts["show_grads"] and data["grad_norm"] is not None:
        lines.append(f"‖grad‖ = {data['grad_norm']:.3g}")
    return lines


def _module_lines(data, opts) -> list[str]:
    title = data["module"] + (f": {data['module_type']}" if data["module_type"] else "")
    ops, params = data["n_ops"], data["params"]
    lines = [title, f"{ops} op{'s' * (ops != 1)}, {params:,} param{'s' * (params != 1)}"]
    if opts["show_shapes"] and data["shapes"]:
        lines.append("out " + ", ".join(shape_str(s) for s in data["shapes"]))
    if opts["show_saved"] and data["saved_bytes"]:
        lines.append(f"saved {bytes_str(data['saved_bytes'])}")
    return lines


def node_attrs(data, opts, backward) -> dict[str, str]:
    """The Graphviz attributes (label and style) of one networkx node."""
    kind = data["kind"]
    if kind == "op":
        style, lines = STYLES["op_backward" if backward else "op"], _op_lines(data, opts, backward)
    elif kind == "module":
        style, lines = STYLES["module"], _module_lines(data, opts)
    elif kind == "elided":
        style = STYLES["elided"]
        lines = [f"… {data['count']} more nodes", "(raise max_nodes or pass depth=)"]
    else:
        key = "input_grad" if kind == "input" and data["requires_grad"] else kind
        style, lines = STYLES[key], _leaf_lines(data, opts)
    attrs = dict(style)
    attrs["label"] = _label(lines)
    if data.get("is_root"):
        attrs["penwidth"] = "2"
    return attrs


def _edge_label(data, opts) -> str | None:
    if not opts["show_shapes"]:
        return None
    return ", ".join(shape_str(s) for s in data.get("shapes", (data["shape"],)))


def _shrink(graph, group_by_module, depth, max_nodes):
    """Apply `depth`, then collapse further / elide if over `max_nodes`; return a note."""
    drawn = collapse(graph, depth) if depth is not None and group_by_module else graph
    if drawn.number_of_nodes() <= max_nodes:
        return drawn, None
    note = f"{drawn.number_of_nodes()} nodes > max_nodes={max_nodes}"
    if group_by_module and max_level(graph) > 0:
        deepest = max_level(graph) if depth is None else min(depth, max_level(graph))
        for d in range(deepest - 1, -1, -1):
            drawn = collapse(graph, d)
            if drawn.number_of_nodes() <= max_nodes:
                return drawn, f"{note}: modules collapsed below depth {d}"
        note += ": modules collapsed below depth 0"
    drawn, count = elide(drawn, max_nodes)
    return drawn, f"{note}; {count} nodes nearest the inputs not drawn"


class _ClusterTree:
    """Nested ``graphviz`` subgraphs, one per module path, built on demand."""

    def __init__(self, root: graphviz.Digraph, types: dict[str, str]):
        self.root, self.types = root, types
        self.children: dict[str, list[str]] = {}
        self.members: dict[str, list[tuple[str, dict]]] = {"": []}

    def add(self, path: str | None, name: str, attrs: dict) -> None:
        parts = path.split(".") if path else []
        prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
        parent = ""
        for p in prefixes:
            if p not in self.members:
                self.members[p] = []
                self.children.setdefault(parent, []).append(p)
            parent = p
        self.members[parent].append((name, attrs))

    def emit(self) -> None:
        for name, attrs in self.members[""]:
            self.root.node(name, **attrs)
        stack = [(self.root, p) for p in reversed(self.children.get("", []))]
        pending = []  # (parent graph, subgraph) to attach once the subgraph is complete
        while stack:
            parent, path = stack.pop()
            label = path + (f": {self.types[path]}" if path in self.types else "")
            sub = graphviz.Digraph(name=f"cluster_{path}")
            sub.attr(label=_label([label]), style="rounded,filled", color="#888888",
                     fillcolor=CLUSTER_FILLS[(level(path) - 1) % 2], fontname=FONT,
                     fontsize="10", labeljust="l")
            for name, attrs in self.members[path]:
                sub.node(name, **attrs)
            pending.append((parent, sub))
            stack.extend((sub, p) for p in reversed(self.children.get(path, [])))
        for parent, sub in reversed(pending):  # children first: a subgraph is copied in
            parent.subgraph(sub)


def _node_finisher():
    """``finish(data, nid, attrs)``: a node's attributes as they are written, restyled by
    the ``graphgrad_dot_node_attrs`` hook (when a plugin implements it), values as text."""
    from graphgrad import registry

    restyle = bool(registry.plugin_manager().hook.graphgrad_dot_node_attrs.get_hookimpls())

    def finish(data, nid, attrs):
        if restyle:
            registry.call_event("graphgrad_dot_node_attrs", node=dict(data, id=nid),
                                attrs=attrs)
        return {k: v if isinstance(v, graphviz.quoting.NoHtml) else str(v)
                for k, v in attrs.items()}

    return finish


def graph_to_dot(graph: nx.DiGraph, *, group_by_module=True, depth=None, show_shapes=True,
                 show_saved=True, show_grads=True, max_nodes=500) -> graphviz.Digraph:
    """Draw a graph from `to_networkx` (forward or backward view); see `to_dot`."""
    backward = graph.graph.get("direction") == "backward"
    types = module_types(graph)
    drawn, note = _shrink(graph, group_by_module, depth, max_nodes)
    opts = {"show_shapes": show_shapes, "show_saved": show_saved, "show_grads": show_grads}
    dot = graphviz.Digraph(name="backward" if backward else "graph")
    dot.attr("graph", rankdir="TB", fontname=FONT, fontsize="10", nodesep="0.25",
             ranksep="0.35")
    if note:
        dot.attr("graph", label=_label([note]), labelloc="t")
    dot.attr("node", fontname=FONT, fontsize="10", height="0.3")
    dot.attr("edge", fontname=FONT, fontsize="9", color="#555555")
    finish = _node_finisher()
    names = {n: f"n{i}" for i, n in enumerate(drawn.graph["order"])}
    tree = _ClusterTree(dot, types)
    for n in drawn.graph["order"]:
        data = drawn.nodes[n]
        attrs = node_attrs(data, opts, backward)
        attrs["tooltip"] = _escape(n)
        attrs = finish(data, n, attrs)
        path = data["module"] if group_by_module else None
        if data["kind"] == "module":  # the node stands for the module: draw it in the parent
            path = ".".join(path.split(".")[:-1]) or None
        tree.add(path, names[n], attrs)
    tree.emit()
    for u, v, data in drawn.edges(data=True):
        label = _edge_label(data, opts)
        dot.edge(names[u], names[v], label=label and f" {label}",
                 style="dashed" if backward else None)
    return dot


def to_dot(root, group_by_module: bool = True, depth: int | None = None,
           show_shapes: bool = True, show_saved: bool = True, show_grads: bool = True,
           backward: bool = False, max_nodes: int = 500, params=None) -> graphviz.Digraph:
    """The graph that produced `root` (a Tensor, or several) as a ``graphviz.Digraph``.

    - ``group_by_module``: draw each Module as a cluster, nested by dotted path.
    - ``depth``: modules nested deeper than `depth` levels are drawn as one node
      each (``depth=0``: every top-level module is one node; None: expand all).
    - ``show_shapes``: shapes on edges (and on roots and leaves);
      ``show_saved``: bytes each op keeps for backward;
      ``show_grads``: ‖grad‖₂ after a backward (ops need
      ``graphgrad.autograd.record_grads()``; leaves use ``.grad``).
    - ``backward=True``: the gradient flow, from the root to the leaves that
      require grad; each backward op lists the Jacobian it applies per input,
      ∂out/∂in of shape out.shape × in.shape (for ``y = x @ W`` with x (4, 15) and
      W (15, 10): (4, 10) × (4, 15) and (4, 10) × (15, 10)).
    - ``max_nodes``: above it, modules are collapsed level by level, and if that
      is not enough the nodes nearest the inputs are replaced by one placeholder;
      the graph's title says what was done.
    - ``params``: ``dict(model.named_parameters())`` or the model: parameters
      get their dotted names (``"fc1.weight"``) and clusters their class names.

    ``dot.source`` is the DOT text; ``gg.render`` writes it and runs ``dot``.
    A ``Network`` as `root` gives its layer-level graph instead (one node per
    layer; the options do not apply), see ``graphgrad.viz.network``;
    ``gg.to_dot(net, example_inputs)`` adds the tensor shapes on its edges.
    """
    if hasattr(root, "to_networkx") and hasattr(root, "input_names"):
        from graphgrad.viz.network import network_to_dot

        # for a Network the second argument is an example batch, not a flag
        example = None if isinstance(group_by_module, bool) else group_by_module
        return network_to_dot(root, example)
    graph = to_networkx(root, backward=backward, params=params)
    return graph_to_dot(graph, group_by_module=group_by_module, depth=depth,
                        show_shapes=show_shapes, show_saved=show_saved,
                        show_grads=show_grads, max_nodes=max_nodes)
