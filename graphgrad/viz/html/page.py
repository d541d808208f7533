"""``gg.viz.to_html``: the graph as one self-contained, interactive HTML page.

The page is one file: the SVG layouts (`layout`), a JSON blob of node
records and per-step metrics (`data`), and the page's own script and style
(``inspector.js``, ``inspector.css``, shipped beside this module) inlined.
It loads nothing: a Content-Security-Policy ``default-src 'none'`` forbids
every request, so it opens from disk, offline, and inside Jupyter (through
``_repr_html_``, in an iframe).
"""

from __future__ import annotations

import html
import json
import re
import warnings
from importlib import resources
from pathlib import Path

import networkx as nx

from graphgrad.autograd.tensor import Tensor
from graphgrad.serialize import write_text_atomic
from graphgrad.viz import health
from graphgrad.viz.collapse import collapse, fold_repeats, max_level
from graphgrad.viz.failure import add_update_ratios
from graphgrad.viz.graph import backward_view, to_networkx
from graphgrad.viz.html import data as page_data
from graphgrad.viz.html.layout import graphviz_svg, have_graphviz, layered_svg
from graphgrad.viz.style import STYLES

VIEWS = ("forward", "backward", "grad", "update", "stats")
_FINDING_KEYS = ("severity", "title", "nodes", "evidence", "advice")


class InspectorPage:
    """An inspector page: ``.html`` (the text), ``.save(path)``, shown inline in Jupyter.

    ``path`` is where `to_html` wrote it (None if it was not written);
    ``size`` its length in bytes (UTF-8).
    """

    def __init__(self, text: str, path: Path | None = None):
        self.html, self.path = text, path

    @property
    def size(self) -> int:
        """The page's size in bytes (UTF-8)."""
        return len(self.html.encode("utf-8"))

    def save(self, path) -> Path:
        """Write the page to `path` (atomically: a temp file, then a rename); return it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = write_text_atomic(path, self.html)
        return self.path

    def _repr_html_(self) -> str:
        # an iframe keeps the page's ids, style and script apart from the notebook's
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                'style="width:100%;height:640px;border:1px solid #ccc" '
                'sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"<InspectorPage {self.size / 1e6:.2f} MB{where}>"


def _asset(name: str) -> str:
    return resources.files("graphgrad.viz.html").joinpath(name).read_text(encoding="utf-8")


def _is_graph(x) -> bool:
    return isinstance(x, nx.DiGraph)


def _steps_of(target, params, before, stats) -> list[nx.DiGraph]:
    """The forward graph of every recorded step, oldest first."""
    if _is_graph(target):
        graphs = [target]
    elif isinstance(target, (list, tuple)) and target and all(_is_graph(g) for g in target):
        graphs = list(target)
    elif isinstance(target, Tensor) or (isinstance(target, (list, tuple)) and target
                                        and all(isinstance(t, Tensor) for t in target)):
        graphs = [to_networkx(target, params=params, stats=stats)]
        if before is not None:
            if params is None:
                raise ValueError("to_html: before= needs params= (the model or its named "
                                 "parameters) to compare the parameters with")
            add_update_ratios(graphs[0], params, before)
    elif hasattr(target, "__graphgrad_dot__"):  # a gg.compile step: a plan, not a graph
        raise TypeError(
            "to_html: a compiled step replays a plan of kernels and records no graph; pass the "
            "loss of one eager call of its function (to_html(step.fn(x, y)[0]) or whatever it "
            "returns), or draw the plan with gg.to_dot(step)")
    else:
        raise TypeError(
            f"to_html: expected a Tensor (a loss or output), a list of them, a graph from "
            f"gg.to_networkx, or a list of such graphs (one per recorded step), got "
            f"{type(target).__name__}")
    for g in graphs:
        if g.graph.get("direction") == "backward":
            raise ValueError("to_html: pass the forward graph (to_networkx without "
                             "backward=True); the page draws the backward view itself")
    return graphs


def _finding_dict(f) -> dict:
    d = f.to_dict() if hasattr(f, "to_dict") else dict(f)
    missing = [k for k in ("severity", "title") if k not in d]
    if missing:
        raise ValueError(f"to_html: a finding needs {missing} (got keys {sorted(d)}); "
                         "pass Finding objects or dicts with severity, title, nodes, "
                         "evidence and advice")
    out = {k: d.get(k) for k in _FINDING_KEYS}
    out["nodes"] = [str(n) for n in (out["nodes"] or [])]
    return out


def _findings(findings, target, params, optimizer) -> list[dict]:
    if findings is None:
        from graphgrad import viz

        rules = getattr(viz, "findings", None)
        if rules is None or not isinstance(target, Tensor):
            return []
        model = params if hasattr(params, "named_parameters") else None
        try:
            findings = rules(target, model=model, optimizer=optimizer)
        except Exception as exc:  # the page is still worth having without them
            warnings.warn(f"to_html: gg.viz.findings failed ({type(exc).__name__}: {exc}); "
                          "the page lists no findings", RuntimeWarning, stacklevel=3)
            return []
    return [_finding_dict(f) for f in findings]


SPARK_MAX = 48  # characters of a folded module's sparkline drawn in its box


def _collapsed(graph, depth):
    """`graph` with modules below `depth` collapsed and repeats folded; a folded run's
    sparkline (one character per layer) sampled down to `SPARK_MAX` characters."""
    modules = collapse(graph, depth)
    g = fold_repeats(modules)
    for _, d in g.nodes(data=True):
        if d.get("members"):  # a folded run lists its modules: list their nodes instead
            d["members"] = [m for member in d["members"] for m in
                            (modules.nodes[member].get("members") or [member]
                             if member in modules else [member])]
        line = d.get("sparkline")
        if line and len(line) > SPARK_MAX:
            k = -(-len(line) // SPARK_MAX)
            d["sparkline"], d["spark_unit"] = line[::k], f"{k} {d.get('spark_unit', 'layer')}s"
    return g


def _layouts(graph, depth, stats, graphviz_max, backward):
    """``(full graph, svg), (collapsed graph, svg) or None`` of one direction."""

    def draw(g):
        if have_graphviz() and g.number_of_nodes() <= graphviz_max:
            return graphviz_svg(g, stats)
        return layered_svg(g, backward)

    full = (graph, draw(graph))
    if depth is None:
        return full, None
    collapsed = _collapsed(graph, depth)
    return full, (collapsed, draw(collapsed))


def _svg_script(key: str, svg: str) -> str:
    svg = re.sub(r"</(script)", r"&lt;/\1", svg, flags=re.IGNORECASE)
    return f'<script type="text/x-gg-svg" id="gg-svg-{key}">{svg}</script>'


def to_html(target, path=None, *, params=None, optimizer=None, before=None, findings=None,
            title: str | None = None, stats: bool = True, collapse_above: int = 200,
            graphviz_max: int = 600, step_labels=None) -> InspectorPage:
    """The graph of `target` as one self-contained interactive HTML page (the inspector).

    `target` is a Tensor (a loss or model output, after a backward for the
    gradient views), a list of Tensors, a graph from ``gg.to_networkx``, or a
    list of such graphs, one per recorded training step (oldest first; the
    last is drawn, the others feed the step slider and the sparklines).
    Writes the page to `path` when given; returns an `InspectorPage`
    (``.save(path)``, ``.html``, shown inline in Jupyter).

    - ``params``: the model (or ``dict(model.named_parameters())``): dotted
      parameter names, module classes, parameters that got no gradient.
    - ``optimizer``, ``before`` (``{name: array}`` before an update: the update
      ratio ‖Δθ‖/‖θ‖ view) and ``findings`` (``Finding`` objects or dicts with
      severity, title, nodes, evidence, advice; default: ``gg.viz.findings``
      when it exists).
    - ``stats``: forward statistics from outputs saved for backward (see
      ``to_networkx``); ``gg.record_stats()`` records them for every op.
    - ``collapse_above``: graphs with more nodes open with modules collapsed
      (top-level modules as boxes, repeats folded); a click expands.
    - ``graphviz_max``: layouts with more nodes use the built-in layered
      layout instead of Graphviz (whose time grows steeply with size).

    Views: forward, backward (Jacobian shapes), grad (‖grad‖ health colours),
    update (update ratio), stats (zeros / NaN). See docs/visualization.md.
    """
    graphs = _steps_of(target, params, before, stats)
    graph = graphs[-1]
    for g in graphs:
        page_data.add_input_dtypes(g)
    depth = 0 if graph.number_of_nodes() > collapse_above and max_level(graph) > 0 else None
    has_stats = stats and any(d["zero_frac"] is not None for _, d in graph.nodes(data=True))
    svgs, layouts = [], {}
    for direction, g in (("forward", graph), ("backward", backward_view(graph))):
        full, folded = _layouts(g, depth, has_stats, graphviz_max, direction == "backward")
        layouts[direction] = {"full": f"{direction}-full"}
        svgs.append(_svg_script(f"{direction}-full", full[1]))
        drawn = [full[0]]
        if folded is not None:
            layouts[direction]["collapsed"] = f"{direction}-collapsed"
            svgs.append(_svg_script(f"{direction}-collapsed", folded[1]))
            drawn.append(folded[0])
        layouts[direction]["graphs"] = drawn
    per_step = []
    for g in graphs:
        per_step.append([g] + ([_collapsed(g, depth)] if depth is not None else []))
    all_layouts = layouts["forward"]["graphs"] + layouts["backward"]["graphs"]
    labels = list(step_labels) if step_labels is not None else [f"step {i}" for i in
                                                                   range(len(graphs))]
    if len(labels) != len(graphs):
        raise ValueError(f"to_html: {len(labels)} step_labels for {len(graphs)} steps")
    blob = {
        "title": title or "graphgrad inspector",
        "nodes": page_data.records(all_layouts),
        "metricNames": list(page_data.METRICS),
        "metrics": page_data.metrics_of(per_step),
        "steps": labels,
        "layouts": {k: {m: v[m] for m in ("full", "collapsed") if m in v}
                    for k, v in layouts.items()},
        "collapsed": depth is not None,
        "views": list(VIEWS),
        "findings": _findings(findings, target, params, optimizer),
        "colors": {"kinds": {k: STYLES[k]["fillcolor"] for k in
                             ("op", "op_backward", "parameter", "input", "input_grad",
                              "module")},
                   "heat": list(health.HEAT), "zero": health.ZERO, "bad": health.BAD,
                   "badBorder": health.BAD_BORDER},
    }
    parts = {
        "title": html.escape(blob["title"]), "style": _asset("inspector.css"),
        "svgs": "\n".join(svgs), "script": _asset("inspector.js"),
        "data": json.dumps(blob, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c"),
    }
    # one pass: a placeholder-like text inside the data is never substituted again
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], _asset("template.html"))
    page = InspectorPage(text)
    if path is not None:
        page.save(path)
    return page
