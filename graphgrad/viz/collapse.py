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
from graphgrad.viz.health import sparkline


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
    for path, mode in graph.graph.get("module_modes", {}).items():  # BatchNorm, Dropout
        if path in types:
            types[path] = f"{types[path]} ({mode})"
    return types


def merge_findings(node, data) -> None:
    """Add the findings of member `data` to the collapsed/folded `node` (each once)."""
    if data.get("findings"):
        seen = {(f["rule"], f["title"]) for f in node["findings"]}
        node["findings"] = tuple(node["findings"]) + tuple(
            f for f in data["findings"] if (f["rule"], f["title"]) not in seen)


def _group_of(data, depth: int, rolled=()) -> str | None:
    path = data["module"]
    if data["kind"] == "input" or path is None:
        return None
    for r in rolled:  # a module called in a loop: all its calls are one node
        if within(path, r) and level(r) <= depth + 1:
            return r
    if level(path) <= depth:
        return None
    return ".".join(path.split(".")[: depth + 1])


def looped_modules(graph: nx.DiGraph, min_calls: int = 2, time_steps=None) -> list[str]:
    """Module paths called at least `min_calls` times in the graph (outermost only).

    ``time_steps=True`` keeps only the time steps of a layer's own loop
    (``Module.time_step``: a recurrent layer's steps), ``False`` only the others,
    None both.
    """
    calls: dict[str, int] = {}
    for _, d in graph.nodes(data=True):
        if d["kind"] == "op" and d["module"] is not None and d["call"] is not None:
            if time_steps is not None and bool(d.get("time_step")) != time_steps:
                continue
            calls[d["module"]] = max(calls.get(d["module"], 0), d["call"] + 1)
    looped = sorted(p for p, n in calls.items() if n >= min_calls)
    return [p for p in looped if not any(q != p and within(p, q) for q in looped)]


def loop_body(graph: nx.DiGraph, looped: str) -> dict[str, int]:
    """The ops outside module `looped` that belong to its loop: node -> call.

    A module called in a loop at the top level (``for t in range(T): h =
    tanh(cell(h) + xs[t])``) leaves the rest of each step (the ``+ xs[t]`` and
    the ``tanh``) outside the module.  An op outside it (of no module, or of a
    module `looped` is nested in) whose inputs come from call k and whose output
    reaches call k + 1 belongs to step k; after the last call, the ops that
    repeat the previous step's op sequence belong to the last step.  Rolling the
    module rolls them in too, so that the loop is one node.  A layer's own time
    steps (``Module.time_step``) have none.
    """
    order = [n for n in graph.graph["order"] if n in graph]
    backward = graph.graph.get("direction") == "backward"
    preds = graph.successors if backward else graph.predecessors
    succs = graph.predecessors if backward else graph.successors

    def call_of(d):
        if d["kind"] == "op" and within(d["module"], looped) and d["call"] is not None:
            return None if d.get("time_step") else d["call"]
        return -1

    calls = {n: call_of(graph.nodes[n]) for n in order}
    if any(c is None for c in calls.values()):
        return {}

    def outside(d):
        return d["kind"] == "op" and (d["module"] is None or (
            not within(d["module"], looped) and within(looped, d["module"])))

    last, nxt = {}, {}  # latest call upstream, earliest call downstream
    for n in order:
        up = [last[p] for p in preds(n) if p in last]
        last[n] = max([calls[n], *up]) if calls[n] >= 0 else max(up, default=-1)
    never = 1 << 30  # no call downstream
    for n in reversed(order):
        down = [nxt[v] for v in succs(n) if v in nxt]
        nxt[n] = calls[n] if calls[n] >= 0 else min(down, default=never)
    body = {n: last[n] for n in order if outside(graph.nodes[n]) and last[n] >= 0
            and nxt[n] == last[n] + 1}
    n_calls = max(calls.values()) + 1
    if n_calls < 2:
        return {}
    pattern = [graph.nodes[n]["op"] for n in order if body.get(n) == n_calls - 2]
    tail = [n for n in order if outside(graph.nodes[n]) and last[n] == n_calls - 1
            and nxt[n] == never][: len(pattern)]
    if pattern and [graph.nodes[n]["op"] for n in tail] == pattern:
        body.update((n, n_calls - 1) for n in tail)
    return body


def unify_shared(graph: nx.DiGraph) -> nx.DiGraph:
    """`graph` with the uses of a shared module (``graph.graph["module_aliases"]``: a layer
    held by several ``Network`` nodes) recorded as calls of its first path, so that
    ``loops="roll"`` rolls them like a module called in a loop.  Use k is call k."""
    aliases = graph.graph.get("module_aliases") or {}
    if not aliases:
        return graph
    uses: dict[str, list[str]] = {}
    for alias, first in aliases.items():
        uses.setdefault(first, [first]).append(alias)
    out = graph.copy()
    for _, d in out.nodes(data=True):
        path = d["module"]
        if d["kind"] != "op" or path is None:
            continue
        for first, names in uses.items():
            use = next((k for k, a in enumerate(names) if within(path, a)), None)
            if use is not None:
                d["module"] = first + path[len(names[use]):]
                d["call"] = use
                break
    return out


def collapse(graph: nx.DiGraph, depth: int, rolled=()) -> nx.DiGraph:
    """`graph` with every module of level ``depth + 1`` contracted into one node.

    A module node has id ``"[path]"`` and attributes kind ``"module"``, ``module``
    (its path), ``module_type``, ``members`` (the ids it replaces), ``n_ops``,
    ``params`` (elements of the parameters inside), ``saved_bytes`` (their sum),
    ``shapes`` (of the tensors leaving it), ``is_root`` and ``requires_grad``.
    Edges between two merged nodes are merged too; ``shapes`` lists the
    distinct shapes they carried.  Module paths in `rolled` (modules applied in
    a loop, see `looped_modules`) become one node each whatever their level,
    with ``calls`` (how many times it ran) and ``sparkline`` (the largest
    gradient norm of each call, as a `health.sparkline`).
    """
    if depth < 0:
        raise ValueError(f"to_dot: depth must be None or >= 0, got {depth}")
    types = module_types(graph)
    mapping, out = {}, nx.DiGraph()
    out.graph.update(graph.graph)
    groups = {n: _group_of(d, depth, rolled) for n, d in graph.nodes(data=True)}
    bodies = {}
    for r in rolled:
        body = loop_body(graph, r)
        if body:
            bodies[r] = [graph.nodes[n]["op"] for n, call in body.items() if call == 0]
            for n in body:
                if groups[n] is None:
                    groups[n] = r
    for n, d in graph.nodes(data=True):
        if rolled and groups[n] is None and d["kind"] in ("input", "constant"):
            # the slices xs[t] fed one per call to a rolled loop are rolled in with it
            homes = {groups[v] for v in graph.successors(n)}
            if len(homes) == 1 and next(iter(homes)) in rolled:
                groups[n] = homes.pop()
    for n, data in graph.nodes(data=True):
        group = groups[n]
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
        merge_findings(node, data)
        for key in ("anomaly", "failed"):
            node[key] = node[key] or data[key]
        if data["kind"] == "op" and group in rolled:
            node["calls"] = max(node.get("calls", 1), (data["call"] or 0) + 1)
            node["time_step"] = node.get("time_step") or data.get("time_step", False)
            per_call = node.setdefault("call_norms", {})
            if data["module"] == group and data["grad_norm"] is not None:
                per_call[data["call"]] = max(per_call.get(data["call"], 0.0), data["grad_norm"])
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
    for r, ops in bodies.items():
        if f"[{r}]" in out and ops:
            out.nodes[f"[{r}]"]["body_ops"] = tuple(ops)
    for n in out:
        if out.nodes[n]["kind"] == "module":
            _summarise(out.nodes[n], graph, mapping)
    out.graph["order"] = list(dict.fromkeys(mapping[n] for n in graph.graph["order"]))
    return out


def _summarise(node, graph, mapping) -> None:
    """A module node's shape, gradient norm and forward statistics, from its members.

    ``grad_norm`` is the gradient norm at the module's output (when the backward
    recorded it, ``record_grads``), else ``param_grad_norm``: ‖∇θ‖ over the
    parameters inside (√Σ‖g‖²); the statistics are those of its output.  The
    output is the last member (forward order) whose tensor leaves the module.
    """
    node["shape"] = (node["shapes"] or (None,))[0]
    norms = node.pop("call_norms", None)
    if norms:
        node["sparkline"] = sparkline([norms.get(c) for c in range(node["calls"])])
        node["spark_ends"] = (norms.get(0), norms.get(node["calls"] - 1))
        node["spark_unit"] = "call"
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
    node["param_grad_norm"] = None if squares is None else squares ** 0.5
    if output is not None and output["grad_norm"] is not None:
        node["grad_norm"] = output["grad_norm"]
    else:
        node["grad_norm"] = node["param_grad_norm"]
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


def _signature(data) -> tuple:
    # not the parameter count: the first Linear of a stack reads a wider input, and
    # folding from the second one would put the fold out of phase with the layers
    return (data["module_type"], data["n_ops"], data["shapes"])


def fold_repeats(graph: nx.DiGraph, min_repeats: int = 3, max_period: int = 4) -> nx.DiGraph:
    """Runs of identical consecutive module nodes (from `collapse`) become one node "× N".

    Identical: same class, parameter count, op count and output shapes; a run
    may repeat a group of up to `max_period` modules (Linear, ReLU, Linear,
    ReLU... is ``(Linear, ReLU) × N``), each next to the previous one in the
    graph.  The folded node (kind ``"module"``) has ``repeats``, ``members``,
    ``grad_norm`` (the largest of the repeats', NaN if any is NaN) and
    ``sparkline``: one character per repeat, the gradient norm at its output
    on a log scale, so gradients that explode or vanish along the stack show
    as a slope.
    """
    order = graph.graph["order"]
    mods = [n for n in order if graph.nodes[n]["kind"] == "module"]
    sigs = [_signature(graph.nodes[n]) for n in mods]

    def adjacent(a, b):
        return graph.has_edge(a, b) or graph.has_edge(b, a)

    runs, i = [], 0
    while i < len(mods):
        best = (1, 1)  # (period, repeats)
        for p in range(1, max_period + 1):
            if i + p > len(mods) or not all(adjacent(mods[j], mods[j + 1])
                                            for j in range(i, i + p - 1)):
                continue
            r = 1
            while (i + (r + 1) * p <= len(mods)
                   and sigs[i + r * p: i + (r + 1) * p] == sigs[i: i + p]
                   and all(adjacent(mods[j - 1], mods[j])
                           for j in range(i + r * p, i + (r + 1) * p))):
                r += 1
            if r >= min_repeats and p * r > best[0] * best[1]:
                best = (p, r)
        p, r = best
        if r >= min_repeats:
            runs.append(mods[i: i + p * r] + [p, r])
            i += p * r
        else:
            i += 1
    if not runs:
        return graph
    mapping = {n: n for n in graph}
    out = nx.DiGraph()
    out.graph.update(graph.graph)
    folded = {}
    for run in runs:
        *members, p, r = run
        first, last = graph.nodes[members[0]], graph.nodes[members[-1]]
        fid = f"[{first['module']}…{last['module']}]"
        types = [graph.nodes[m]["module_type"] or "?" for m in members[:p]]
        # per repeat: the gradient at its output, else that of its last member that has
        # one (a Sigmoid has no parameters; its Linear's ‖∇θ‖ stands for the layer)
        norms = [next((graph.nodes[m]["grad_norm"] for m in reversed(members[k * p:(k + 1) * p])
                       if graph.nodes[m]["grad_norm"] is not None), None) for k in range(r)]
        finite = [g for g in norms if g is not None]
        folded[fid] = node_data(
            "module", name=f"{first['module']}–{last['module']}", module=first["module"],
            module_type=types[0] if p == 1 else "(" + ", ".join(types) + ")",
            shape=last["shape"], shapes=last["shapes"],
            saved_bytes=sum(graph.nodes[m]["saved_bytes"] for m in members),
            requires_grad=any(graph.nodes[m]["requires_grad"] for m in members),
            is_root=any(graph.nodes[m]["is_root"] for m in members),
            grad_norm=(float("nan") if any(g != g for g in finite) else max(finite))
            if finite else None,
            missing_grad=any(graph.nodes[m]["missing_grad"] for m in members),
            **{k: last[k] for k in STATS})
        folded[fid].update(members=members, repeats=r, period=p, param_grad_norm=None,
                           n_ops=sum(graph.nodes[m]["n_ops"] for m in members),
                           params=sum(graph.nodes[m]["params"] for m in members),
                           sparkline=sparkline(norms) if finite else None,
                           spark_ends=(norms[0], norms[-1]) if finite else None)
        for m in members:
            mapping[m] = fid
            merge_findings(folded[fid], graph.nodes[m])
    for n in order:
        gid = mapping[n]
        if gid == n:
            out.add_node(n, **graph.nodes[n])
        elif gid not in out:
            out.add_node(gid, **folded[gid])
    for u, v, data in graph.edges(data=True):
        a, b = mapping[u], mapping[v]
        if a != b and not out.has_edge(a, b):
            out.add_edge(a, b, **data)
    out.graph["order"] = list(dict.fromkeys(mapping[n] for n in order))
    return out
