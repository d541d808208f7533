"""``gg.check.components()``: check every registered component, kind by kind.

This is what ``graphgrad plugins --check`` runs.  Each component is checked by
the checker of its kind, driven by what the component itself declares:

============== =====================================================================
kind           checked with / needs
============== =====================================================================
layers         ``check.module``; needs ``example_input(rng)`` (built by
               ``cls.example(rng)`` if defined, else ``cls()``)
losses         ``check.loss``; needs ``example_input(rng)`` -> (prediction, target)
optimizers     ``check.optimizer``; built by ``cls.example(params)`` or
               ``cls(params, lr=0.01)``
schedules      ``check.schedule``; built by ``cls.example(optimizer)`` or ``cls(optimizer)``
initializers   ``check.initializer``; ``variance(shape)`` adds the fan-rule check
transforms     ``check.transform``; needs ``example_input(rng)`` (a batch)
functions      ``check.function``: the ``Function`` subclasses a plugin module
               defines; needs ``example_input(rng)`` (a tuple of arguments)
findings_rules ``check.findings_rule``: the built-in rules and those a plugin returns
               from ``graphgrad_register_findings_rules``, run on a small healthy
               training step and evaluation graph; a hook that raises or returns
               no list of functions fails as ``graphgrad_register_findings_rules``
============== =====================================================================

A component that lacks what its checker needs is SKIPPED with the reason,
never silently left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphgrad.check.function_checks import find_functions, function
from graphgrad.check.init_checks import initializer
from graphgrad.check.loss_checks import loss
from graphgrad.check.module_checks import module
from graphgrad.check.optim_checks import optimizer, schedule
from graphgrad.check.report import CheckReport, describe_error
from graphgrad.check.rule_checks import findings_rule, healthy_graphs
from graphgrad.check.transform_checks import transform

#: The kinds ``components`` checks, in display order (the registry kinds, then ops).
CHECK_KINDS = ("layers", "losses", "optimizers", "schedules", "initializers", "transforms",
               "functions", "findings_rules")

#: The plugin column of the built-in findings rules (they live in graphgrad.viz.rules).
BUILTIN_RULES = "graphgrad.viz (built-in)"

PASSED, FAILED, SKIPPED = "pass", "FAIL", "SKIPPED"


@dataclass
class ComponentResult:
    """The outcome for one component: ``status`` is "pass", "FAIL" or "SKIPPED"."""

    kind: str
    name: str
    status: str
    detail: str = ""
    plugin: str = ""
    checks: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Checked and nothing failed."""
        return self.status == PASSED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "name": self.name, "status": self.status,
                "detail": self.detail, "plugin": self.plugin, "checks": self.checks}


def _needs_example(one: str, what: str) -> Callable[[Any], str | None]:
    def reason(component) -> str | None:
        if hasattr(component, "example_input"):
            return None
        return (f"declares no example_input(rng); add a classmethod returning {what} to "
                f"have this {one} checked")
    return reason


def _check_layer(cls) -> CheckReport:
    rng = np.random.default_rng(0)
    try:
        layer = cls.example(rng) if hasattr(cls, "example") else cls()
    except TypeError as exc:
        raise TypeError(f"cannot build {cls.__name__}() ({exc}); give it a classmethod "
                        "`example(rng)` returning a small instance") from exc
    return module(layer, layer.example_input(rng))


_CHECKERS: dict[str, tuple[Callable[[Any], CheckReport], Callable[[Any], str | None]]] = {
    "layers": (_check_layer, _needs_example("layer", "a small input")),
    "losses": (loss, _needs_example("loss", "(prediction, target)")),
    "optimizers": (optimizer, lambda c: None),
    "schedules": (schedule, lambda c: None),
    "initializers": (initializer, lambda c: None),
    "transforms": (transform, _needs_example("transform", "a small batch")),
    "functions": (function, _needs_example("op", "a tuple of arguments")),
}


def _registered(kind: str) -> list[tuple[str, Any, str]]:
    from graphgrad.registry import Registry

    reg = Registry(kind)
    return [(name, component, reg.plugin_of(name).name) for name, component in reg.items()]


def _plugin_functions() -> list[tuple[str, Any, str]]:
    from graphgrad.registry import plugin_manager

    manager = plugin_manager()
    found = []
    for plugin in manager.get_plugins():
        for op in find_functions(plugin):
            found.append((op.__qualname__, op, manager.get_name(plugin)))
    return sorted(found, key=lambda row: row[0])


def _findings_rules(wanted) -> list[ComponentResult]:
    """One result per findings rule (built-in, then each plugin's), and one FAIL
    per plugin whose hook raised or returned no list of functions; each names its
    plugin."""
    from graphgrad.viz.finding import builtin_rules, malformed_hook_return, plugin_rules

    rows = [(BUILTIN_RULES, rule) for rule in builtin_rules()]
    results = []
    for plugin, returned in plugin_rules():
        why = malformed_hook_return(returned)
        if why:
            hook = "graphgrad_register_findings_rules"
            if wanted is None or hook in wanted or plugin in wanted:
                results.append(ComponentResult("findings_rules", hook, FAILED,
                                               f"plugin {plugin}: {why}", plugin))
            continue
        rows += [(plugin, rule) for rule in returned]
    rows = [(p, r) for p, r in rows
            if wanted is None or getattr(r, "__name__", repr(r)) in wanted]
    graphs = healthy_graphs() if rows else None
    for plugin, rule in rows:
        name = getattr(rule, "__name__", repr(rule))
        try:
            report = findings_rule(rule, name, graphs)
        except Exception as exc:  # noqa: BLE001 (building the graphs failed)
            results.append(ComponentResult("findings_rules", name, FAILED,
                                           f"plugin {plugin}: {describe_error(exc)}", plugin))
            continue
        checks = [{"name": i.name, "status": i.status, "message": i.message} for i in report]
        detail = report.counts if report.ok else report.summary
        results.append(ComponentResult("findings_rules", name,
                                       PASSED if report.ok else FAILED,
                                       f"plugin {plugin}: {detail}", plugin, checks))
    return results


def _check_one(kind: str, name: str, component: Any, plugin: str) -> ComponentResult:
    run, missing = _CHECKERS[kind]
    reason = missing(component)
    if reason:
        return ComponentResult(kind, name, SKIPPED, reason, plugin)
    try:
        report = run(component)
    except Exception as exc:  # a checker that cannot even start is a failure to report
        return ComponentResult(kind, name, FAILED, describe_error(exc), plugin)
    status = PASSED if report.ok else FAILED
    checks = [{"name": i.name, "status": i.status, "message": i.message} for i in report]
    return ComponentResult(kind, name, status, "" if report.ok else report.summary, plugin,
                           checks)


def components(kinds: Iterable[str] | None = None,
               names: Iterable[str] | None = None) -> list[ComponentResult]:
    """Check the registered components of ``kinds`` (default: all of ``CHECK_KINDS``),
    only those called one of ``names`` if given; one ``ComponentResult`` each."""
    kinds = list(kinds or CHECK_KINDS)
    unknown = [k for k in kinds if k not in CHECK_KINDS]
    if unknown:
        raise ValueError(f"unknown kind(s) {unknown}; kinds: {', '.join(CHECK_KINDS)}")
    wanted = set(names) if names else None
    results = []
    for kind in kinds:
        if kind == "findings_rules":
            results += _findings_rules(wanted)
            continue
        rows = _plugin_functions() if kind == "functions" else _registered(kind)
        for name, component, plugin in rows:
            if wanted is None or name in wanted:
                results.append(_check_one(kind, name, component, plugin))
    return results
