"""``gg.check.function(Op, *inputs)``: check a custom ``Function`` (a plugin's own op).

Checks, in float64 unless said otherwise:

- ``forward``: ``Op.apply`` runs and returns finite Tensors;
- ``gradcheck``: ``backward`` matches central differences
  (f(x + ε) − f(x − ε)) / 2ε for every floating input;
- ``gradgradcheck``: so does the derivative of ``backward`` (double backward,
  which works when ``backward`` is written with graphgrad ops);
- ``float32``: float32 inputs give float32 outputs.

``find_functions(module)`` lists the ``Function`` subclasses a plugin module
defines, and ``recorded_ops(fn)`` runs ``fn`` while recording every custom op
call with the dotted path of the layer it ran in, which is how ``check.module``
names the op at fault when a layer's gradients are wrong.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from graphgrad import random as _random
from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor
from graphgrad.check.gradients import GradcheckError, gradcheck, gradgradcheck
from graphgrad.check.report import FAIL, PASS, SKIP, CheckReport, run_checks


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _floating(a) -> bool:
    arr = a.data if isinstance(a, Tensor) else a
    return isinstance(arr, np.ndarray) and arr.dtype.kind == "f"


def _cast(args, dtype, requires_grad: bool) -> list:
    """Floating Tensor/array arguments as fresh Tensors of ``dtype``; the rest unchanged."""
    out = []
    for a in args:
        if _floating(a):
            arr = a.data if isinstance(a, Tensor) else a
            out.append(Tensor(arr.astype(dtype), requires_grad=requires_grad))
        else:
            out.append(a)
    return out


def _differentiable(op: type, args, kwargs) -> tuple[Callable, list[Tensor]]:
    """``f(*floating inputs) = op.apply(*args, **kwargs)`` and those inputs in float64."""
    full = _cast(args, np.float64, True)
    slots = [i for i, a in enumerate(full) if isinstance(a, Tensor) and a.requires_grad]

    def fn(*xs):
        call = list(full)
        for i, x in zip(slots, xs, strict=True):
            call[i] = x
        return op.apply(*call, **kwargs)

    return fn, [full[i] for i in slots]


def _gradients(op, args, kwargs, second: bool, tol: dict) -> tuple[str, str]:
    fn, inputs = _differentiable(op, args, kwargs)
    if not inputs:
        return SKIP, "no floating input: nothing to differentiate"
    try:
        (gradgradcheck if second else gradcheck)(fn, inputs, **tol)
    except GradcheckError as exc:
        return FAIL, str(exc)
    return PASS, f"{len(inputs)} input(s), {sum(x.data.size for x in inputs)} values"


def _forward(op, args, kwargs) -> tuple[str, str]:
    outs = _as_tuple(op.apply(*_cast(args, np.float64, False), **kwargs))
    bad = [type(o).__name__ for o in outs if not isinstance(o, Tensor)]
    if bad:
        return FAIL, f"apply returned {bad}, not Tensors"
    if any(o.dtype.kind == "f" and not np.all(np.isfinite(o.data)) for o in outs):
        return FAIL, "the output has NaN or inf values"
    return PASS, "outputs " + ", ".join(f"{o.shape} {o.dtype}" for o in outs)


def _float32(op, args, kwargs) -> tuple[str, str]:
    if not any(_floating(a) for a in args):
        return SKIP, "no floating input"
    outs = _as_tuple(op.apply(*_cast(args, np.float32, False), **kwargs))
    wrong = [str(o.dtype) for o in outs if o.dtype.kind == "f" and o.dtype != np.float32]
    if wrong:
        return FAIL, (f"float32 inputs gave {', '.join(wrong)} output(s); forward promotes "
                      "(make constants Python floats or cast them to the input's dtype)")
    return PASS, "float32 in, float32 out"


def function(op: type, *inputs, rng=0, kwargs: dict | None = None, eps: float = 1e-6,
             atol: float = 1e-5, rtol: float = 1e-3) -> CheckReport:
    """Check the custom op ``op`` (a ``Function`` subclass) on ``inputs``.

    Without inputs, ``op.example_input(rng)`` provides them (a tuple of the
    positional arguments of ``op.apply``).  Floating arrays and Tensors are the
    differentiated inputs; other arguments pass through.  ``eps``/``atol``/
    ``rtol`` go to ``gradcheck`` (|analytic − numeric| ≤ atol + rtol·|numeric|).
    An op may skip a check with ``skip_checks = {"gradgradcheck": "why"}``.
    """
    if not (isinstance(op, type) and issubclass(op, Function)):
        raise TypeError(f"check.function: expected a Function subclass, got {op!r}")
    if not inputs:
        if not hasattr(op, "example_input"):
            raise TypeError(f"check.function: pass inputs, or give {op.__name__} a "
                            "classmethod example_input(rng) returning a tuple of arguments")
        inputs = _as_tuple(op.example_input(_random.resolve_rng(rng)))
    kwargs = dict(kwargs or {})
    tol = {"eps": eps, "atol": atol, "rtol": rtol}
    items = run_checks([
        ("forward", lambda: _forward(op, inputs, kwargs)),
        ("gradcheck", lambda: _gradients(op, inputs, kwargs, False, tol)),
        ("gradgradcheck", lambda: _gradients(op, inputs, kwargs, True, tol)),
        ("float32", lambda: _float32(op, inputs, kwargs)),
    ], getattr(op, "skip_checks", None), gate="forward")
    return CheckReport(op.__qualname__, items, checker="function")


def find_functions(module: Any) -> list[type]:
    """The ``Function`` subclasses a plugin module (or object) defines itself, by name."""
    if not isinstance(module, types.ModuleType):
        return []
    prefix = module.__name__ + "."

    def own(value) -> bool:
        return (isinstance(value, type) and issubclass(value, Function) and value is not Function
                and (value.__module__ == module.__name__
                     or value.__module__.startswith(prefix)))

    # the plugin module itself and every imported submodule of it (a plugin package's
    # ops may live in `mine.ops`): a component is never silently left out
    modules = [module] + [m for name, m in sorted(sys.modules.items())
                          if name.startswith(prefix) and isinstance(m, types.ModuleType)]
    found = {value for m in modules for value in list(vars(m).values()) if own(value)}
    return sorted(found, key=lambda cls: (cls.__qualname__, cls.__module__))


# ----------------------------------------------------- ops inside a layer
@dataclass
class OpCall:
    """One recorded call of a custom op: its class, arguments and the layer it ran in."""

    op: type
    args: tuple
    kwargs: dict
    layer: str  # "Type at 'dotted.path'", or "Type" for the layer itself

    def describe(self) -> str:
        """``op Name (module.Name) in layer ...``."""
        op = self.op
        return f"op {op.__name__} ({op.__module__}.{op.__qualname__}) in {self.layer}"


def _custom(op: type) -> bool:
    """An op defined outside graphgrad's own packages (a plugin's, built-in plugins included)."""
    return not op.__module__.startswith("graphgrad.")


@contextmanager
def recorded_ops():
    """Record every custom op call made inside the block: yields the list of ``OpCall``."""
    calls: list[OpCall] = []
    original = Function.__dict__["apply"]

    def apply(cls, *args, **kwargs):
        if _custom(cls):
            scope = STATE.module_scope
            path, type_name = scope[-1] if scope else ("", "")
            layer = f"layer {type_name} at {path!r}" if path else f"layer {type_name or '?'}"
            snapshot = tuple(a.data.copy() if isinstance(a, Tensor) else a for a in args)
            calls.append(OpCall(cls, snapshot, dict(kwargs), layer))
        return original.__func__(cls, *args, **kwargs)

    Function.apply = classmethod(apply)
    try:
        yield calls
    finally:
        Function.apply = original


def ops_at_fault(run: Callable[[], Any], second: bool, tol: dict) -> list[str]:
    """Run ``run`` (a layer's forward), then gradcheck each custom op it called, once per
    op class; the messages of those that fail, each naming the op and its layer."""
    with recorded_ops() as calls:
        run()
    faults, seen = [], set()
    for call in calls:
        if call.op in seen or not any(_floating(a) for a in call.args):
            continue
        seen.add(call.op)
        status, message = _gradients(call.op, call.args, call.kwargs, second, tol)
        if status == FAIL:
            faults.append(f"{call.describe()}: {message}")
    return faults
