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
import warnings
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


def plugin_rules() -> list[tuple[str, Any]]:
    """``(plugin name, returned)`` for each plugin implementing the hook
    ``graphgrad_register_findings_rules``: what its hook returned, or the
    exception it raised (``graphgrad plugins --check`` reports both)."""
    from graphgrad import registry

    hook = registry.plugin_manager().hook.graphgrad_register_findings_rules
    out = []
    for impl in reversed(hook.get_hookimpls()):  # the order in which pluggy calls them
        try:
            out.append((impl.plugin_name, impl.function()))
        except Exception as exc:  # noqa: BLE001 (reported, never fatal to the picture)
            out.append((impl.plugin_name, exc))
    return out


def malformed_hook_return(returned) -> str | None:
    """Why `returned` is not a valid return of ``graphgrad_register_findings_rules``
    (a list of callables), or None."""
    if isinstance(returned, BaseException):
        return f"the hook raised {type(returned).__name__}: {returned}"
    if not isinstance(returned, (list, tuple)) or not all(callable(r) for r in returned):
        return ("graphgrad_register_findings_rules() must return a list of callables "
                f"rule(ctx) -> list[Finding], got {returned!r}")
    return None


def rules() -> list[Callable]:
    """Every findings rule: the built-ins, then those of plugins
    (``graphgrad_register_findings_rules``).  A plugin whose hook raises or
    returns something else than a list of callables is skipped with a
    ``GraphgradPluginWarning`` naming it."""
    return builtin_rules() + [rule for _, rule in _plugin_rule_list()]


def builtin_rules() -> list[Callable]:
    """The built-in findings rules (``viz.rules``), in order."""
    from graphgrad.viz import rules as _builtin  # noqa: F401  (registers the built-ins)

    return list(_RULES)


def _plugin_rule_list() -> list[tuple[str, Callable]]:
    from graphgrad.registry import GraphgradPluginWarning

    found: list[tuple[str, Callable]] = []
    for plugin, returned in plugin_rules():
        why = malformed_hook_return(returned)
        if why:
            warnings.warn(f"plugin {plugin!r}: {why}; its findings rules are skipped",
                          GraphgradPluginWarning, stacklevel=3)
            continue
        found += [(plugin, r) for r in returned
                  if r not in _RULES and r not in [f for _, f in found]]
    return found


def malformed_result(found) -> str | None:
    """Why `found` (what a rule returned) is not a list of `Finding`, or None."""
    if found is None:
        return None
    if not isinstance(found, (list, tuple)):
        return f"it must return a list of graphgrad.viz.Finding, got {found!r}"
    bad = [f for f in found if not isinstance(f, Finding)]
    if bad:
        return f"it returned {bad[0]!r}; it must return a list of graphgrad.viz.Finding"
    return None


def run_rules(graph, model=None, optimizer=None) -> list[Finding]:
    """Run every rule on `graph`; findings sorted worst first (stable).

    A built-in rule that fails raises; a plugin's rule that raises or returns
    something else than a list of `Finding` is left out with a
    ``GraphgradPluginWarning`` naming the rule and its plugin, so that one
    broken plugin never takes the picture away (``graphgrad plugins --check``
    reports it)."""
    from graphgrad.registry import GraphgradPluginWarning

    ctx = FindingContext(graph, model, optimizer)
    out: list[Finding] = []
    for rule in builtin_rules():
        found = rule(ctx) or []
        why = malformed_result(found)
        if why:
            raise TypeError(f"findings rule {_name(rule)!r}: {why}")
        out += found
    for plugin, rule in _plugin_rule_list():
        try:
            found = rule(ctx)
            why = malformed_result(found)
        except Exception as exc:  # noqa: BLE001
            why = f"it raised {type(exc).__name__}: {exc}"
        if why:
            warnings.warn(f"findings rule {_name(rule)!r} of plugin {plugin!r} skipped: {why}",
                          GraphgradPluginWarning, stacklevel=3)
            continue
        out += found or []
    return sorted(out, key=lambda f: SEVERITIES.index(f.severity))


def _name(rule) -> str:
    return getattr(rule, "__qualname__", None) or getattr(rule, "__name__", None) or repr(rule)


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
    from graphgrad.viz.graph import unmarked_graph

    return run_rules(unmarked_graph(root, model, stats), model, optimizer)


def percent(frac: float) -> str:
    """`frac` as a percentage that never rounds up to 100 % (nor down to 0 %) unless
    it is exactly 1 (or 0): 0.9996 -> "99.96%", 0.97 -> "97%"."""
    p = 100.0 * frac
    for digits in range(0, 4):
        text = f"{p:.{digits}f}"
        if (float(text) < 100 or frac >= 1) and (float(text) > 0 or frac <= 0):
            return text + "%"
    return f"{p:.4g}%"
