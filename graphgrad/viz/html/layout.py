"""One layout of the inspector page: an SVG whose node groups carry ``data-gg="<node id>"``.

Up to ``graphviz_max`` nodes the picture is the one ``gg.to_dot`` draws
(Graphviz ``dot -Tsvg`` at export time: clusters per module, the main path
straight, shapes on edges).  Graphviz's ranking grows much faster than the
graph (about 1 s for 500 nodes, a minute for 2000 on a 2-core machine), so a
bigger graph gets `layered_svg`: a simple layered layout computed here
(longest-path layers, one barycentre sweep to order each layer, straight
edges), linear in the size of the graph.
"""

from __future__ import annotations

import html
import re
import shutil

import networkx as nx

from graphgrad.viz.dot import graph_to_dot
from graphgrad.viz.style import STYLES
from graphgrad.viz.text import shape_str

_NODE_G = re.compile(r'<g id="(node\d+)" class="node">(\s*<title>[^<]*</title>\s*<g id="a_\1">'
                     r'<a xlink:title="([^"]*)">)')


_XMLNS = re.compile(r'\s+xmlns(:xlink)?="[^"]*"')


def graphviz_svg(graph: nx.DiGraph, stats: bool) -> str:
    """``dot -Tsvg`` of `graph` (full, or already collapsed) drawn by ``graph_to_dot``,
    each node group tagged with its networkx id."""
    dot = graph_to_dot(graph, depth=None, max_nodes=10**9, fold=False, color=None,
                       show_stats=stats, roll_calls=None)
    svg = dot.pipe(format="svg", encoding="utf-8")
    return _tag_nodes(svg)


def _tag_nodes(svg: str) -> str:
    def tag(m):
        nid = html.unescape(m.group(3)).replace("\\\\", "\\")
        return f'<g id="{m.group(1)}" class="node" data-gg="{html.escape(nid, quote=True)}">' \
               + m.group(2)

    svg = _NODE_G.sub(tag, svg)
    svg = svg[svg.index("<svg"):]  # no XML declaration, doctype or comments before it
    # inlined in HTML, the SVG needs no namespace declarations (and the page names no URL)
    return _XMLNS.sub("", svg, count=2)


def have_graphviz() -> bool:
    """Whether the Graphviz program ``dot`` is on PATH."""
    return shutil.which("dot") is not None


# ------------------------------------------------------------------ layered layout
W, H, GAP_X, GAP_Y = 150, 34, 24, 44
BAND = 2000  # height of one band of the layout (SVG units), see `layered_svg`


def _lines(nid, d) -> list[str]:
    kind = d["kind"]
    if kind == "op":
        first = d.get("forward_op") or d["op"]
        if d["op"] and d["op"] != first:
            first = d["op"]
        second = d["detail"] or d["module"] or ""
    elif kind == "module":
        first = f"{d['name'] or d['module']}" + (f": {d['module_type']}" if d["module_type"]
                                                  else "")
        second = f"{d.get('n_ops', 0)} ops" + (f" × {d['repeats']}" if d.get("repeats") else "")
    elif kind == "elided":
        first, second = f"… {d.get('count', '?')} more nodes", ""
    else:
        first, second = d["name"] or kind, f"{shape_str(d['shape'])} {d['dtype'] or ''}"
    return [first[:26], second[:30]]


def _layers(graph: nx.DiGraph) -> dict:
    """Longest-path layer of every node (sources at 0), in a deterministic order."""
    layer = {}
    order = graph.graph.get("order") or list(graph.nodes)
    position = {n: i for i, n in enumerate(order)}
    for n in nx.lexicographical_topological_sort(graph, key=lambda n: position.get(n, 0)):
        layer[n] = max((layer[p] + 1 for p in graph.predecessors(n)), default=0)
    # a leaf (parameter, input) sits just above its first consumer, not at the top
    for n in graph.nodes:
        if graph.in_degree(n) == 0 and graph.out_degree(n):
            layer[n] = max(0, min(layer[s] for s in graph.successors(n)) - 1)
    return layer


def layered_svg(graph: nx.DiGraph, backward: bool = False) -> str:
    """An SVG of `graph` in layers (top to bottom along the edges), nodes coloured by kind."""
    layer = _layers(graph)
    rows: dict[int, list] = {}
    for n in graph.graph.get("order") or graph.nodes:
        if n in layer:
            rows.setdefault(layer[n], []).append(n)
    x = {}
    for k in sorted(rows):
        row = rows[k]
        def centre(n, x=x):
            xs = [x[p] for p in graph.predecessors(n) if p in x]
            return sum(xs) / len(xs) if xs else float("inf")
        row.sort(key=centre)
        placed = -1e18
        for n in row:  # at the barycentre of its predecessors, at least a slot right of the last
            want = centre(n)
            want = want if want != float("inf") else 0.0
            x[n] = max(want, placed + W + GAP_X)
            placed = x[n]
    lo = min(x.values(), default=0.0)
    xs = {n: v - lo + 10 for n, v in x.items()}
    ys = {n: layer[n] * (H + GAP_Y) + 10 for n in xs}
    width = max(xs.values(), default=0) + W + 20
    height = max(ys.values(), default=0) + H + 20
    parts = [f'<svg viewBox="0 0 {width:.0f} {height:.0f}" '
             f'width="{width:.0f}pt" height="{height:.0f}pt"><g id="graph0" class="graph">']
    dash = ' stroke-dasharray="4 3"' if backward else ""
    # Nodes and edges go in horizontal bands the page hides when they are off screen:
    # a browser redraws every element of an SVG on each pan or zoom frame otherwise.
    bands: dict[int, list[str]] = {}
    spanning = []  # edges over more than one band: always drawn
    for u, v in graph.edges:
        x1, y1 = xs[u] + W / 2, ys[u] + H
        x2, y2 = xs[v] + W / 2, ys[v]
        band = int(min(y1, y2) // BAND)
        edge = (f'<path class="edge" d="M{x1:.0f},{y1:.0f}L{x2:.0f},{y2:.0f}" '
                f'stroke="#777" fill="none"{dash}/>')
        (bands.setdefault(band, []) if int(max(y1, y2) // BAND) == band else spanning).append(edge)
    for n in xs:
        d = graph.nodes[n]
        kind = d["kind"]
        style = STYLES["op_backward" if backward and kind == "op" else
                       ("input_grad" if kind == "input" and d["requires_grad"] else kind)]
        fill = style.get("fillcolor", "#ffffff")
        rx = 6 if "rounded" in style.get("style", "") else 0
        a, b = (html.escape(t) for t in _lines(n, d))
        bands.setdefault(int(ys[n] // BAND), []).append(
            f'<g class="node" data-gg="{html.escape(n, quote=True)}"><title>{html.escape(n)}'
            f'</title><rect x="{xs[n]:.0f}" y="{ys[n]:.0f}" width="{W}" height="{H}" rx="{rx}" '
            f'fill="{fill}" stroke="#333"/><text x="{xs[n] + W / 2:.0f}" y="{ys[n] + 14:.0f}" '
            f'text-anchor="middle" font-size="11">{a}</text><text x="{xs[n] + W / 2:.0f}" '
            f'y="{ys[n] + 27:.0f}" text-anchor="middle" font-size="9" fill="#555">{b}</text></g>')
    parts += spanning
    for k in sorted(bands):
        parts.append(f'<g class="band" data-y0="{k * BAND}" data-y1="{(k + 1) * BAND + H}">'
                     + "".join(bands[k]) + "</g>")
    parts.append("</g></svg>")
    return "".join(parts)
