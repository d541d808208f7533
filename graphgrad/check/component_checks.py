"""``gg.check.components()``: check every registered component, kind by kind.

This is what ``graphgrad plugins --check`` runs.  Each component is checked by
the checker of its kind, driven by what the component itself declares:

=============  =====================================================================
kind           checked with / needs
=============  =====================================================================
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
=============  =====================================================================

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
from graphgrad.check.transform_checks import transform

#: The kinds ``components`` checks, in display order (the registry kinds, then ops).
CHECK_KINDS = ("layers", "losses", "optimizers", "schedules", "initializers", "transforms",
               "functions")

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
        rows = _plugin_functions() if kind == "functions" else _registered(kind)
        for name, component, plugin in rows:
            if wanted is None or name in wanted:
                results.append(_check_one(kind, name, component, plugin))
    return results
