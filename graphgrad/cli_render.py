"""``graphgrad render SCRIPT.py:FUNCTION -o graph.svg``: draw the graph a function returns.

The script is run as a module (its ``if __name__ == "__main__":`` block is
skipped), FUNCTION is called with no arguments and must return the Tensor to
draw (or a list/tuple of them); the picture and its .dot source are written by
``graphgrad.render``.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

DESCRIPTION = """\
Run FUNCTION from SCRIPT.py (no arguments; it returns the tensor to draw, e.g. a
model's output or loss) and render the graph that produced it with Graphviz.
The .dot source is written next to the picture (graph.svg -> graph.dot), even
when the `dot` program is missing.

  graphgrad render model.py:loss -o loss.svg --backward --depth 1"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad render``."""
    parser.add_argument("target", metavar="SCRIPT.py:FUNCTION",
                        help="the script and the function in it that returns the tensor")
    parser.add_argument("-o", "--output", default="graph.svg",
                        help="picture to write; its suffix (.svg, .png, .pdf) picks the "
                             "format (default: graph.svg)")
    parser.add_argument("--backward", action="store_true",
                        help="draw the gradient flow with each op's Jacobian shape")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="draw modules nested deeper than N levels as one node each")
    parser.add_argument("--max-nodes", type=int, default=500, metavar="N",
                        help="collapse modules (then elide) above N nodes (default: 500)")


def _load(target: str):
    from .cli import CLIError

    script, sep, function = target.rpartition(":")
    if not sep or not script or not function:
        raise CLIError(f"expected SCRIPT.py:FUNCTION, got {target!r} "
                       "(e.g. `graphgrad render model.py:build -o graph.svg`)")
    path = Path(script)
    if not path.is_file():
        raise CLIError(f"script {script!r} not found (working directory: {Path.cwd()})")
    sys.path.insert(0, str(path.resolve().parent))  # let it import its neighbours
    try:
        namespace = runpy.run_path(str(path), run_name="__graphgrad_render__")
    finally:
        sys.path.remove(str(path.resolve().parent))
    fn = namespace.get(function)
    if not callable(fn):
        found = sorted(n for n, v in namespace.items()
                       if callable(v) and getattr(v, "__module__", None) == "__graphgrad_render__")
        raise CLIError(f"{script} has no function {function!r}; functions defined there: "
                       f"{', '.join(found) or '(none)'}")
    return fn


def run(args: argparse.Namespace) -> int:
    """Load, call, render; print where the files went."""
    from . import viz
    from .cli import CLIError
    from .tensor import Tensor

    fn = _load(args.target)
    result = fn()
    items = result if isinstance(result, (list, tuple)) else [result]
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise CLIError(f"{args.target} returned {type(result).__name__}; it must return the "
                       "graphgrad Tensor to draw (or a list of them)")
    try:
        out = viz.render(result, args.output, backward=args.backward, depth=args.depth,
                         max_nodes=args.max_nodes)
    except (viz.GraphvizNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from exc
    print(f"wrote {out} (Graphviz source: {out.with_suffix('.dot')})")
    return 0
