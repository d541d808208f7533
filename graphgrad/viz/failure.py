"""Graph data for what went wrong: a forward that failed inside a module, update ratios.

``Module.__call__`` leaves two attributes on an exception raised inside a
module's forward (graphgrad/nn/module.py): ``graphgrad_module`` (path, class)
of the innermost failing module and ``graphgrad_inputs`` (the Tensors it was
called with).  `failure_graph` draws the graph that produced those inputs,
plus one red node for the failing module with the error, so the picture shows
what ran and where it stopped.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.viz.graph import _named_parameters, node_data, to_networkx


def failure_of(exc: BaseException):
    """``(module label, error text, path, class, inputs)`` of a failed forward, else None."""
    where = getattr(exc, "graphgrad_module", None)
    if where is None:
        return None
    path, kind = where
    name = f"model.{path}" if path else "model"
    error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    inputs = tuple(t for t in getattr(exc, "graphgrad_inputs", ()) if isinstance(t, Tensor))
    return f"{name}: {kind}", error, path, kind, inputs


def failure_graph(exc: BaseException, backward=False, params=None, stats=False) -> nx.DiGraph:
    """The graph up to the module a forward failed in, that module as a red node.

    The node has id ``"[path]"``, kind ``"module"`` and ``failed`` (the error
    text); ``G.graph["failure"]`` is ``(module label, error)``.  Raises the
    original exception again (with a note) if it did not come from a module.
    """
    found = failure_of(exc)
    if found is None:
        exc.add_note("graph inspection: this error was not raised inside a Module's forward, "
                     "so there is no partial graph to draw")
        raise exc
    label, error, path, kind, inputs = found
    sources = []
    if inputs:
        graph = to_networkx(inputs, params=params, stats=stats)
        sources = list(graph.graph["roots"])
        for n in sources:
            graph.nodes[n]["is_root"] = False
    else:
        graph = nx.DiGraph(order=[], roots=[], module_types={}, missing_grads=[])
    fid = f"[{path}]"
    graph.add_node(fid, **node_data("module", name=path or "model", module=path or None,
                                    module_type=kind, failed=error, is_root=True),
                   members=[], n_ops=0, params=0)
    graph.graph["order"].append(fid)
    graph.graph["roots"] = [fid]
    graph.graph["failure"] = (label, error)
    for i, src in enumerate(sources):
        shape = graph.nodes[src]["shape"]
        graph.add_edge(src, fid, shape=tuple(shape), dtype=graph.nodes[src]["dtype"],
                       output_nr=0, input_nrs=(i,))
    if backward:
        from graphgrad.viz.graph import backward_view

        graph = backward_view(graph)
    return graph


def add_update_ratios(graph: nx.DiGraph, params, before) -> None:
    """Set ``update_ratio`` = ‖θ − θ_before‖/‖θ_before‖ on every parameter node found in
    `before` (``{name: array}``, taken before an optimizer step)."""
    current = dict(_named_parameters(params)) if params is not None else {}
    for n, d in graph.nodes(data=True):
        name = d.get("name") or n
        if name not in before or d["kind"] != "parameter":
            continue
        now = current[name].data if name in current else None
        if now is None:
            continue
        old = np.asarray(before[name], dtype=np.float64)
        base = float(np.linalg.norm(old))
        delta = float(np.linalg.norm(np.asarray(now, dtype=np.float64) - old))
        d["update_ratio"] = delta / base if base > 0 else (float("inf") if delta else 0.0)
