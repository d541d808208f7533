"""`summary(model, example_input)`: a torchinfo-like table of a model's modules.

One row per use of a module (``model.named_modules(remove_duplicate=False)``
order): dotted path, class, output shape(s), the parameters it holds itself
and the bytes its own ops keep for backward (activations).  Both columns count
each module's own share, so they add up to the totals under the table: a
module used under several names (a shared encoder) has a row per use, its
parameters counted on the first and the others marked "shared with".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphgrad.autograd import enable_grad
from graphgrad.autograd.tensor import Tensor
from graphgrad.viz.collapse import within
from graphgrad.viz.failure import failure_graph, failure_of
from graphgrad.viz.graph import to_networkx
from graphgrad.viz.text import bytes_str, format_table, shape_str


@dataclass(frozen=True)
class SummaryRow:
    """One module: path (``""`` for the model), class name, output shapes, own
    parameter elements, own saved bytes.  ``output_shapes`` is empty when the
    module ran no recorded op (e.g. dropout in eval mode returns its input)."""

    path: str
    type: str
    output_shapes: tuple[tuple[int, ...], ...]
    params: int
    saved_bytes: int
    shared_with: str = ""  # the first path of a module listed again (its params count there)
    status: str = "ok"  # "failed": the forward raised here; "not run": after a failure


class Summary:
    """The result of `summary`: ``rows`` and totals; ``str()`` is the table."""

    def __init__(self, rows, total_params, trainable_params, param_bytes, saved_bytes,
                 input_shapes, output_shapes, error=None):
        self.rows: list[SummaryRow] = rows
        self.total_params: int = total_params
        self.trainable_params: int = trainable_params
        self.param_bytes: int = param_bytes
        self.saved_bytes: int = saved_bytes
        self.input_shapes: tuple = input_shapes
        self.output_shapes: tuple = output_shapes
        #: ``"model.4: Linear: ValueError: ..."`` when the forward failed, else None
        self.error: str | None = error

    @property
    def failed(self) -> SummaryRow | None:
        """The row of the module the forward failed in (None if it ran through)."""
        return next((r for r in self.rows if r.status == "failed"), None)

    def __str__(self) -> str:
        marks = {"ok": "", "failed": "  <-- FAILED", "not run": "  (not run)"}
        body = [[r.path or "(model)",
                 r.type + (f" (shared with {r.shared_with})" if r.shared_with else ""),
                 ", ".join(shape_str(s) for s in r.output_shapes) or "-",
                 f"{r.params:,}", (bytes_str(r.saved_bytes) if r.saved_bytes else "0")
                 + marks[r.status]]
                for r in self.rows]
        footer = [
            f"Input shape: {', '.join(shape_str(s) for s in self.input_shapes)}    "
            f"Output shape: {', '.join(shape_str(s) for s in self.output_shapes)}",
            f"Total params: {self.total_params:,}    Trainable params: "
            f"{self.trainable_params:,}    Non-trainable params: "
            f"{self.total_params - self.trainable_params:,}",
            f"Params size: {bytes_str(self.param_bytes)}    Saved for backward: "
            f"{bytes_str(self.saved_bytes)}",
        ]
        headers = ["Layer (path)", "Type", "Output shape", "Params", "Saved"]
        if self.error:
            footer[0] = f"FAILED in {self.error}"
        return format_table(headers, body, right=(3,), footer=footer)

    def _repr_html_(self) -> str:
        """The table for notebooks, the failing module's row in red."""
        import html

        rows = []
        for line, row in zip(str(self).splitlines()[2:], self.rows):
            style = ' style="color:#c00000;font-weight:bold"' if row.status == "failed" else ""
            rows.append(f"<div{style}>{html.escape(line)}</div>")
        head = "\n".join(html.escape(x) for x in str(self).splitlines()[:2])
        tail = "\n".join(html.escape(x) for x in str(self).splitlines()[2 + len(self.rows):])
        return (f'<pre style="line-height:1.2">{head}\n{"".join(rows)}{tail}</pre>')

    __repr__ = __str__


def _inputs(example_input) -> tuple[tuple, dict]:
    """(positional, keyword) Tensors to call the model with; a dict is passed as one argument."""
    def traced(x, name="input"):
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if x.dtype.kind == "f" and not x.requires_grad:
            # so the graph is recorded even for a model without parameters
            x = Tensor(x.data, requires_grad=True, name=x.name or name)
        return x

    if isinstance(example_input, dict):
        return ({k: traced(v, k) for k, v in example_input.items()},), {}
    items = example_input if isinstance(example_input, tuple) else (example_input,)
    return tuple(traced(x) for x in items), {}


def summary(model, example_input) -> Summary:
    """Run ``model(example_input)`` once and tabulate every module.

    `example_input` is a Tensor, an array, a tuple of them (several forward
    arguments), or a dict ``{input name: tensor}`` passed as one argument (as
    a ``Network`` takes it).  Per module (row): dotted path, class, output shape(s) (of the
    tensors its ops hand to the rest of the graph), parameter elements it holds
    directly, and bytes its own ops saved for backward.  Totals: parameters
    (trainable and not), their bytes, bytes saved for backward in the whole
    forward pass (the activation memory a training step keeps alive).  The
    model runs in its current mode: call ``model.eval()`` first to see
    inference behaviour (dropout off, batch-norm running statistics).

    If the forward raises inside a module, the table shows what ran: rows up to
    the failing module, that row marked ``<-- FAILED`` (red in a notebook,
    ``status="failed"``), later modules ``(not run)``, and the error under the
    table (``Summary.error``); nothing is raised.
    """
    if not hasattr(model, "named_modules") or not hasattr(model, "named_parameters"):
        raise TypeError(f"summary: model must be a graphgrad Module, got "
                        f"{type(model).__name__}; for a plain tensor graph use gg.to_dot(output)")
    args, _ = _inputs(example_input)
    failure = None
    try:
        with enable_grad():
            output = model(*args)
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise  # not inside a module: nothing partial to show
        graph = failure_graph(exc, params=model)
        outputs = ()
    else:
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        while any(type(o) is tuple for o in outputs):  # (output, (h_n, c_n)) of an LSTM
            outputs = tuple(t for o in outputs for t in (o if type(o) is tuple else (o,)))
        graph = to_networkx(outputs, params=model)
    params = list(model.named_parameters())
    own_params: dict[str, int] = {}
    for name, p in params:
        owner = name.rpartition(".")[0]
        own_params[owner] = own_params.get(owner, 0) + p.data.size
    first_path: dict[int, str] = {}
    rows = []
    failed_path = failure[2] if failure else None
    for path, module in model.named_modules(remove_duplicate=False):
        first = first_path.setdefault(id(module), path)
        members = [n for n, d in graph.nodes(data=True)
                   if d["kind"] == "op" and within(d["module"], path)]
        status = "ok"
        if failure is not None:
            if path == failed_path:
                status = "failed"
            elif not members and not within(failed_path, path):
                status = "not run"
        rows.append(SummaryRow(
            path=path, type=type(module).__name__,
            output_shapes=_output_shapes(graph, members),
            params=own_params.get(path, 0) if first == path else 0,
            saved_bytes=sum(graph.nodes[n]["saved_bytes"] for n in members
                            if _own(graph.nodes[n], path)),
            shared_with="" if first == path else first,
            status=status,
        ))
    inputs = [x for a in args for x in (a.values() if isinstance(a, dict) else (a,))]
    ops = [d for _, d in graph.nodes(data=True) if d["kind"] == "op"]
    return Summary(
        rows=rows,
        total_params=int(sum(p.data.size for _, p in params)),
        trainable_params=int(sum(p.data.size for _, p in params if p.requires_grad)),
        param_bytes=int(sum(p.data.nbytes for _, p in params)),
        saved_bytes=int(sum(d["saved_bytes"] for d in ops)),
        input_shapes=tuple(x.shape for x in inputs),
        output_shapes=tuple(np.shape(o.data) for o in outputs),
        error=f"{failure[0]}: {failure[1]}" if failure else None,
    )


def _own(data, path) -> bool:
    """An op the module at `path` ran itself (its time steps included: Module.time_step)."""
    module = data["module"]
    return module == path or (data["time_step"] and module.rpartition(".")[0] == path)


def _output_shapes(graph, members) -> tuple:
    inside = set(members)
    shapes = []
    for n in graph.graph["order"]:
        if n not in inside:
            continue
        leaving = [graph.edges[n, v]["shape"] for v in graph.successors(n) if v not in inside]
        if graph.nodes[n]["is_root"]:
            leaving.append(graph.nodes[n]["shape"])
        for s in leaving:
            if s not in shapes:
                shapes.append(s)
    return tuple(shapes)
