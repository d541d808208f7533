"""Graphviz export: `to_dot` draws the graph from `to_networkx` as a ``graphviz.Digraph``.

Modules become nested clusters (``"blocks"`` contains ``"blocks.0"``), parameters
are green boxes, model inputs grey ovals, ops rounded blue boxes, and edges carry
the shape of the tensor (forward) or gradient (backward) they move.  Every node's
Graphviz attributes pass through the plugin hook ``graphgrad_dot_node_attrs(node,
attrs)`` before they are written, so a plugin can restyle any node.
"""

from __future__ import annotations

import textwrap

import graphviz
import networkx as nx

from graphgrad.viz import health
from graphgrad.viz.collapse import (
    collapse,
    elide,
    fold_repeats,
    level,
    loop_body,
    looped_modules,
    max_level,
    module_types,
    unify_shared,
    within,
)
from graphgrad.viz.failure import add_update_ratios, failure_graph
from graphgrad.viz.finding import SEVERITIES
from graphgrad.viz.graph import to_networkx
from graphgrad.viz.labels import edge_label, magnitude, node_attrs
from graphgrad.viz.style import CLUSTER_FILLS, FONT, escape, label, node_finisher


#: ``loops="auto"`` rolls a loop of more calls than this: one cluster per call would
#: make a picture as long as the loop (and Graphviz slow to lay it out)
ROLL_CALLS = 8


def _shrink(graph, group_by_module, depth, max_nodes, loops, fold, roll_calls=ROLL_CALLS):
    """Apply `depth` and `loops`, fold repeats, then collapse further / elide if over
    `max_nodes`; return the graph and a note for the title.  ``loops="auto"`` rolls
    the loops of more than `roll_calls` calls (None: only a layer's own time steps)."""
    if loops == "roll" and group_by_module:
        graph = unify_shared(graph)  # the uses of a layer shared by several nodes roll too
    rolled = ()
    if loops == "roll" and group_by_module:
        rolled = looped_modules(graph)
    elif loops == "auto" and group_by_module:  # a layer's own steps, and long loops
        long_loops = (looped_modules(graph, min_calls=roll_calls + 1, time_steps=False)
                      if roll_calls is not None else ())
        rolled = sorted({*looped_modules(graph, time_steps=True), *long_loops})
    if (depth is not None or rolled) and group_by_module:
        drawn = collapse(graph, max_level(graph) if depth is None else depth, rolled)
    else:
        drawn = graph
    if fold:
        drawn = fold_repeats(drawn)
    if drawn.number_of_nodes() <= max_nodes:
        return drawn, None
    note = f"{drawn.number_of_nodes()} nodes > max_nodes={max_nodes}"
    if group_by_module and max_level(graph) > 0:
        deepest = max_level(graph) if depth is None else min(depth, max_level(graph))
        for d in range(deepest - 1, -1, -1):
            drawn = collapse(graph, d, rolled)
            if fold:
                drawn = fold_repeats(drawn)
            if drawn.number_of_nodes() <= max_nodes:
                return drawn, f"{note}: modules collapsed below depth {d}"
        note += ": modules collapsed below depth 0"
    drawn, count = elide(drawn, max_nodes)
    return drawn, f"{note}; {count} nodes in the middle not drawn"


class _ClusterTree:
    """Nested ``graphviz`` subgraphs, one per module path, built on demand."""

    def __init__(self, root: graphviz.Digraph, types: dict[str, str]):
        self.root, self.types = root, types
        self.children: dict[str, list[str]] = {}
        self.members: dict[str, list[tuple[str, dict]]] = {"": []}
        self.same_rank: dict[str, list[tuple[str, ...]]] = {}

    def rank_together(self, path: str | None, names: tuple[str, ...]) -> None:
        """Put the nodes `names` (all in the cluster of `path`) on one rank."""
        self.same_rank.setdefault(path or "", []).append(names)

    def _emit_ranks(self, graph, path) -> None:
        for names in self.same_rank.get(path, ()):
            row = graphviz.Digraph()
            row.attr(rank="same")
            for name in names:
                row.node(name)
            graph.subgraph(row)

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
        self._emit_ranks(self.root, "")
        stack = [(self.root, p) for p in reversed(self.children.get("", []))]
        pending = []  # (parent graph, subgraph) to attach once the subgraph is complete
        while stack:
            parent, path = stack.pop()
            title = path + (f": {self.types[path]}" if path in self.types else "")
            looped, _, step = path.rpartition(" #")
            if " #" in path:  # one call of a module applied in a loop (the top-level
                # module, path "", is named by its class)
                title = f"{looped or self.types.get('', 'model')}, call {step}"
            sub = graphviz.Digraph(name=f"cluster_{path}")
            sub.attr(label=label([title]), style="rounded,filled", color="#888888",
                     fillcolor=CLUSTER_FILLS[(level(path) - 1) % 2], fontname=FONT,
                     fontsize="10", labeljust="l")
            for name, attrs in self.members[path]:
                sub.node(name, **attrs)
            self._emit_ranks(sub, path)
            pending.append((parent, sub))
            stack.extend((sub, p) for p in reversed(self.children.get(path, [])))
        for parent, sub in reversed(pending):  # children first: a subgraph is copied in
            parent.subgraph(sub)


def _title(graph, drawn, note) -> list[str]:
    """The picture's title: what was shrunk, and every bug the graph data marks."""
    lines = [note] if note else []
    failed = graph.graph.get("failure")
    if failed:
        lines += textwrap.wrap(f"FAILED in {failed[0]}: {failed[1]}", 110)
    found = graph.graph.get("findings", ())
    if not any(f["rule"] == "anomaly" for f in found):  # else it is one of the findings
        for _, d in drawn.nodes(data=True):
            if d["anomaly"]:
                lines += textwrap.wrap(d["anomaly"], 110)
    for f in found:
        lines += textwrap.wrap(f"{f['severity'].upper()} {f['title']}: {f['advice']}", 110)
    missing = graph.graph.get("missing_grads")
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8
                                          else "")
        lines.append(f"NO GRADIENT reached {len(missing)} parameter"
                     f"{'s' * (len(missing) != 1)}: {shown}")
    return lines


def _main_path(drawn) -> set:
    """Edges of the longest path through the graph: drawn straight (heavy weight)."""
    try:
        path = nx.dag_longest_path(drawn)
    except (nx.NetworkXUnfeasible, nx.NetworkXError):
        return set()
    return set(zip(path, path[1:]))


def _hidden_slice_edges(drawn) -> set:
    """Edges from a leaf into its many indexing ops (``xs[0]``, ``xs[1]``...): not drawn,
    the op says ``xs[3]`` itself, and the slices stay beside their consumers."""
    hidden = set()
    for n, d in drawn.nodes(data=True):
        if d["kind"] in ("op", "module", "elided"):
            continue
        slices = [v for v in drawn.successors(n) if drawn.nodes[v].get("detail")]
        if len(slices) > 3:
            hidden.update((n, v) for v in slices)
    return hidden


def _straighten(dot, drawn, main, names) -> int:
    """Invisible edges that keep the main data path in one straight column.

    A parameter feeding an op of the main path would rank level with the op
    before it (both right above the op); the parameter's module cluster then
    has to sit beside the previous one, and layer after layer the picture
    becomes a diagonal staircase.  Ranking each such input below the previous
    main-path node stacks the clusters instead.  Returns how many were added.
    """
    before = {v: u for u, v in main}
    on_main = set(before) | set(before.values())
    added = 0
    for v, u in before.items():
        for p in drawn.predecessors(v):
            if (p != u and p not in on_main and drawn.in_degree(p) == 0
                    and drawn.nodes[p]["kind"] not in ("op", "module", "elided")):
                dot.edge(names[u], names[p], style="invis")
                added += 1
    return added


def _beside_their_op(tree, drawn, clusters, names) -> int:
    """In the backward view, each parameter's AccumulateGrad on the rank of the one op
    that sends it its gradient (in the same cluster).

    Drawn below that op, it makes its layer's cluster one rank taller than the
    gradient path through it, the next layer's cluster starts level with it and
    has to sit beside it: layer after layer, a staircase as wide as the network
    is deep.  Returns how many were placed."""
    placed = 0
    for n, d in drawn.nodes(data=True):
        if d["kind"] in ("op", "module", "elided") or drawn.out_degree(n) or n not in names:
            continue
        sources = list(drawn.predecessors(n))
        if len(sources) == 1 and clusters.get(sources[0]) == clusters.get(n):
            tree.rank_together(clusters.get(n), (names[sources[0]], names[n]))
            placed += 1
    return placed


def _set_group(tree, name) -> None:
    for members in tree.members.values():
        for member, attrs in members:
            if member == name:
                attrs["group"] = "main"
                return


def _stack_calls(dot, drawn, clusters, names, refs, backward=False) -> None:
    """Invisible edges that put each call of a looped module below the previous one.

    Without them a call's first nodes (its slice ``xs[t]``, the references to
    the parameters) rank level with the previous call's last ones, and Graphviz
    sets the two clusters side by side: a staircase as wide as the loop is long.
    The backward view runs from the last call to the first, so there the call
    drawn after call k is call k - 1.
    """
    after = -1 if backward else 1
    last = {}  # call cluster -> the node that hands the state (or gradient) on
    for u, v in drawn.edges():
        cu, cv = clusters.get(u), clusters.get(v)
        if cu and cv and " #" in cu and " #" in cv and cu != cv:
            looped, _, k = cu.rpartition(" #")
            if cv == f"{looped} #{int(k) + after}":
                last[cu] = u

    def below_previous(cluster, name):
        looped, _, k = cluster.rpartition(" #")
        previous = last.get(f"{looped} #{int(k) - after}")
        if previous is not None:
            dot.edge(names[previous], name, style="invis")

    for (_, cluster), ref in refs.items():
        below_previous(cluster, ref)
    for n in drawn.graph["order"]:
        cluster = clusters.get(n)
        if cluster and " #" in cluster and not any(
                clusters.get(u) == cluster for u in drawn.predecessors(n)):
            below_previous(cluster, names[n])


FINDING_COLORS = {"error": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4"}
FINDING_FILLS = {"error": "#f8c9c9", "warning": "#ffe0b8", "info": "#dde8f5"}


def _mark_findings(attrs, data) -> None:
    """A node named by findings: their titles under its label, bold border and fill in
    the colour of the worst one (a node that is not updated is never drawn 'hottest')."""
    found = data.get("findings") or ()
    if not found:
        return
    worst = min((f["severity"] for f in found), key=SEVERITIES.index)
    attrs["label"] = graphviz.nohtml(f"{attrs.get('label', '')}\\n" + "\\n".join(
        "⚠ " + escape(f["title"]) for f in found))
    attrs.update(color=FINDING_COLORS[worst], penwidth="3")
    if any(f["rule"] == "anomaly" for f in found):  # the NaN keeps its red
        attrs["fillcolor"] = health.BAD
    elif any(f["rule"] == "dead_units" for f in found):  # dead: greyed, nothing passes
        attrs["fillcolor"] = health.ZERO
    else:  # a parameter nobody updates is never drawn as the 'hottest' gradient
        attrs["fillcolor"] = FINDING_FILLS[worst]
    style = attrs.get("style", "filled")
    attrs["style"] = style if "filled" in style else f"{style},filled"


def _color_mode(color, drawn, show_grads) -> str | None:
    if color == "auto":
        has = any(d["grad_norm"] is not None for _, d in drawn.nodes(data=True))
        return "grad" if has and show_grads else None
    if color not in (None, "grad", "update_ratio"):
        raise ValueError(f"to_dot: color must be 'auto', 'grad', 'update_ratio' or None, "
                         f"got {color!r}")
    return color


def _cluster_path(data, group_by_module, loops, looped) -> str | None:
    path = data["module"] if group_by_module else None
    if path is None:
        return None
    if data["kind"] == "module":  # the node stands for the module: draw it in the parent
        return ".".join(path.split(".")[:-1]) or None
    for r in looped:
        if within(path, r):  # one flat cluster per call of a module applied in a loop,
            # its parameters (shared by every call) beside them; nested clusters
            # per call trip Graphviz's ranking ("trouble in init_rank")
            return r if data["call"] is None else f"{r} #{data['call']}"
    return path


def graph_to_dot(graph: nx.DiGraph, *, group_by_module=True, depth=None, show_shapes=True,
                 show_saved=True, show_grads=True, max_nodes=500, color="auto",
                 show_stats=False, loops="auto", fold=True,
                 roll_calls=ROLL_CALLS) -> graphviz.Digraph:
    """Draw a graph from `to_networkx` (forward or backward view); see `to_dot`.
    `roll_calls`: ``loops="auto"`` rolls loops of more calls than this (None: only
    a layer's own time steps; the HTML inspector draws every node it has data for)."""
    if loops not in ("auto", "steps", "roll"):
        raise ValueError(f"to_dot: loops must be 'auto', 'steps' or 'roll', got {loops!r}")
    backward = graph.graph.get("direction") == "backward"
    types = module_types(graph)
    drawn, note = _shrink(graph, group_by_module, depth, max_nodes, loops, fold, roll_calls)
    mode = _color_mode(color, drawn, show_grads)
    values = [magnitude(d, mode) for _, d in drawn.nodes(data=True)] if mode else []
    opts = {"show_shapes": show_shapes, "show_saved": show_saved, "show_grads": show_grads,
            "show_stats": show_stats, "color": mode, "scale": health.scale_of(values)}
    dot = graphviz.Digraph(name="backward" if backward else "graph")
    dot.attr("graph", rankdir="TB", fontname=FONT, fontsize="10", nodesep="0.25",
             ranksep="0.35")
    title = _title(graph, drawn, note)
    if title:
        dot.attr("graph", label=label(title), labelloc="t")
    dot.attr("node", fontname=FONT, fontsize="10", height="0.3")
    dot.attr("edge", fontname=FONT, fontsize="9", color="#555555")
    if mode and any(v is not None for v in values):
        what = "‖Δθ‖/‖θ‖" if mode == "update_ratio" else "‖grad‖"
        dot.node("legend", label=health.legend_label(opts["scale"], what), shape="plain")
    finish = node_finisher()
    names = {n: f"n{i}" for i, n in enumerate(drawn.graph["order"])}
    tree = _ClusterTree(dot, types)
    looped = (looped_modules(drawn, time_steps=None if loops == "steps" else False)
              if loops != "roll" else ())
    home = {n: _cluster_path(d, group_by_module, loops, looped)
            for n, d in drawn.nodes(data=True)}
    for r in looped:  # the rest of each step, outside the module, is drawn in its call
        for n, call in loop_body(drawn, r).items():
            if home[n] is None:
                home[n] = f"{r} #{call}"
    clusters = {}
    for n in drawn.graph["order"]:
        data = drawn.nodes[n]
        attrs = node_attrs(data, opts, backward)
        attrs["tooltip"] = escape(n)
        _mark_findings(attrs, data)
        attrs = finish(data, n, attrs)
        clusters[n] = home[n]
        if looped and clusters[n] is None and data["kind"] not in ("op", "module"):
            # a leaf fed to one call only (its slice xs[t]) is drawn inside that call
            homes = {home[v] for v in drawn.successors(n)}
            if len(homes) == 1 and " #" in (next(iter(homes)) or ""):
                clusters[n] = homes.pop()
        tree.add(clusters[n], names[n], attrs)
    hidden = _hidden_slice_edges(drawn)
    # A parameter shared by every call of a looped module would send one long
    # edge to each call (each a lane of its own: a picture as wide as the loop
    # is long); each call gets a small reference to it instead.
    refs = {}
    for u, v in list(drawn.edges()):
        cu, cv = clusters.get(u), clusters.get(v)
        if (looped and cu in looped and cv and cv.startswith(cu + " #")
                and drawn.nodes[u]["kind"] not in ("op", "module")):
            key = (u, cv)
            if key not in refs:
                refs[key] = f"{names[u]}_{len(refs)}"
                tree.add(cv, refs[key], {"label": label(["↺ " + (drawn.nodes[u]["name"] or u)]),
                                         "shape": "plaintext", "fontsize": "8",
                                         "tooltip": escape(u)})
            hidden.add((u, v))
            dot.edge(refs[key], names[v], style="dotted")
    placed = _beside_their_op(tree, drawn, clusters, names) if backward else 0
    main = _main_path(drawn)
    for u, v in main:  # the main data path in one column
        for n in (u, v):
            if not n.startswith("legend"):
                _set_group(tree, names[n])
    tree.emit()
    # Graphviz's default ranking lays clusters out as blocks and ignores the
    # invisible edges below that keep them from sitting side by side; its newer
    # ranking honours them
    looping = any(" #" in (c or "") for c in clusters.values())
    if looping:  # (both kinds of edges at once send Graphviz into a very long search)
        straightened = 0
        _stack_calls(dot, drawn, clusters, names, refs, backward)
    else:
        straightened = _straighten(dot, drawn, main, names)
    if straightened or looping or placed:
        dot.attr("graph", newrank="true")
    for u, v, data in drawn.edges(data=True):
        if (u, v) in hidden:
            continue
        text = edge_label(data, opts)
        attrs = {"weight": "8"} if (u, v) in main else {}
        if data.get("detached"):
            text = "detached" + (f" {text}" if text else "")
            attrs.update(style="dashed", color=health.BAD_BORDER, fontcolor=health.BAD_BORDER,
                         arrowhead="tee")
        elif backward:
            attrs["style"] = "dashed"
        dot.edge(names[u], names[v], label=text and f" {text}", **attrs)
    return dot


def to_dot(root, group_by_module: bool = True, depth: int | None = None,
           show_shapes: bool = True, show_saved: bool = True, show_grads: bool = True,
           backward: bool = False, max_nodes: int = 500, params=None, color="auto",
           stats: bool = False, before=None, loops: str = "auto",
           fold: bool = True, optimizer=None) -> graphviz.Digraph:
    """The graph that produced `root` (a Tensor, or several) as a ``graphviz.Digraph``.

    - ``group_by_module``: draw each Module as a cluster, nested by dotted path.
    - ``depth``: modules nested deeper than `depth` levels are drawn as one node
      each (``depth=0``: every top-level module is one node; None: expand all);
      such a node keeps the gradient norm at its output, its parameters'
      ‖∇θ‖ = √Σ‖g‖², and the colour.
    - ``show_shapes``: shapes on edges (and on roots and leaves);
      ``show_saved``: bytes each op keeps for backward;
      ``show_grads``: ‖grad‖₂ after a backward (ops need
      ``graphgrad.autograd.record_grads()``; leaves use ``.grad``).
    - ``backward=True``: the gradient flow, from the root to the leaves that
      require grad; each backward op lists the Jacobian it applies per input,
      ∂out/∂in of shape out.shape × in.shape (for ``y = x @ W`` with x (4, 15) and
      W (15, 10): (4, 10) × (4, 15) and (4, 10) × (15, 10)).
    - ``max_nodes``: above it, modules are collapsed level by level, and if that
      is not enough the middle of the graph is replaced by one placeholder
      (both ends stay); the graph's title says what was done.
    - ``params``: ``dict(model.named_parameters())`` or the model: parameters
      get their dotted names (``"fc1.weight"``) and clusters their class names;
      after a backward, its parameters that got no gradient are listed in the
      title and drawn as red dashed ghosts.
    - ``color``: ``"auto"`` (by gradient when there are gradient norms),
      ``"grad"``, ``"update_ratio"`` (needs `before`) or None: fill on a log
      scale with a legend; zero grey and dashed, NaN/inf red (see ``viz.health``).
    - ``stats``: show forward statistics (zeros, NaN/inf, mean, std; recorded by
      ``gg.record_stats()``, else from outputs saved for backward); an output
      that is all zeros (dead units) is grey and dashed.
    - ``before``: ``{name: array}`` of the parameters before an optimizer step;
      each parameter gets ``update_ratio`` = ‖θ − θ_before‖/‖θ_before‖.
    - ``loops``: a module called several times (a loop unrolled in the graph):
      ``"steps"`` draws one cluster per call, ``"roll"`` one node "× N calls"
      with a sparkline of each call's gradient norm; ``"auto"`` (the default)
      rolls the time steps of a layer's own loop (an ``LSTM``'s T steps: one
      node "lstm.l0: LSTM × T steps", ``Module.time_step``) and any loop of
      more than 8 calls, and draws the shorter loops one cluster per call.  A
      rolled loop takes in the ops of each step outside the module (``h =
      tanh(cell(h) + xs[t])``: the ``+`` and the ``tanh``).
    - ``optimizer``: lets the findings rules mark parameters it does not update
      (``NOT IN OPTIMIZER``). Every finding of ``gg.viz.findings`` is drawn by
      default: its title on the node, the node filled and outlined in its
      severity's colour, and one line per finding in the picture's title.
    - ``fold``: runs of ≥ 3 identical consecutive collapsed modules (or groups of
      up to 4) become one node "× N" with a per-layer sparkline of ‖grad‖.

    ``dot.source`` is the DOT text; ``gg.render`` writes it and runs ``dot``.
    A compiled step (``gg.compile``) as `root` gives its plan (docs/compile.md).
    A ``Network`` as `root` gives its layer-level graph instead (one node per
    layer; the options do not apply), see ``graphgrad.viz.network``;
    ``gg.to_dot(net, example_inputs)`` adds the tensor shapes on its edges.  An
    exception raised by a forward inside a Module as `root` draws what ran up to
    the failing module, red, with the error in the title.
    """
    if hasattr(root, "__graphgrad_dot__"):  # a compiled step draws its own plan
        return root.__graphgrad_dot__()
    if hasattr(root, "to_networkx") and hasattr(root, "input_names"):
        from graphgrad.viz.network import network_to_dot

        # for a Network the second argument is an example batch, not a flag
        example = None if isinstance(group_by_module, bool) else group_by_module
        return network_to_dot(root, example)
    if isinstance(root, BaseException):
        graph = failure_graph(root, backward=backward, params=params, stats=stats)
    else:
        # statistics of saved outputs are always read: the findings rules use them
        # (dead units); they are drawn on the nodes only with stats=True
        graph = to_networkx(root, backward=backward, params=params, stats=True,
                            optimizer=optimizer)
    if before is not None:
        if params is None:
            raise ValueError("to_dot: before= needs params= (the model or its named "
                             "parameters) to compare the parameters with")
        add_update_ratios(graph, params, before)
        if color == "auto":
            color = "update_ratio"
    return graph_to_dot(graph, group_by_module=group_by_module, depth=depth,
                        show_shapes=show_shapes, show_saved=show_saved,
                        show_grads=show_grads, max_nodes=max_nodes, color=color,
                        show_stats=stats, loops=loops, fold=fold)
