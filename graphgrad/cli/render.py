"""``graphgrad render SCRIPT.py:FUNCTION -o graph.svg``: draw the graph a function returns.

The script is run as a module (its ``if __name__ == "__main__":`` block is
skipped), FUNCTION is called with no arguments and must return the Tensor to
draw (or a list/tuple of them); the picture and its .dot source are written by
``graphgrad.render``.
"""

from __future__ import annotations

import argparse
import inspect
import runpy
import sys
import traceback
from pathlib import Path

DESCRIPTION = """\
Run FUNCTION from SCRIPT.py (no arguments; it returns the tensor to draw, e.g.
a model's output or loss) and render the graph that produced it with Graphviz.
The .dot source is written next to the picture (graph.svg -> graph.dot), even
when the `dot` program is missing (install Graphviz to get the picture:
Debian/Ubuntu `apt-get install graphviz`, macOS `brew install graphviz`).

A minimal model.py:

  import graphgrad as gg

  def loss():
      x = gg.tensor([[1.0, 2.0]], requires_grad=True, name="x")
      w = gg.tensor([[0.5], [-0.5]], requires_grad=True, name="w")
      return (x @ w).tanh().sum()

  graphgrad render model.py:loss -o loss.svg
  graphgrad render model.py:loss -o loss.png --backward --depth 1

Exits with 0 when the picture was written, 2 on an error (no such script or
function, it did not return a Tensor, `dot` missing...)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad render``."""
    parser.add_argument("target", metavar="SCRIPT.py:FUNCTION",
                        help="the script and the function in it that returns the tensor")
    parser.add_argument("-o", "--output", default="graph.svg",
                        help="picture to write; its suffix (.svg, .png, .pdf) picks the "
                             "format, any other gets .svg appended (default: graph.svg)")
    parser.add_argument("--backward", action="store_true",
                        help="draw the gradient flow with each op's Jacobian shape")
    parser.add_argument("--depth", type=int, default=None, metavar="N",
                        help="draw modules nested deeper than N levels as one node each")
    parser.add_argument("--max-nodes", type=int, default=500, metavar="N",
                        help="collapse modules (then elide) above N nodes (default: 500)")


def _load(target: str):
    from graphgrad.cli._common import CLIError

    script, sep, function = target.rpartition(":")
    if not sep or not script or not function:
        raise CLIError(f"expected SCRIPT.py:FUNCTION, got {target!r} "
                       "(e.g. `graphgrad render model.py:build -o graph.svg`)")
    path = Path(script)
    if not path.is_file():
        raise CLIError(f"script {script!r} not found (working directory: {Path.cwd()}); give "
                       "the path of a Python file, relative to the working directory or "
                       "absolute, then a colon and the function: path/to/model.py:loss")
    sys.path.insert(0, str(path.resolve().parent))  # let it import its neighbours
    try:
        namespace = runpy.run_path(str(path), run_name="__graphgrad_render__")
    except Exception as exc:
        raise CLIError(f"running {script} failed: {_where(exc, path)}") from exc
    finally:
        sys.path.remove(str(path.resolve().parent))
    fn = namespace.get(function)
    if not callable(fn):
        found = sorted(n for n, v in namespace.items()
                       if callable(v) and getattr(v, "__module__", None) == "__graphgrad_render__")
        raise CLIError(f"{script} has no function {function!r}; functions defined there: "
                       f"{', '.join(found) or '(none)'}")
    required = _required_parameters(fn)
    if required:
        raise CLIError(f"{script}:{function} needs argument(s) {', '.join(required)}, but render "
                       "calls FUNCTION with none; add a function without parameters that "
                       f"builds them, e.g. def build(): return {function}(...)")
    return fn


def _required_parameters(fn) -> list[str]:
    """The parameters ``fn`` cannot be called without (none if its signature is unknown)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _where(exc: BaseException, script: Path) -> str:
    """``"NameError: ... (model.py, line 5)"``: the error and its last line in the script."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        return text  # its message already names the file and line
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if Path(frame.filename).resolve() == script.resolve()]
    return f"{text} ({script.name}, line {lines[-1]})" if lines else text


def run(args: argparse.Namespace) -> int:
    """Load, call, render; print where the files went."""
    from graphgrad import viz
    from graphgrad.autograd.tensor import Tensor
    from graphgrad.cli._common import CLIError

    fn = _load(args.target)
    try:
        result = fn()
    except Exception as exc:
        script = Path(args.target.rpartition(":")[0])
        raise CLIError(f"{args.target} raised {_where(exc, script)}") from exc
    items = result if isinstance(result, (list, tuple)) else [result]
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise CLIError(f"{args.target} returned {type(result).__name__}; it must return the "
                       "graphgrad Tensor to draw (or a list of them)")
    try:
        out = viz.render(result, args.output, backward=args.backward, depth=args.depth,
                         max_nodes=args.max_nodes)
    except (viz.GraphvizNotFoundError, ValueError) as exc:
        message = str(exc)  # "render: ..." would repeat what "graphgrad render:" says
        raise CLIError(message.removeprefix("render: ")) from exc
    print(f"wrote {out} (Graphviz source: {out.with_suffix('.dot')})")
    return 0
