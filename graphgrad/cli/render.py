"""``graphgrad render SCRIPT.py:FUNCTION -o graph.svg``: draw the graph a function returns.

The script is run as a module (its ``if __name__ == "__main__":`` block is
skipped), FUNCTION is called with no arguments and returns what to draw: a
Tensor (or a list/tuple of them), ``(model, example_input)`` (the model is run
on it), or a ``gg.Network`` (its layer DAG); the picture and its .dot source
are written by ``graphgrad.render``.  A forward that fails inside a module is
drawn up to that module (red, the error in the title), then reported.
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
  graphgrad render model.py:loss -o grads.svg --grads --stats

FUNCTION may also return (model, example_input) (the model is run on it), a
model alone (its layers are drawn, shared parameters counted once) or a
gg.Network (its layer graph is drawn).  Findings (what the graph says
is wrong, gg.viz.findings) are drawn and printed.
--grads runs backward on the scalar
result and colours every node by its gradient norm (grey: zero, red: NaN/inf);
--stats records each op's share of zeros (dead ReLUs) and NaN/inf.  A forward
that fails inside a module still writes the picture, up to that module (red).

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
    parser.add_argument("--grads", action="store_true",
                        help="run backward on the (scalar) result first: nodes show and are "
                             "coloured by their gradient norm, parameters without a gradient "
                             "are listed")
    parser.add_argument("--stats", action="store_true",
                        help="record forward statistics (zeros, NaN/inf, mean, std) per op")
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
    try:
        namespace = runpy.run_path(str(path), run_name="__graphgrad_render__")
    except Exception as exc:
        raise CLIError(f"running {script} failed: {_where(exc, path)}") from exc
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


def _what_to_draw(result, target: str, CLIError):  # noqa: N803 - the class
    """``(root, params, example_input)`` from what FUNCTION returned (see DESCRIPTION)."""
    from graphgrad.autograd.tensor import Tensor

    if hasattr(result, "to_networkx") and hasattr(result, "input_names"):
        return result, None, None  # a Network: its layer DAG
    if (isinstance(result, tuple) and len(result) == 2 and hasattr(result[0], "named_modules")
            and not isinstance(result[1], (list, tuple))):
        return None, result[0], result[1]  # (model, example input): run it here
    if hasattr(result, "named_modules"):  # a model without an input: its layers
        from graphgrad.viz.model_picture import model_to_dot

        return model_to_dot(result), None, None
    items = result if isinstance(result, (list, tuple)) else [result]
    if not items or not all(isinstance(t, Tensor) for t in items):
        raise CLIError(f"{target} returned {type(result).__name__}; it must return the "
                       "graphgrad Tensor to draw (or a list of them), (model, example_input) "
                       "or a gg.Network")
    return result, None, None


def run(args: argparse.Namespace) -> int:
    """Load, call, render; print where the files went and the findings (the
    script's folder is on ``sys.path`` while FUNCTION runs)."""
    script = Path(args.target.rpartition(":")[0])
    folder = str(script.resolve().parent)
    sys.path.insert(0, folder)  # the script and FUNCTION may import their neighbours
    try:
        return _run(args, script)
    finally:
        sys.path.remove(folder)


def _run(args, script) -> int:
    import contextlib

    import graphviz

    from graphgrad import viz
    from graphgrad.autograd import record_grads
    from graphgrad.cli._common import CLIError

    fn = _load(args.target)
    failed = None
    with viz.record_stats() if args.stats else contextlib.nullcontext():
        try:
            result = fn()
        except Exception as exc:
            if getattr(exc, "graphgrad_module", None) is None:
                raise CLIError(f"{args.target} raised {_where(exc, script)}") from exc
            result, failed = exc, exc  # draw what ran, the failing module red
        root, params, example = ((result, None, None) if failed is not None
                                 else _what_to_draw(result, args.target, CLIError))
        if params is not None:
            root = _run_model(params, example, args.target, script, CLIError)
            if isinstance(root, BaseException):
                failed = root
    drawn_as_is = hasattr(root, "input_names") or isinstance(root, graphviz.Digraph)
    if args.grads and failed is None and not drawn_as_is:
        loss = root[0] if isinstance(root, (list, tuple)) else root
        if loss.data.size != 1:
            raise CLIError(f"--grads needs a scalar result (a loss), but {args.target} gave "
                           f"shape {loss.shape}; return loss.sum() or a loss")
        with record_grads():
            loss.backward(retain_graph=True)
    options = {} if drawn_as_is else {
        "backward": args.backward, "depth": args.depth, "max_nodes": args.max_nodes,
        "stats": args.stats, "params": params}
    try:
        out = viz.render(root, args.output, **options)
    except (viz.GraphvizNotFoundError, ValueError) as exc:
        message = str(exc)  # "render: ..." would repeat what "graphgrad render:" says
        raise CLIError(message.removeprefix("render: ")) from exc
    print(f"wrote {out} (Graphviz source: {out.with_suffix('.dot')})")
    if not drawn_as_is and failed is None:
        from graphgrad.viz.finding import Finding
        from graphgrad.viz.graph import to_networkx

        graph = to_networkx(root, params=params, stats=True)
        for f in graph.graph.get("findings", ()):
            print(Finding(**{**f, "nodes": tuple(f["nodes"]),
                             "params": tuple(f["params"])}).line())
    if failed is not None:
        raise CLIError(f"{args.target} raised {_where(failed, script)}; the picture shows "
                       "what ran, the failing module in red")
    return 0


def _run_model(model, example, target, script, CLIError):  # noqa: N803 - the class
    """The model's output on `example` (traced so the graph is recorded), or the
    exception if the forward failed inside a module."""
    from graphgrad.autograd import enable_grad
    from graphgrad.autograd.tensor import Tensor

    x = example if isinstance(example, Tensor) else Tensor(example)
    if x.dtype.kind == "f" and not x.requires_grad:
        x = Tensor(x.data, requires_grad=True, name=x.name or "input")
    try:
        with enable_grad():
            return model(x)
    except Exception as exc:
        if getattr(exc, "graphgrad_module", None) is None:
            raise CLIError(f"{target}: the model raised {_where(exc, script)}") from exc
        return exc
