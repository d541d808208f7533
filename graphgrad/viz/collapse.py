"""Shrinking a graph for drawing: collapse modules below a depth, elide the rest.

A module path's *level* is its number of dotted parts (``"fc1"`` is 1,
``"blocks.0.conv"`` is 3).  Collapsing to ``depth`` d keeps the modules of
level ≤ d as clusters of ops and replaces each module of level d + 1 (with
everything below it) by one node of kind ``"module"``.  When even that leaves
too many nodes, `elide` keeps the nodes nearest the output(s) and replaces the
rest by one placeholder node that says how many it stands for.
"""

from __future__ import annotations

from math import prod

import networkx as nx

from graphgrad.viz.graph import STATS, node_data


def level(path: str | None) -> int:
    """Number of dotted parts of a module path (0 for None or the root ``""``)."""
    return len(path.split(".")) if path else 0


def within(path: str | None, prefix: str) -> bool:
    """True if module `path` is `prefix` or nested inside it (everything is in ``""``)."""
    if path is None:
        return False
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


def max_level(graph: nx.DiGraph) -> int:
    """The deepest module level of any node."""
    return max((level(d["module"]) for _, d in graph.nodes(data=True)), default=0)


def module_types(graph: nx.DiGraph) -> dict[str, str]:
    """Module path -> class name: from the ops that ran directly in each module,
    and from ``graph.graph["module_types"]`` (set when the model was given)."""
    types = dict(graph.graph.get("module_types", {}))
    for _, d in graph.nodes(data=True):
        if d["kind"] == "op" and d["module"] is not None and d.get("module_type"):
            types.setdefault(d["module"], d["module_type"])
    return types


def _group_of(data, depth: int) -> str | None:
    path = data["module"]
    if data["kind"] == "input" or level(path) <= depth:
        return None
    return ".".join(path.split(".")[: depth + 1])


def collapse(graph: nx.DiGraph, depth: int) -> nx.DiGraph:
    """`graph` with every module of level ``depth + 1`` contracted into one node.

    A module node has id ``"[path]"`` and attributes kind ``"module"``, ``module``
    (its path), ``module_type``, ``members`` (the ids it replaces), ``n_ops``,
    ``params`` (elements of the parameters inside), ``saved_bytes`` (their sum),
    ``shapes`` (of the tensors leaving it), ``is_root`` and ``requires_grad``.
    Edges between two merged nodes are merged too; ``shapes`` lists the
    distinct shapes they carried.
    """
    if depth < 0:
        raise ValueError(f"to_dot: depth must be None or >= 0, got {depth}")
    types = module_types(graph)
    mapping, out = {}, nx.DiGraph()
    out.graph.update(graph.graph)
    for n, data in graph.nodes(data=True):
        group = _group_of(data, depth)
        if group is None:
            mapping[n] = n
            out.add_node(n, **data)
            continue
        gid = mapping[n] = f"[{group}]"
        if gid not in out:
            out.add_node(gid, **node_data("module", name=group, module=group,
                                          module_type=types.get(group)),
                         members=[], n_ops=0, params=0)
        node = out.nodes[gid]
        node["members"].append(n)
        node["n_ops"] += data["kind"] == "op"
        if data["kind"] == "parameter" or (data["kind"] != "op" and data["requires_grad"]):
            node["params"] += prod(int(d) for d in data["shape"])
        node["saved_bytes"] += data["saved_bytes"]
        node["is_root"] = node["is_root"] or data["is_root"]
        if data["kind"] != "op" and data["grad_norm"] is not None:
            node["param_grad_sq"] = node.get("param_grad_sq", 0.0) + data["grad_norm"] ** 2
        node["missing_grad"] = node["missing_grad"] or data["missing_grad"]
        for key in ("anomaly", "failed"):
            node[key] = node[key] or data[key]
        if data["kind"] == "op":
            node["calls"] = max(node.get("calls", 1), (data["call"] or 0) + 1)
        node["requires_grad"] = node["requires_grad"] or data["requires_grad"]
        if data["is_root"]:
            node["shapes"] += (data["shape"],)
    # An edge carries the tensor its forward producer made; in the backward view
    # edges are reversed, so the producer is the edge's head, not its tail.
    backward = graph.graph.get("direction") == "backward"
    for u, v, data in graph.edges(data=True):
        gu, gv = mapping[u], mapping[v]
        if gu == gv:
            continue
        producer = out.nodes[gv if backward else gu]
        if producer["kind"] == "module" and data["shape"] not in producer["shapes"]:
            producer["shapes"] += (data["shape"],)
        if out.has_edge(gu, gv):
            shapes = out.edges[gu, gv]["shapes"]
            if data["shape"] not in shapes:
                out.edges[gu, gv]["shapes"] = shapes + (data["shape"],)
        else:
            out.add_edge(gu, gv, **data, shapes=(data["shape"],))
    for n in out:
        if out.nodes[n]["kind"] == "module":
            _summarise(out.nodes[n], graph, mapping)
    out.graph["order"] = list(dict.fromkeys(mapping[n] for n in graph.graph["order"]))
    return out


def _summarise(node, graph, mapping) -> None:
    """A module node's shape, gradient norm and forward statistics, from its members.

    ``grad_norm`` is ‖∇θ‖ over the parameters inside (√Σ‖g‖²) when they have
    gradients, else the gradient norm at the module's output; the statistics
    are those of its output.  The output is the last member (forward order)
    whose tensor leaves the module.
    """
    node["shape"] = (node["shapes"] or (None,))[0]
    members = set(node["members"])
    gid = f"[{node['module']}]"
    backward = graph.graph.get("direction") == "backward"
    output = None
    for n in reversed(graph.graph["order"]):
        if n not in members or graph.nodes[n]["kind"] != "op":
            continue
        outside = graph.predecessors(n) if backward else graph.successors(n)
        if graph.nodes[n]["is_root"] or any(mapping[m] != gid for m in outside):
            output = graph.nodes[n]
            break
    squares = node.pop("param_grad_sq", None)
    if squares is not None:
        node["grad_norm"] = squares ** 0.5
    elif output is not None:
        node["grad_norm"] = output["grad_norm"]
    if output is not None:
        for key in STATS:
            node[key] = output[key]


ELIDED = "[elided]"


def elide(graph: nx.DiGraph, max_nodes: int) -> tuple[nx.DiGraph, int]:
    """Keep both ends of the graph, ``max_nodes - 1`` nodes in all, one placeholder for the middle.

    The ends follow the forward order (``graph.graph["order"]``, producers
    first): the first third of the kept nodes (the input side) and the last two
    thirds (the output side, where the loss is).  Edges to and from dropped
    nodes are redirected to the placeholder (id ``"[elided]"``, kind
    ``"elided"``, with ``count`` = how many nodes it stands for).  Returns the
    graph and the count.
    """
    if max_nodes < 2:
        raise ValueError(f"to_dot: max_nodes must be at least 2, got {max_nodes}")
    order = graph.graph["order"]
    if len(order) <= max_nodes:
        return graph, 0
    head = (max_nodes - 1) // 3
    tail = max_nodes - 1 - head
    keep = set(order[:head]) | set(order[len(order) - tail:])
    count = len(order) - len(keep)
    out = nx.DiGraph()
    out.graph.update(graph.graph)
    out.add_node(ELIDED, **node_data("elided"), count=count)
    for n in order:
        if n in keep:
            out.add_node(n, **graph.nodes[n])
    for u, v, data in graph.edges(data=True):
        a, b = (u if u in keep else ELIDED), (v if v in keep else ELIDED)
        if a != b and not out.has_edge(a, b):
            out.add_edge(a, b, **data)
    out.graph["order"] = ([n for n in order[:head]] + [ELIDED]
                          + [n for n in order[len(order) - tail:]])
    return out, count
