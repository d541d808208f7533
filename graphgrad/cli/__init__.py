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
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphgrad.cli import inspect as cli_inspect
from graphgrad.cli import plugins as cli_plugins
from graphgrad.cli import render as cli_render
from graphgrad.cli import sweep as cli_sweep
from graphgrad.cli import train as cli_train
from graphgrad.cli._common import CLIError, one_line

__all__ = ["CLIError", "SUBCOMMANDS", "Subcommand", "build_parser", "main"]


@dataclass(frozen=True)
class Subcommand:
    """One sub-command: ``run(args)`` returns the exit code."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


# -- the command ------------------------------------------------------------------

SUBCOMMANDS: list[Subcommand] = [
    Subcommand(
        "plugins",
        "list plugins, their distributions and components; --check tests every layer",
        cli_plugins.add_arguments,
        cli_plugins.run,
        cli_plugins.DESCRIPTION,
    ),
    Subcommand(
        "render",
        "draw the graph of the tensor SCRIPT.py:FUNCTION returns (svg/png/pdf, via Graphviz)",
        cli_render.add_arguments,
        cli_render.run,
        cli_render.DESCRIPTION,
    ),
    Subcommand(
        "inspect",
        "write the interactive inspector page (one HTML file) of SCRIPT.py:FUNCTION's graph",
        cli_inspect.add_arguments,
        cli_inspect.run,
        cli_inspect.DESCRIPTION,
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
    Subcommand(
        "sweep",
        "a hyperparameter sweep of a TOML config on Ray Tune (local, or --address a cluster)",
        cli_sweep.add_arguments,
        cli_sweep.run,
        cli_sweep.DESCRIPTION,
    ),
]


_EPILOG = """\
examples:
  graphgrad demo                                  # digits MLP (examples extra)
  graphgrad demo --model cnn                      # digits CNN
  graphgrad demo --model transformer              # a causal transformer sorts digits
  graphgrad babysit examples/configs/digits.toml  # sanity checks first
  graphgrad train examples/configs/digits.toml    # train, write runs/digits/
  graphgrad render model.py:loss -o loss.svg      # draw a graph (Graphviz)
  graphgrad inspect model.py:loss -o loss.html    # interactive inspector page
  graphgrad sweep examples/configs/digits_sweep.toml  # Ray Tune (sweep extra)
  graphgrad plugins --check                       # list plugins, check components

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
    print(f"graphgrad {args.command}: error: {one_line(message)}", file=sys.stderr)
    return 2
