"""Fusion: each run of elementwise kernels in a plan becomes one generated Numba kernel.

A kernel takes part when it is *declared elementwise*: its name maps to an
expression of its arguments (``declare_elementwise``).  The built-in
arithmetic, activations, their backward kernels and the engine's gradient
copy are declared below; a plugin declares its own kernels the same way::

    from graphgrad.compile import declare_elementwise
    declare_elementwise("swish", "{0} * sigmoid({0})")

``{i}`` is the kernel's i-th argument: an array element, or a Python number
(baked into the generated code as a constant of the data's dtype).  The
expression may call ``exp``, ``log``, ``tanh``, ``sigmoid``, ``softplus``
(vectorisable float32 approximations, exact ``math`` for float64), ``np.*``
functions Numba knows, and the constants ``ZERO`` and ``ONE``.  A callable
``expr(args) -> str | None`` may choose the expression from the arguments
(``None``: not fusable for these arguments).

A run is a maximal sequence of consecutive plan entries that are declared
elementwise and write outputs of one shape and dtype; each array argument is
either of that shape (C-contiguous), a row broadcast along the leading axes
(a bias), or a single value.  A run may end in a full ``sum`` (accumulated in
float64, as the ``sum`` kernel does).  Values used only inside the run stay
in registers; the others are stored in their buffers.  The generated source
is written to ``~/.cache/graphgrad/compiled`` (``GRAPHGRAD_CACHE_DIR``) and
compiled there with the kernels' JIT policy, so the machine code is cached on
disk like every other kernel.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

from graphgrad.compile.recorder import root_of

_TEMPLATES = {}


def declare_elementwise(name: str, expression) -> None:
    """Declare kernel `name` elementwise so ``gg.compile`` fuses it (see the module docstring)."""
    if not isinstance(name, str) or not (isinstance(expression, str) or callable(expression)):
        raise TypeError("declare_elementwise(name, expression): name is a kernel name, "
                        "expression a format string such as '{0} * sigmoid({0})' or a "
                        "callable(args) -> str | None")
    _TEMPLATES[name] = expression


def _pow_scalar(args):
    return "{0} * {0}" if args[1] == 2 else ("{0}" if args[1] == 1 else None)


def _pow_scalar_backward(args):
    if args[2] == 2:
        return "({0} * {1}) * {2}"
    return "{0}" if args[2] == 1 else None


for _name, _expr in {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "neg": "-{0}", "exp": "exp({0})", "log": "log({0})", "tanh": "tanh({0})",
    "sigmoid": "sigmoid({0})", "softplus": "softplus({0})", "sqrt": "np.sqrt({0})",
    "abs": "abs({0})",
    "relu": "({0} if {0} > ZERO or {0} != {0} else ZERO)",
    "leaky_relu": "({0} if {0} > ZERO else {0} * {1})",
    "tanh_backward": "{0} * (ONE - {1} * {1})",
    "sigmoid_backward": "{0} * {1} * (ONE - {1})",
    "relu_backward": "({0} if {1} > ZERO else ZERO)",
    "leaky_relu_backward": "({0} if {1} > ZERO else {0} * {2})",
    "where": "({1} if {0} else {2})",
    "pow_scalar": _pow_scalar,
    "pow_scalar_backward": _pow_scalar_backward,
    "copy": "{0}",
    "fill_like_scalar": lambda args: "{0}" if args[2] is None else "{0} * {2}",
}.items():
    declare_elementwise(_name, _expr)


# ------------------------------------------------------------------ analysis
def _operand(a, shape):
    """('full' | 'row' | 'one', flat view) of array `a` read over `shape`, or None."""
    if a.dtype.kind not in "fb":
        return None
    try:
        b = np.broadcast_to(a, shape)
    except ValueError:
        return None
    item = b.itemsize
    if a.shape == shape and a.flags.c_contiguous:
        return "full", a.reshape(-1)
    if all(s == 0 for s in b.strides):
        return "one", as_strided(b, shape=(1,), strides=(item,))
    if b.strides[-1] == item and all(s == 0 for s in b.strides[:-1]):
        return "row", as_strided(b, shape=(shape[-1],), strides=(item,))
    return None


class _Member:
    """One plan entry inside a run: its expression and operands."""

    __slots__ = ("index", "entry", "expr", "operands", "out", "sink")

    def __init__(self, index, entry, expr, operands, out, sink=None):
        self.index, self.entry, self.expr = index, entry, expr
        self.operands, self.out, self.sink = operands, out, sink


def _candidate(index, entry):
    """A _Member for a fusable kernel entry (operands not yet resolved), else None."""
    if entry.kind != "kernel" or entry.event is None:
        return None
    ev = entry.event
    out = ev.result
    if ev.kwargs or not isinstance(out, np.ndarray):
        return None
    if ev.name == "sum":
        x = ev.args[0]
        if (len(ev.args) >= 2 and ev.args[1] is None and out.ndim == 0
                and isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.size):
            return _Member(index, entry, None, None, out, sink="all")
        return None
    if ev.name == "sum_to_shape":  # a bias gradient: the sum over all but the last axis
        x, shape = ev.args[0], tuple(ev.args[1])
        if (isinstance(x, np.ndarray) and x.ndim >= 2 and x.dtype.kind == "f" and x.size
                and shape == (x.shape[-1],) and out.shape == shape):
            return _Member(index, entry, None, None, out, sink="cols")
        return None
    template = _TEMPLATES.get(ev.name)
    if template is None or out.dtype.kind != "f" or out.size == 0 or out.ndim == 0:
        return None
    if not out.flags.c_contiguous or not any(b is out for b in entry.writes):
        return None
    expr = template(ev.args) if callable(template) else template
    if expr is None:
        return None
    for a in ev.args:  # arrays, numbers, and shapes or None the expression may ignore
        if not isinstance(a, (np.ndarray, bool, int, float, np.floating, np.integer, tuple,
                              type(None))):
            return None
    return _Member(index, entry, expr, None, out)


def _operands(m, inside, shape):
    """The operand modes of `m`'s arguments over `shape`, or None if one does not fit."""
    operands = []
    for a in m.entry.event.args:
        if not isinstance(a, np.ndarray):
            operands.append(None)
            continue
        op = _operand(a, shape)
        if op is None:
            return None
        r = root_of(a)
        if id(r) in inside and (op[0] != "full" or a.size != r.size):
            return None
        operands.append(op)
    return operands


def _runs(entries):
    """Lists of _Member: maximal runs of fusable entries over one shape and dtype."""
    runs, current, inside = [], [], {}
    shape = dtype = None

    def close():
        if len(current) >= 2:
            runs.append(list(current))
        current.clear()
        inside.clear()

    for i, e in enumerate(entries):
        m = _candidate(i, e)
        if m is None:
            close()
            continue
        if m.sink:
            x = e.event.args[0]
            r = root_of(x)
            if (current and x.shape == shape and x.dtype == dtype and id(r) in inside
                    and (m.sink == "all" or len(shape) >= 2)
                    and x.size == r.size and x.flags.c_contiguous):
                m.operands = [("full", x.reshape(-1))]
                current.append(m)
            close()
            continue
        if current and (m.out.shape != shape or m.out.dtype != dtype):
            close()
        operands = _operands(m, inside, m.out.shape)
        if operands is None and current:
            close()
            operands = _operands(m, inside, m.out.shape)
        if operands is None:
            continue
        if not current:
            shape, dtype = m.out.shape, m.out.dtype
        m.operands = operands
        current.append(m)
        inside[id(m.out)] = m
    close()
    return runs


# ------------------------------------------------------------------ codegen
def _literal(value, dtype, consts):
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if value is None or isinstance(value, tuple):
        return "None"  # not usable in an expression (a shape, an absent option)
    name = f"_c{len(consts)}"
    consts.append(f"{name} = np.{np.dtype(dtype).name}({float(value)!r})")
    return name


def generate(run, name):
    """(source, argument arrays, stored buffers) of the fused kernel for `run`."""
    first = run[0].out
    shape, dtype = first.shape, first.dtype
    n_rows, n_cols = (int(np.prod(shape[:-1])), shape[-1])
    values = {}  # id(root buffer) -> local name
    params, arrays, consts, body = [], [], [], []
    key_of = {}

    def param_for(view, kind):
        key = (id(view.base if view.base is not None else view), kind,
               view.__array_interface__["data"][0], view.shape, view.strides)
        name = key_of.get(key)
        if name is None:
            name = key_of[key] = f"a{len(params)}"
            params.append(name)
            arrays.append(view)
        return name

    uses_row = any(op is not None and op[0] == "row" for m in run for op in (m.operands or ()))
    for k, m in enumerate(run):
        args = m.entry.event.args
        if m.sink:
            continue
        parts = []
        for a, op in zip(args, m.operands):
            if op is None:
                parts.append(_literal(a, dtype, consts))
            elif id(root_of(a)) in values:
                parts.append(values[id(root_of(a))])
            else:
                p = param_for(op[1], op[0])
                parts.append({"full": f"{p}[i]", "row": f"{p}[c]", "one": f"{p}[0]"}[op[0]])
        local = f"t{k}"
        body.append(f"{local} = {m.expr.format(*parts)}")
        values[id(m.out)] = local
    return shape, dtype, n_rows, n_cols, uses_row, values, params, arrays, consts, body


def _write_module(source, prefix="fused"):
    digest = hashlib.sha1(source.encode()).hexdigest()[:16]
    directory = Path(os.environ.get("GRAPHGRAD_CACHE_DIR")
                     or Path.home() / ".cache" / "graphgrad") / "compiled"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}_{digest}.py"
    if not path.exists() or path.read_text() != source:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.replace(tmp, path)
    name = f"graphgrad_{prefix}_{digest}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return module, path


_HEADER = '''"""Generated by graphgrad.compile (fusion.py): one fused elementwise kernel."""
import numpy as np

from graphgrad.kernels.numba_backend._jit import kernel
from graphgrad.kernels.numba_backend.loops.approx import (  # noqa: F401
    exp, log, sigmoid, softplus, tanh)
'''


class FusedGroup:
    """A run of plan entries replaced by one generated kernel."""

    def __init__(self, members, source, path, fn, args, stored_names, n_loads):
        self.members, self.source, self.path, self.fn = members, source, path, fn
        self.args, self.stored, self.loads = args, stored_names, n_loads

    @property
    def labels(self):
        """The kernels this group replaced, in order."""
        return [m.entry.label for m in self.members]


def _build(run, needed, index):
    (shape, dtype, n_rows, n_cols, uses_row, values, params, arrays, consts,
     body) = generate(run, f"fused_{index}")
    stores = []
    sink = None
    for m in run:
        if m.sink:
            sink = m
            continue
        if id(m.out) in needed:
            view = m.out.reshape(-1)
            name = f"o{len(params)}"
            params.append(name)
            arrays.append(view)
            stores.append(f"{name}[i] = {values[id(m.out)]}")
    sink_name = None
    if sink is not None:
        sink_name = f"o{len(params)}"
        params.append(sink_name)
        arrays.append(sink.out.reshape(-1))
        value = values[id(root_of(sink.entry.event.args[0]))]
        body = body + stores + [f"acc += {value}" if sink.sink == "all" else
                                f"acc[c] += {value}"]
        uses_row = uses_row or sink.sink == "cols"
    else:
        body = body + stores
    dtname = np.dtype(dtype).name
    lines = [_HEADER, f"ZERO = np.{dtname}(0.0)", f"ONE = np.{dtname}(1.0)", *consts, "", ""]
    deco = "@kernel(reduction=True)" if sink is not None else "@kernel"
    lines.append(deco)
    # Sizes are arguments, not literals: one compiled kernel serves every shape.
    lines.append(f"def fused(n_rows, n_cols, {', '.join(params)}):")
    lines.append(f'    """{" -> ".join(m.entry.label for m in run)} ({dtname})."""')
    if sink is not None:  # accumulated in float64, as the sum kernels do
        lines.append("    acc = 0.0" if sink.sink == "all" else
                     "    acc = np.zeros(n_cols, dtype=np.float64)")
    if uses_row:
        lines.append("    for r in range(n_rows):")
        lines.append("        for c in range(n_cols):")
        lines.append("            i = r * n_cols + c")
        indent = "            "
    else:
        lines.append("    for i in range(n_rows * n_cols):")
        indent = "        "
    lines += [indent + line for line in body]
    if sink is not None and sink.sink == "all":
        lines.append(f"    {sink_name}[0] = acc")
    elif sink is not None:
        lines.append("    for c in range(n_cols):")
        lines.append(f"        {sink_name}[c] = acc[c]")
    source = "\n".join(lines) + "\n"
    module, path = _write_module(source)
    return FusedGroup(run, source, path, module.fused, (n_rows, n_cols) + tuple(arrays),
                      len(stores), len(arrays) - len(stores) - (sink is not None))


def fuse_plan(plan):
    """Replace each run of elementwise entries of `plan` by a fused entry (numba backend only)."""
    if plan.backend != "numba":
        return
    from graphgrad.compile.plan import Entry

    entries = plan.entries
    runs = _runs(entries)
    if not runs:
        return
    in_run = {m.index: r for r in runs for m in r}
    new_entries, done = [], set()
    for i, e in enumerate(entries):
        run = in_run.get(i)
        if run is None:
            new_entries.append(e)
            continue
        if id(run) in done:
            continue
        done.add(id(run))
        members = {m.index for m in run}
        needed = set()
        for j, other in enumerate(entries):
            if j not in members:
                needed.update(id(root_of(a)) for a in other.reads)
        for g in plan.final_grads:
            needed.update(id(root_of(a)) for a in g.reads)
        needed.update(id(root_of(a)) for a in plan.result_arrays)
        group = _build(run, needed, len(plan.fused_groups))
        # Compile now (or load from the disk cache) for these very layouts; the
        # outputs hold this recording's results, which the caller is about to be
        # given, so they are put back.
        outputs = group.args[2 + group.loads:]
        saved = [o.copy() for o in outputs]
        group.fn(*group.args)
        for o, v in zip(outputs, saved):
            np.copyto(o, v)
        plan.fused_groups.append(group)
        fn, args = group.fn, group.args

        def run_group(fn=fn, args=args):
            fn(*args)

        ops = [op for m in run for op in m.entry.ops]
        new_entries.append(Entry("fused", f"fused_{len(plan.fused_groups) - 1}", run_group,
                                 ops=ops, module=run[0].entry.module, phase=run[0].entry.phase,
                                 reads=list(group.args[2:]), writes=[], source=group))
    plan.entries = new_entries
