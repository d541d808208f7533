"""A model's layers as a picture, without running it: `model_to_dot(model)`.

One node per top-level layer (``"2: Linear"`` with its parameter count), in
order; a parameter held by several layers is counted once (by the first) and
labelled ``shared: layers 2, 4`` on every layer holding it.
"""

from __future__ import annotations

import graphviz

from graphgrad.viz.style import FONT, STYLES, escape, label


def _layers(model) -> list[tuple[str, object]]:
    return [(p, m) for p, m in model.named_modules() if p and "." not in p]


def shared_parameters(model) -> dict[int, list[str]]:
    """``id(parameter) -> [layer paths holding it]`` for parameters held by ≥ 2 layers."""
    holders: dict[int, list[str]] = {}
    for path, layer in _layers(model):
        for _, p in layer.named_parameters():
            if path not in holders.setdefault(id(p), []):
                holders[id(p)].append(path)
    return {k: v for k, v in holders.items() if len(v) > 1}


def model_to_dot(model) -> graphviz.Digraph:
    """The top-level layers of `model` (a Module) as a chain of boxes, parameters
    counted once; a model without sub-modules is one box."""
    layers = _layers(model) or [(type(model).__name__, model)]
    shared = shared_parameters(model)
    seen: set[int] = set()
    dot = graphviz.Digraph(name="model")
    dot.attr("graph", rankdir="TB", fontname=FONT, fontsize="10", labelloc="t")
    dot.attr("node", fontname=FONT, fontsize="10")
    total = 0
    for i, (path, layer) in enumerate(layers):
        count, notes = 0, []
        for _, p in layer.named_parameters():
            if id(p) not in seen:
                seen.add(id(p))
                count += int(p.data.size)
            if id(p) in shared:
                note = "shared: layers " + ", ".join(shared[id(p)])
                if note not in notes:
                    notes.append(note)
        total += count
        lines = [f"{path}: {type(layer).__name__}", f"{count:,} params" if count else "",
                 *notes]
        style = dict(STYLES["module"], **({"color": "#ff7f0e", "penwidth": "3"} if notes else {}))
        dot.node(f"m{i}", label=label(lines), tooltip=escape(path), **style)
        if i:
            dot.edge(f"m{i - 1}", f"m{i}")
    dot.attr("graph", label=label([f"{type(model).__name__}: {len(layers)} layers, "
                                   f"{total:,} parameters (shared ones counted once)",
                                   "(not run: return (model, example_input) to draw its "
                                   "graph)"]))
    return dot
