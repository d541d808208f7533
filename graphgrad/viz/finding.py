"""Findings: what a recorded graph says is wrong, as data before it is a picture.

A finding rule is a function ``rule(ctx) -> list[Finding]`` reading a
`FindingContext` (the graph from ``to_networkx`` and, where given, the model
and the optimizer).  `findings` runs every rule (the built-ins in
``viz.rules`` and the ones plugins return from the hook
``graphgrad_register_findings_rules``) and returns their findings, worst
first.  ``to_dot`` draws them (node colour, a tag on the node, a block in the
title); ``to_networkx`` puts them in node attribute ``findings`` and
``G.graph["findings"]`` (DESIGN.md rule 14).  Healthy networks produce none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning", "info")  # worst first

_RULES: list[Callable] = []


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a `severity` ("error", "warning", "info"), a short `title`
    (drawn on the node, e.g. ``"NOT IN OPTIMIZER"``), the graph `nodes` and the
    parameter names `params` it concerns, the `evidence` (numbers), the `advice`
    (what to do) and the `rule` that made it.  ``to_dict()`` is its stable JSON
    form (keys: rule, severity, title, nodes, params, evidence, advice)."""

    rule: str
    severity: str
    title: str
    nodes: tuple = ()
    params: tuple = ()
    evidence: dict = field(default_factory=dict)
    advice: str = ""

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding {self.rule!r}: severity must be one of {SEVERITIES}, "
                             f"got {self.severity!r}")
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "params", tuple(self.params))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (non-finite numbers as strings "nan"/"inf")."""
        return {"rule": self.rule, "severity": self.severity, "title": self.title,
                "nodes": list(self.nodes), "params": list(self.params),
                "evidence": {k: _plain(v) for k, v in self.evidence.items()},
                "advice": self.advice}

    def line(self) -> str:
        """The one-line text of the title block: ``"WARNING title: advice"``."""
        return f"{self.severity.upper()} {self.title}" + (f": {self.advice}" if self.advice
                                                          else "")


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


@dataclass
class FindingContext:
    """What a rule may read: `graph` (``to_networkx``, forward view), `model` (a
    Module or None) and `optimizer` (with ``param_groups``, or None)."""

    graph: Any
    model: Any = None
    optimizer: Any = None

    def param_nodes(self) -> dict[str, str]:
        """Parameter name -> graph node id."""
        return {d["name"]: n for n, d in self.graph.nodes(data=True)
                if d["kind"] == "parameter" and d["name"]}


def register_rule(rule: Callable) -> Callable:
    """Add a findings rule ``rule(ctx) -> list[Finding]`` (usable as a decorator)."""
    if not callable(rule):
        raise TypeError(f"register_rule: a findings rule must be callable, got {rule!r}")
    if rule not in _RULES:
        _RULES.append(rule)
    return rule


def rules() -> list[Callable]:
    """Every findings rule: the built-ins, then those of plugins
    (``graphgrad_register_findings_rules``)."""
    from graphgrad import registry
    from graphgrad.viz import rules as _builtin  # noqa: F401  (registers the built-ins)

    extra = []
    for returned in registry.plugin_manager().hook.graphgrad_register_findings_rules():
        if not isinstance(returned, (list, tuple)) or not all(callable(r) for r in returned):
            raise TypeError("graphgrad_register_findings_rules() must return a list of "
                            f"callables rule(ctx) -> list[Finding], got {returned!r}")
        extra += [r for r in returned if r not in _RULES and r not in extra]
    return _RULES + extra


def run_rules(graph, model=None, optimizer=None) -> list[Finding]:
    """Run every rule on `graph`; findings sorted worst first (stable)."""
    ctx = FindingContext(graph, model, optimizer)
    out: list[Finding] = []
    for rule in rules():
        found = rule(ctx) or []
        for f in found:
            if not isinstance(f, Finding):
                raise TypeError(f"findings rule {getattr(rule, '__name__', rule)!r} returned "
                                f"{f!r}; it must return a list of graphgrad.viz.Finding")
        out += found
    return sorted(out, key=lambda f: SEVERITIES.index(f.severity))


def attach(graph, found: list[Finding]) -> None:
    """Store `found` on `graph`: ``G.graph["findings"]`` (dicts) and each node's
    ``findings`` attribute: ``{"rule", "severity", "title"}`` of each finding naming it."""
    graph.graph["findings"] = [f.to_dict() for f in found]
    for f in found:
        brief = {"rule": f.rule, "severity": f.severity, "title": f.title}
        for n in f.nodes:
            if n in graph:
                graph.nodes[n]["findings"] = (*graph.nodes[n]["findings"], brief)


def findings(root, model=None, optimizer=None, *, stats: bool = True) -> list[Finding]:
    """The findings of the graph that produced `root` (a Tensor, or several).

    `model` names the parameters and lets the rules check modes, frozen and
    shared parameters; `optimizer` lets them find parameters it does not update.
    ``stats`` reads the forward statistics (dead units) from outputs saved for
    backward when ``gg.record_stats()`` did not record them.
    """
    from graphgrad.viz.graph import to_networkx

    graph = to_networkx(root, params=model, stats=stats)
    return run_rules(graph, model, optimizer)


def percent(frac: float) -> str:
    """`frac` as a percentage that never rounds up to 100 % (nor down to 0 %) unless
    it is exactly 1 (or 0): 0.9996 -> "99.96%", 0.97 -> "97%"."""
    p = 100.0 * frac
    for digits in range(0, 4):
        text = f"{p:.{digits}f}"
        if (float(text) < 100 or frac >= 1) and (float(text) > 0 or frac <= 0):
            return text + "%"
    return f"{p:.4g}%"
