"""The inspector page's data: one JSON record per node, and per recorded step its metrics.

A page shows one graph (the last recorded step) in several layouts: the full
forward graph, the full backward graph, and — for graphs above the collapse
threshold — both with the modules collapsed (``viz.collapse``).  Every node
of any layout has one record here, keyed by its networkx id, so selecting a
node, searching and the findings list work in every layout.  The metrics a
view colours by (‖grad‖, ‖Δθ‖/‖θ‖, forward statistics) are kept per recorded
step, so the page's step slider and the sparkline in the details panel read
them without a new layout.
"""

from __future__ import annotations

import math

import networkx as nx

METRICS = ("grad_norm", "update_ratio", "zero_frac", "nonfinite_frac", "mean", "std",
           "param_grad_norm")


def _finite(v):
    """JSON has no NaN/inf: they travel as the strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    if v is None:
        return None
    v = float(v)
    if math.isfinite(v):
        return float(f"{v:.4g}")
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def _shape(s):
    return None if s is None else list(s)


def node_record(nid: str, d: dict) -> dict:
    """What the page knows of one node (its details panel, search and legend)."""
    kind = d["kind"]
    if kind == "op":
        label = d.get("forward_op") or d["op"]
    elif kind in ("module", "elided"):
        label = d["name"] or d["module"] or nid
    else:
        label = d["name"] or kind
    rec = {"id": nid, "label": label, "kind": kind, "module": d["module"],
           "shape": _shape(d["shape"])}
    optional = {
        "module_type": d["module_type"], "dtype": d["dtype"],
        "shapes": [list(s) for s in d["shapes"]] if len(d["shapes"]) > 1 else None,
        "in_shapes": [list(s) for s in d["in_shapes"]] or None,
        "in_dtypes": d.get("in_dtypes"),
        "jacobians": [[o, i, list(a), list(b)] for o, i, a, b in d["jacobians"]] or None,
        "saved_bytes": d["saved_bytes"] or None, "source": d.get("source"),
        "detail": d["detail"], "settings": d["label"] if kind == "op" else None,
        "is_root": d["is_root"] or None, "missing_grad": d["missing_grad"] or None,
        "anomaly": d["anomaly"], "failed": d["failed"] and str(d["failed"]),
        "call": d["call"], "requires_grad": d["requires_grad"] or None,
        "members": list(d["members"]) if d.get("members") else None,
        "n_ops": d.get("n_ops"), "params": d.get("params"),
        "repeats": d.get("repeats"), "calls": d.get("calls"),
    }
    rec.update({k: v for k, v in optional.items() if v is not None})
    return rec


def add_input_dtypes(graph: nx.DiGraph) -> None:
    """``in_dtypes`` of every op, in argument order, from its incoming edges."""
    for v in graph.nodes:
        if graph.nodes[v]["kind"] != "op":
            continue
        by_position = {}
        for _, _, e in graph.in_edges(v, data=True):
            for i in e.get("input_nrs", ()):
                by_position[i] = e.get("dtype")
        if by_position:
            graph.nodes[v]["in_dtypes"] = [by_position[i] for i in sorted(by_position)]


def metrics_of(graphs) -> dict[str, list]:
    """``{node id: [[metric values of METRICS] or None per step]}`` over the `graphs` of
    one recorded step each (the same nodes, in every layout of that step)."""
    out: dict[str, list] = {}
    n_steps = len(graphs)
    for step, layouts in enumerate(graphs):
        for graph in layouts:
            for nid, d in graph.nodes(data=True):
                row = [_finite(d.get(k)) for k in METRICS]
                if all(v is None for v in row):
                    continue
                series = out.setdefault(nid, [None] * n_steps)
                if series[step] is None:
                    series[step] = row
    return out


def records(layouts) -> list[dict]:
    """One record per distinct node id over the `layouts` (first occurrence wins: the
    forward graph comes first, so an op keeps its forward name)."""
    seen: dict[str, dict] = {}
    for graph in layouts:
        for nid, d in graph.nodes(data=True):
            if nid not in seen:
                seen[nid] = node_record(nid, d)
    return list(seen.values())
