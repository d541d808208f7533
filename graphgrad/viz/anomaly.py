"""Debugging modes built on the op observer hook (``graphgrad.autograd.observe``).

``with gg.detect_anomaly():`` checks every op's output, and every backward's
input gradients, for NaN and ±inf, and raises `AnomalyError` at the first one:
the op, the module path that ran it, what its inputs held ("Log got 3
negative values") and the user's line that called it.  The offending graph node
is marked (``node.anomaly``), so ``gg.to_dot(err.output)`` (forward) or
``gg.to_dot(loss)`` (backward) draws it red.  PyTorch's anomaly mode names only
the backward node and prints the forward traceback.

``with gg.record_stats():`` keeps forward statistics of every recorded op's
output on its node (``node.stats``: zero fraction, non-finite fraction, mean,
std), which `to_networkx` and `to_dot` show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from graphgrad.autograd.grad_mode import STATE, observe
from graphgrad.autograd.tensor import Tensor
from graphgrad.viz.graph import array_stats
from graphgrad.viz.text import shape_str

_INTERNAL = tuple(str(Path(m.__file__).resolve().parent) for m in
                  (sys.modules["graphgrad"],))


def _internal(filename: str) -> bool:
    try:
        resolved = str(Path(filename).resolve())
    except (OSError, ValueError):
        return False
    if resolved.startswith(_INTERNAL):
        return True
    plugins = sys.modules.get("graphgrad_plugins")
    return plugins is not None and resolved.startswith(
        str(Path(plugins.__file__).resolve().parent))


def user_line() -> str | None:
    """``"model.py:23: y = x.log()"``: the innermost frame outside graphgrad and its plugins."""
    import linecache

    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<") and not _internal(name):
            code = linecache.getline(name, frame.f_lineno).strip()
            return f"{Path(name).name}:{frame.f_lineno}" + (f": {code}" if code else "")
        frame = frame.f_back
    return None


def _in_backward() -> bool:
    """Whether the engine's backward pass is on the stack (its ops are checked per node)."""
    from graphgrad.autograd import engine

    code = engine.run_backward.__code__
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def module_label(entry) -> str | None:
    """``"model.4: Linear"`` for a module-scope entry ``("4", "Linear")`` (None outside)."""
    if entry is None:
        return None
    path, kind = entry[0], entry[1]
    where = f"model.{path}" if path else "model"
    return f"{where}: {kind}" if kind else where


class AnomalyError(RuntimeError):
    """The first NaN/inf found by ``detect_anomaly``.

    Attributes: ``op`` (the op's name, ``"LogBackward"`` for a gradient),
    ``module`` (``"model.2: Log"`` or None), ``line`` (the user's line that ran
    the op, or None), ``phase`` (``"forward"``/``"backward"``), ``node`` (the
    graph node, marked with ``node.anomaly``; None if no graph was recorded)
    and ``output`` (forward: the op's output Tensor, to draw the graph up to it).
    """

    def __init__(self, message, *, op, module, line, phase, node=None, output=None):
        super().__init__(message)
        self.op, self.module, self.line, self.phase = op, module, line, phase
        self.node, self.output = node, output


def _float_arrays(values):
    for i, v in enumerate(values):
        a = v.data if isinstance(v, Tensor) else v
        if isinstance(a, np.ndarray) and a.dtype.kind in "fc":
            yield i, a


def _bad_count(a) -> int:
    return int(a.size - np.count_nonzero(np.isfinite(a)))


# ops with a restricted domain: for them negative values and zeros in the inputs
# explain a NaN/inf; for the others (MatMul, Add, Exp...) they are noise
DOMAIN_OPS = ("Log", "Sqrt", "Rsqrt", "Div", "Pow", "Reciprocal", "Acos", "Asin", "Atanh",
              "Acosh", "Log1p", "Log2", "Log10")


def _has_domain(op: str) -> bool:
    return any(op.startswith(d) for d in DOMAIN_OPS)


def _largest(arrays) -> float:
    values = [float(np.max(np.abs(a))) for a in arrays if a.size]
    return max(values) if values else 0.0


def _overflow_report(op: str, args, node) -> str:
    """``"overflow: finite inputs up to |x| 2e+19 ...; largest |parameter| 3e+09 ..."``."""
    inputs = _largest([a for _, a in _float_arrays(args)])
    params = _largest([t.data for t in _parameters_behind(node, args)])
    text = f"overflow: finite inputs up to |x| = {inputs:.3g} gave inf/NaN"
    if params:
        text += (f"; the largest |parameter| behind it is {params:.3g}: the weights blew up, "
                 "lower the learning rate (or clip gradients)")
    else:
        text += ": lower the learning rate, or scale the inputs"
    return text


def _parameters_behind(node, args) -> list:
    """The parameters among `args` and among the leaves of the graph behind `node`."""
    from graphgrad.autograd import topological_order

    found = {id(a): a for a in args if isinstance(a, Tensor) and a.is_parameter}
    roots = [a.grad_fn for a in args if isinstance(a, Tensor) and a.grad_fn is not None]
    for n in topological_order(roots) if roots else ():
        for edge in n.next_edges:
            if edge is not None and edge[1] is None and edge[0].is_parameter:
                found[id(edge[0])] = edge[0]
    return list(found.values())


def _input_report(op: str, args) -> str:
    """``"Log got 3 negative values (input 0 (4, 2): min -1.5, max 2.3)"``; negative
    values and zeros are counted only for ops with a restricted domain (Log, Div...)."""
    parts = []
    for i, a in _float_arrays(args):
        finite = a[np.isfinite(a)]
        found = []
        if a.dtype.kind == "f" and _has_domain(op):
            negative, zeros = int(np.count_nonzero(a < 0)), int(np.count_nonzero(a == 0))
            if negative:
                found.append(f"{negative} negative value{'s' * (negative != 1)}")
            if zeros:
                found.append(f"{zeros} zero{'s' * (zeros != 1)}")
        bad = _bad_count(a)
        if bad:
            found.append(f"{bad} NaN/inf")
        span = (f": min {finite.min():.3g}, max {finite.max():.3g}" if finite.size else "")
        parts.append(f"{', '.join(found) or 'only finite values'} (input {i} "
                     f"{shape_str(a.shape)}{span})")
    return f"{op} got " + "; ".join(parts) if parts else f"{op} got no array input"


class _AnomalyObserver:
    def __init__(self, check_backward: bool):
        self.check_backward = check_backward

    def forward(self, cls, node, args, outputs):
        if _in_backward():
            return  # an op of some backward: `backward` below names the node it serves
        entry = STATE.module_scope[-1] if STATE.module_scope else None
        line = user_line()
        if node is not None:
            node.trace = (module_label(entry), line)  # for a backward anomaly later
        bad = sum(_bad_count(a) for _, a in _float_arrays(outputs))
        if not bad:
            return
        if any(_bad_count(a) for _, a in _float_arrays(args)):
            return  # not where it started: the inputs already held NaN/inf
        total = sum(a.size for _, a in _float_arrays(outputs))
        op, module = cls.__name__, module_label(entry)
        why = "" if _has_domain(op) else f"; {_overflow_report(op, args, node)}"
        message = (f"detect_anomaly: {op}{f' in {module}' if module else ''} produced "
                   f"{bad} NaN/inf of {total} output values in forward; "
                   f"{_input_report(op, args)}{why}"
                   + (f"; called at {line}" if line else ""))
        if node is not None:
            node.anomaly = message
        raise AnomalyError(message, op=op, module=module, line=line, phase="forward",
                           node=node, output=outputs[0])

    def backward(self, node, grads, in_grads):
        if not self.check_backward:
            return
        if any(_bad_count(a) for _, a in _float_arrays(grads)):
            return  # it only passed on a NaN made above it
        bad = [(i, _bad_count(a)) for i, a in _float_arrays(in_grads) if _bad_count(a)]
        if not bad:
            return
        module, line = getattr(node, "trace", (None, None))
        if module is None and node.module is not None:
            module = module_label(node.module)
        op = f"{node.name}Backward"
        which = ", ".join(f"input {i} ({n} NaN/inf)" for i, n in bad)
        message = (f"detect_anomaly: {op}{f' in {module}' if module else ''} returned a "
                   f"non-finite gradient for {which} from finite output gradients"
                   + (f"; its forward ran at {line}" if line else ""))
        node.anomaly = message
        raise AnomalyError(message, op=op, module=module, line=line, phase="backward",
                           node=node)


class detect_anomaly(observe):  # noqa: N801 - PyTorch's name, used as `with`
    """Context manager: raise `AnomalyError` at the first op (forward) or backward that
    turns finite values into NaN/inf, naming the op, its module, its inputs and the line.

    ``check_backward=False`` checks only the forward.  Costs a scan of every
    output and a stack walk per op: for debugging, not for training runs.
    """

    __slots__ = ()

    def __init__(self, check_backward: bool = True):
        super().__init__(_AnomalyObserver(check_backward))


class _StatsObserver:
    def forward(self, cls, node, args, outputs):
        if node is not None:
            node.stats = array_stats(outputs[0].data)

    def backward(self, node, grads, in_grads):
        pass


class record_stats(observe):  # noqa: N801 - used as `with record_stats():`
    """Context manager: keep forward statistics of every recorded op's output on its node.

    Per node: ``zero_frac`` (exact zeros: dead units after a ReLU),
    ``nonfinite_frac`` (NaN/±inf), ``mean`` and ``std`` of the finite values;
    ``to_networkx`` has them as node attributes, ``to_dot`` shows them.
    """

    __slots__ = ()

    def __init__(self):
        super().__init__(_StatsObserver())
