"""``graphgrad plugins``: list the plugins and their components; ``--check`` checks them."""

from __future__ import annotations

import argparse
import json
import textwrap
import warnings
from dataclasses import asdict, dataclass
from typing import Any

from graphgrad.cli._common import one_line

DESCRIPTION = """\
List every graphgrad plugin: the built-in ones (package graphgrad_plugins) and
those installed distributions declare under the entry-point group "graphgrad",
with the distribution, its version and the components registered per kind.
Broken plugins are listed with their error (they are skipped by graphgrad).

With --check, every registered layer that has an `example_input(rng)` method
is built (with `cls.example(rng)` if it defines that classmethod, else
`cls()`) and checked by graphgrad.check.module (gradients, double backward,
float32 vs float64, train/eval), and a pass/fail table is printed.

  graphgrad plugins
  graphgrad plugins --check
  GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD=1 graphgrad plugins   # built-ins only

Writing a plugin: docs/plugins.md in the graphgrad repository.

Exits with 1 if a plugin is broken, two components share a name, or a layer
fails its check; with 0 otherwise."""


@dataclass
class CheckResult:
    """The outcome of ``graphgrad.check.module`` on one layer."""

    layer: str
    passed: bool
    detail: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run graphgrad.check.module on every layer that declares example_input(rng)",
    )


def check_layers() -> list[CheckResult]:
    """Run ``graphgrad.check.module`` on every layer declaring ``example_input(rng)``."""
    import numpy as np

    from graphgrad.check import module as check_module
    from graphgrad.registry import Registry

    results = []
    for name, cls in Registry("layers").items():
        if not hasattr(cls, "example_input"):
            continue
        rng = np.random.default_rng(0)
        try:
            layer = cls.example(rng) if hasattr(cls, "example") else cls()
        except TypeError as exc:
            hint = "give it a classmethod `example(rng)` returning a small instance"
            results.append(CheckResult(name, False, f"cannot build {name}() ({exc}); {hint}"))
            continue
        try:
            report = check_module(layer, layer.example_input(rng))
            passed = report.ok
            detail = "" if passed else one_line(str(report).splitlines()[0])
        except Exception as exc:
            passed, detail = False, one_line(f"{type(exc).__name__}: {exc}")
        results.append(CheckResult(name, passed, detail))
    return results


def _format_plugins(infos: list[Any], conflicts: list[str], autoload: bool) -> str:
    lines = []
    for info in infos:
        dist = info.distribution_label
        status = "" if info.ok else "  BROKEN, skipped"
        lines.append(f"{info.name}  ({info.source}; {dist}){status}")
        rows = [("error", info.error)] if not info.ok else list(info.components.items())
        for kind, value in rows or [("", "(no components)")]:
            text = value if isinstance(value, str) else ", ".join(value)
            lines.append(
                textwrap.fill(
                    text, 100, initial_indent=f"    {kind:<13} ", subsequent_indent=" " * 18
                )
            )
    broken = sum(not info.ok for info in infos)
    lines.append("")
    count = f"{len(infos)} plugin{'' if len(infos) == 1 else 's'}"
    lines.append(f"{count}: {len(infos) - broken} loaded, {broken} broken.")
    lines.append(
        "Outside plugins: loaded from entry points of group 'graphgrad'."
        if autoload
        else "Outside plugins: not loaded (GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD is set)."
    )
    lines.extend(f"Name conflict: {conflict}" for conflict in conflicts)
    return "\n".join(lines)


def _format_check(results: list[CheckResult]) -> str:
    if not results:
        return "No registered layer declares example_input(rng); nothing to check."
    width = max(len("layer"), *(len(r.layer) for r in results))
    lines = [f"{'layer':<{width}}  result  detail"]
    for r in results:
        lines.append(
            f"{r.layer:<{width}}  {'pass' if r.passed else 'FAIL':<6}  {r.detail}".rstrip()
        )
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results)} layers checked: {len(results) - failed} passed, {failed} failed.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from graphgrad import registry

    with warnings.catch_warnings():  # broken plugins are listed below, no need to warn too
        warnings.simplefilter("ignore", registry.GraphgradPluginWarning)
        infos = registry.plugins()
        conflicts = registry.conflicts()
    results = check_layers() if args.check else []
    autoload = not registry.autoload_disabled()
    if args.json:
        payload: dict[str, Any] = {
            "plugins": [info.to_dict() for info in infos],
            "conflicts": conflicts,
            "autoload": autoload,
        }
        if args.check:
            payload["check"] = [asdict(r) for r in results]
        print(json.dumps(payload, indent=2))
    else:
        print(_format_plugins(infos, conflicts, autoload))
        if args.check:
            print()
            print(_format_check(results))
    failed = any(not i.ok for i in infos) or conflicts or any(not r.passed for r in results)
    return 1 if failed else 0
