"""``graphgrad inspect SCRIPT.py:FUNCTION -o page.html``: the interactive inspector page.

FUNCTION is loaded and called as ``graphgrad render`` does (the script's
folder on ``sys.path``, no arguments) while every op's statistics and source
line are recorded; when it returns a scalar (a loss) a backward runs with
every op's gradient kept, so the page's gradient views have values.  The
page is written by ``gg.viz.to_html``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Run FUNCTION from SCRIPT.py (no arguments) and write the graph of what it
returns as one self-contained HTML page: pan and zoom, click a node for its
details (op, module, source line, shapes, saved bytes, statistics, gradient
norm), switch views (forward, backward, grad, update, stats), search, and
the findings of the debugging rules. The page loads nothing from the network.

  graphgrad inspect examples/skip_connection.py:loss_on_batch -o skip.html
  graphgrad inspect model.py:loss -o loss.html --no-grads

FUNCTION returns a Tensor (a scalar loss gets a backward first), a list of
Tensors, or (model, example_input) (the model is run on it). Exits with 0
when the page was written, 2 on an error."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``graphgrad inspect``."""
    parser.add_argument("target", metavar="SCRIPT.py:FUNCTION",
                        help="the script and the function in it that returns the tensor")
    parser.add_argument("-o", "--output", default="graph.html",
                        help="page to write (default: graph.html)")
    parser.add_argument("--no-grads", action="store_true",
                        help="do not run backward on a scalar result")
    parser.add_argument("--title", default=None, help="the page's title (default: the target)")
    parser.add_argument("--collapse-above", type=int, default=200, metavar="N",
                        help="open with modules collapsed above N nodes (default: 200)")


def run(args: argparse.Namespace) -> int:
    """Load, call under record_stats/record_source, backward, write the page."""
    from graphgrad import viz
    from graphgrad.autograd import record_grads
    from graphgrad.cli._common import CLIError
    from graphgrad.cli.render import _load, _run_model, _what_to_draw, _where
    from graphgrad.viz.html import record_source, to_html

    fn = _load(args.target)
    script = Path(args.target.rpartition(":")[0])
    folder = str(script.resolve().parent)
    sys.path.insert(0, folder)  # FUNCTION may import the script's neighbours when called
    try:
        with viz.record_stats(), record_source():
            try:
                result = fn()
            except Exception as exc:
                raise CLIError(f"{args.target} raised {_where(exc, script)}") from exc
            root, params, example = _what_to_draw(result, args.target, CLIError)
            if hasattr(root, "input_names"):
                raise CLIError(f"{args.target} returned a gg.Network without an input; return "
                               "(network, example_input) or the loss to inspect its graph")
            if params is not None:
                root = _run_model(params, example, args.target, script, CLIError)
                if isinstance(root, BaseException):
                    raise CLIError(f"{args.target}: the forward failed: {root}; draw it with "
                                   "`graphgrad render` (the failing module in red)")
    finally:
        sys.path.remove(folder)
    loss = root[0] if isinstance(root, (list, tuple)) else root
    grads = not args.no_grads and loss.data.size == 1 and loss.requires_grad
    if grads:
        with record_grads():
            loss.backward(retain_graph=True)
    page = to_html(root, args.output, params=params, title=args.title or args.target,
                   collapse_above=args.collapse_above)
    nodes = sum(1 for _ in page.html.split('data-gg="')) - 1
    print(f"wrote {page.path} ({page.size / 1e6:.2f} MB, {nodes} drawn nodes over all layouts"
          + ("" if grads else "; no backward: the gradient views are empty") + ")")
    return 0
