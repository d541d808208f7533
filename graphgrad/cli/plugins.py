"""``graphgrad plugins``: list the plugins and their components; ``--check`` checks them."""

from __future__ import annotations

import argparse
import json
import textwrap
import warnings
from typing import Any

from graphgrad.cli._common import CLIError

DESCRIPTION = """\
List every graphgrad plugin: the built-in ones (package graphgrad_plugins) and
those installed distributions declare under the entry-point group "graphgrad",
with the distribution, its version and the components registered per kind.
Broken plugins are listed with their error and where it happened (they are
skipped by graphgrad; everything else keeps working). When two plugins use
one name, the first (built-ins load first) keeps it and the other is usable
as distribution:name.

With --check, every component is checked by the checker of its kind
(graphgrad.check.module, loss, optimizer, schedule, initializer, transform,
function, findings_rule; see docs/plugins.md), and one pass/FAIL/SKIPPED table
per kind is printed. A component that lacks what its checker needs (e.g. a
layer without example_input(rng)) is SKIPPED with the reason.

  graphgrad plugins
  graphgrad plugins --check
  graphgrad plugins --check --kind layers,losses --name swish
  GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD=1 graphgrad plugins   # built-ins only

Writing a plugin: docs/plugins.md in the graphgrad repository.

Exits with 1 if a plugin is broken (a misspelled hook name breaks it too),
two components share a name, or a component fails its check (with --strict:
or is SKIPPED); with 0 otherwise. With --check --name, the exit status is
only about what was checked: 1 if a named component fails, a --name matches
nothing, or a plugin of that name is broken."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad plugins``."""
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--check", action="store_true",
                        help="check every component with the checker of its kind")
    parser.add_argument("--kind", default=None, metavar="KINDS",
                        help="with --check: only these kinds, comma-separated "
                             "(layers,losses,optimizers,schedules,initializers,transforms,"
                             "functions,findings_rules)")
    parser.add_argument("--name", action="append", default=None, metavar="NAME",
                        help="with --check: only the component(s) called NAME (repeatable)")
    parser.add_argument("--strict", action="store_true",
                        help="with --check: a SKIPPED component (nothing to check it with) "
                             "fails too")


def _format_plugins(infos: list[Any], conflicts: list[str], autoload: bool) -> str:
    lines = []
    for info in infos:
        status = "" if info.ok else "  BROKEN, skipped"
        lines.append(f"{info.name}  ({info.source}; {info.distribution_label}){status}")
        if not info.ok:  # not wrapped: a path must stay whole to be clicked or copied
            rows = [("error", info.error)] + [("at", frame) for frame in info.where]
            lines.extend(f"    {label:<13} {text}" for label, text in rows)
            continue
        for kind, names in info.components.items() or [("", ["(no components)"])]:
            lines.append(
                textwrap.fill(", ".join(names), 100, initial_indent=f"    {kind:<13} ",
                              subsequent_indent=" " * 18)
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


def format_check(results: list[Any], kinds: list[str]) -> str:
    """One table per kind (name, result, detail), then one line of counts per kind."""
    if not results:
        return "Nothing to check: no component matches."
    blocks, totals = [], []
    for kind in kinds:
        rows = [r for r in results if r.kind == kind]
        if not rows:
            continue
        width = max(len(kind), *(len(r.name) for r in rows))
        lines = [f"{kind:<{width}}  result   detail"]
        lines += [f"{r.name:<{width}}  {r.status:<7}  {r.detail}".rstrip() for r in rows]
        blocks.append("\n".join(lines))
        counts = {s: sum(r.status == s for r in rows) for s in ("pass", "FAIL", "SKIPPED")}
        totals.append(f"{kind}: {len(rows)} checked, {counts['pass']} passed, "
                      f"{counts['FAIL']} failed, {counts['SKIPPED']} skipped")
    return "\n\n".join(blocks) + "\n\n" + "\n".join(totals)


def _kinds(text: str | None) -> list[str]:
    from graphgrad.check.component_checks import CHECK_KINDS

    if text is None:
        return list(CHECK_KINDS)
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in CHECK_KINDS]
    if unknown:
        raise CLIError(f"--kind: unknown kind(s) {', '.join(unknown)}; kinds: "
                       f"{','.join(CHECK_KINDS)}")
    return kinds


def run(args: argparse.Namespace) -> int:
    """List the plugins (and check their components with ``--check``); the exit code."""
    from graphgrad import registry

    if not args.check and (args.kind or args.name or args.strict):
        raise CLIError("--kind, --name and --strict go with --check")
    kinds = _kinds(args.kind)
    with warnings.catch_warnings():  # broken plugins and clashes are listed below
        warnings.simplefilter("ignore", registry.GraphgradPluginWarning)
        infos = registry.plugins()
        conflicts = registry.conflicts()
    results = []
    if args.check:
        from graphgrad.check.component_checks import components

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", registry.GraphgradPluginWarning)
            results = components(kinds, args.name)
    autoload = not registry.autoload_disabled()
    if args.json:
        payload: dict[str, Any] = {
            "plugins": [info.to_dict() for info in infos],
            "conflicts": conflicts,
            "autoload": autoload,
        }
        if args.check:
            payload["check"] = [r.to_dict() for r in results]
        print(json.dumps(payload, indent=2))
    else:
        print(_format_plugins(infos, conflicts, autoload))
        if args.check:
            print()
            print(format_check(results, kinds))
    bad = {"FAIL", "SKIPPED"} if args.strict else {"FAIL"}
    failed_checks = any(r.status in bad for r in results)
    if args.check and args.name:
        # the exit status is about what was checked: someone else's broken plugin or
        # clash does not fail `--check --name mine`, but a broken `mine` or a name
        # that matched nothing does
        found = {r.name for r in results}
        missing = [n for n in args.name if n not in found]
        broken = [i for i in infos if not i.ok and i.name in args.name]
        for name in missing:
            print(f"--name {name}: no component of the checked kinds is called {name!r}"
                  + ("" if not broken else "; see the BROKEN plugin above"))
        return 1 if failed_checks or missing or broken else 0
    failed = any(not i.ok for i in infos) or conflicts or failed_checks
    return 1 if failed else 0
