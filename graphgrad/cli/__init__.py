"""The ``graphgrad`` command (also ``python -m graphgrad``).

Every sub-command is one ``Subcommand`` row of ``SUBCOMMANDS``: a name, a one-line
help, a function that adds its arguments to an ``argparse.ArgumentParser`` and a
function that runs it and returns the exit code. To add a sub-command, write
those two functions (here or in the module that owns the feature, imported
lazily inside them) and append a row.

Exit codes: 0 success, 1 the command ran and found problems, 2 usage or error
(a one-line message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from graphgrad.cli import render as cli_render
from graphgrad.cli import train as cli_train


class CLIError(Exception):
    """A failure reported to the user as one line on stderr (exit code 2)."""


@dataclass(frozen=True)
class Subcommand:
    """One sub-command: ``run(args)`` returns the exit code."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# -- graphgrad plugins ----------------------------------------------------------

_PLUGINS_DESCRIPTION = """\
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


def _add_plugins_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run graphgrad.check.module on every layer that declares example_input(rng)",
    )


def _conflicts() -> list[str]:
    from graphgrad import registry

    found = []
    for kind in registry.KINDS:
        try:
            registry.Registry(kind).names()
        except registry.DuplicateComponentError as exc:
            found.append(str(exc))
    return found


def _passed(result: Any) -> bool | None:
    """True/False for a bool or an object with a bool ``ok``/``passed``; else None."""
    if isinstance(result, bool):
        return result
    for attribute in ("ok", "passed"):
        value = getattr(result, attribute, None)
        if isinstance(value, bool):
            return value
    return None


def _verdict(report: Any) -> tuple[bool, str]:
    """Read a check report: a bool, an object with ``ok``/``passed``, or a mapping of
    check name -> such results. Returns (passed, one-line detail if it failed)."""
    passed = _passed(report)
    if passed is None and isinstance(report, Mapping):
        failed = [str(name) for name, result in report.items() if _passed(result) is False]
        return not failed, f"failed: {', '.join(failed)}" if failed else ""
    if passed is False:
        lines = str(report).strip().splitlines()
        return False, _one_line(lines[0]) if lines and report is not False else "check failed"
    return True, ""


def check_layers() -> list[CheckResult]:
    """Run ``graphgrad.check.module`` on every layer declaring ``example_input(rng)``."""
    try:
        from graphgrad.check import module as check_module
    except ImportError as exc:
        raise CLIError(
            f"--check needs graphgrad.check.module, which this installation lacks ({exc}); "
            "run `graphgrad plugins` without --check"
        ) from exc
    import numpy as np

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
            passed, detail = _verdict(check_module(layer, layer.example_input(rng)))
        except Exception as exc:
            passed, detail = False, _one_line(f"{type(exc).__name__}: {exc}")
        results.append(CheckResult(name, passed, detail))
    return results


def _format_plugins(infos: list[Any], conflicts: list[str], autoload: bool) -> str:
    lines = []
    for info in infos:
        dist = " ".join(filter(None, [info.distribution, info.version])) or "unknown distribution"
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


def _run_plugins(args: argparse.Namespace) -> int:
    from graphgrad import registry

    with warnings.catch_warnings():  # broken plugins are listed below, no need to warn too
        warnings.simplefilter("ignore", registry.GraphgradPluginWarning)
        infos = registry.plugins()
    conflicts = _conflicts()
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


# -- the command ------------------------------------------------------------------

SUBCOMMANDS: list[Subcommand] = [
    Subcommand(
        "plugins",
        "list plugins, their distributions and components; --check tests every layer",
        _add_plugins_arguments,
        _run_plugins,
        _PLUGINS_DESCRIPTION,
    ),
    Subcommand(
        "render",
        "draw the graph of the tensor SCRIPT.py:FUNCTION returns (svg/png/pdf, via Graphviz)",
        cli_render.add_arguments,
        cli_render.run,
        cli_render.DESCRIPTION,
    ),
    Subcommand(
        "train",
        "train the model a TOML config describes; writes a run folder (history, curves, graph)",
        cli_train.add_train_arguments,
        cli_train.run_train,
        cli_train.TRAIN_DESCRIPTION,
    ),
    Subcommand(
        "babysit",
        "sanity-check the model a TOML config describes before training (--lr-find: sweep)",
        cli_train.add_babysit_arguments,
        cli_train.run_babysit,
        cli_train.BABYSIT_DESCRIPTION,
    ),
    Subcommand(
        "demo",
        "train an MLP (or --model cnn) on scikit-learn's 8x8 digits (--quick: smoke)",
        cli_train.add_demo_arguments,
        cli_train.run_demo_command,
        cli_train.DEMO_DESCRIPTION,
    ),
]


_EPILOG = """\
examples:
  graphgrad demo                                  # digits MLP (examples extra)
  graphgrad demo --model cnn                      # digits CNN
  graphgrad babysit examples/configs/digits.toml  # sanity checks first
  graphgrad train examples/configs/digits.toml    # train, write runs/digits/
  graphgrad render model.py:loss -o loss.svg      # draw a graph (Graphviz)
  graphgrad plugins --check                       # list plugins, check layers

Exit codes: 0 success, 1 the command ran and found problems, 2 usage or
error. `python -m graphgrad` is the same command. Documentation: docs/index.md
in the graphgrad repository."""


def _version() -> str:
    try:
        return importlib.metadata.version("graphgrad")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``graphgrad``, one sub-parser per ``SUBCOMMANDS`` row."""
    parser = argparse.ArgumentParser(
        prog="graphgrad",
        description="graphgrad: reverse-mode autodiff with plugins.\n"
        "Run `graphgrad COMMAND --help` for the options and an example of a command.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"graphgrad {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in SUBCOMMANDS:
        sub = commands.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``graphgrad`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except CLIError as exc:
        message = str(exc)
    except Exception as exc:  # anything else: one line, no traceback
        message = f"{type(exc).__name__}: {exc}"
    print(f"graphgrad {args.command}: error: {_one_line(message)}", file=sys.stderr)
    return 2
