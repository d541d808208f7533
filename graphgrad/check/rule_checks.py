"""``check.findings_rule``: run a findings rule on small healthy graphs.

A findings rule (``rule(ctx) -> list[graphgrad.viz.Finding]``, see
``graphgrad.viz.finding``) runs inside every default picture, so a rule that
raises, returns something else than findings, names nodes the graph does not
have, or marks a healthy network would spoil every picture.  This checker runs
the rule on a training step of a small MLP (an SGD optimizer over all its
parameters) and on its evaluation graph, and checks for each:

- it runs (no exception) and returns a list of ``Finding`` (or None);
- each finding's ``nodes`` are nodes of the graph and its ``params`` parameter
  names of the model; ``to_dict()`` is JSON;
- on these healthy graphs it gives no "warning" or "error" finding
  (DESIGN.md rule 14: healthy networks produce none).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from graphgrad.check.report import FAIL, PASS, CheckReport, run_checks


def healthy_graphs() -> list[tuple[str, object, object, object]]:
    """``(what, graph, model, optimizer)``: a training step (after ``backward``) of a
    Linear(4, 8)–ReLU–Linear(8, 3) MLP under cross-entropy with an SGD optimizer over
    every parameter, and the model's forward-only evaluation graph (``model.eval()``)."""
    from graphgrad.autograd.tensor import Tensor
    from graphgrad.nn import Sequential
    from graphgrad.registry import Registry
    from graphgrad.viz.graph import unmarked_graph

    layers, losses = Registry("layers"), Registry("losses")
    rng = np.random.default_rng(0)
    model = Sequential(layers.get("linear")(4, 8, rng=1), layers.get("relu")(),
                       layers.get("linear")(8, 3, rng=2))
    opt = Registry("optimizers").get("sgd")(list(model.parameters()), lr=0.1)
    x = Tensor(rng.normal(size=(16, 4)).astype(np.float32), name="x")
    y = Tensor(rng.integers(0, 3, size=16))
    opt.zero_grad()
    loss = losses.get("cross_entropy")()(model(x), y)
    loss.backward()
    train = unmarked_graph(loss, model, stats=True)
    model.eval()
    evaluation = unmarked_graph(model(x), model, stats=True)
    return [("training step", train, model, opt), ("evaluation", evaluation, model, None)]


def _check_on(rule: Callable, graph, model, optimizer) -> tuple[str, str]:
    from graphgrad.viz.finding import FindingContext, malformed_result

    try:
        found = rule(FindingContext(graph, model, optimizer))
    except Exception as exc:  # noqa: BLE001 (the point of the check)
        return FAIL, f"raised {type(exc).__name__}: {exc}"
    why = malformed_result(found)
    if why:
        return FAIL, why
    names = {n for n, _ in model.named_parameters()}
    for f in found or ():
        unknown = [n for n in f.nodes if n not in graph]
        if unknown:
            return FAIL, (f"finding {f.title!r} names node(s) {unknown} the graph does not "
                          "have; use the node ids of ctx.graph")
        unknown = [p for p in f.params if p not in names]
        if unknown:
            return FAIL, (f"finding {f.title!r} names parameter(s) {unknown} the model does "
                          "not have; use the names of model.named_parameters()")
        try:
            json.dumps(f.to_dict())
        except (TypeError, ValueError) as exc:
            return FAIL, f"finding {f.title!r}: evidence is not JSON ({exc})"
        if f.severity != "info":
            return FAIL, (f"a {f.severity} {f.title!r} on a healthy network (a rule must "
                          f"mark only what is wrong): {f.evidence}")
    return PASS, f"{len(found or ())} info finding(s)" if found else ""


def findings_rule(rule: Callable, name: str | None = None, graphs=None) -> CheckReport:
    """Check the findings rule `rule` on small healthy graphs (see the module);
    `graphs` (from `healthy_graphs`) saves building them again for each rule."""
    name = name or getattr(rule, "__name__", repr(rule))
    if not callable(rule):
        return CheckReport(name, run_checks([("callable", lambda: (
            FAIL, f"a findings rule must be a function rule(ctx), got {rule!r}"))]),
            checker="findings_rule")
    graphs = graphs or healthy_graphs()
    checks = [(what, lambda g=g, m=m, o=o: _check_on(rule, g, m, o))
              for what, g, m, o in graphs]
    return CheckReport(name, run_checks(checks), checker="findings_rule")
