"""Record one eager call of a step: every kernel call, optimizer/schedule step and gradient store.

While a :class:`Recorder` is active it lays thin wrappers over the few places
where a step touches data (nothing is wrapped otherwise, so eager code pays
nothing):

* every entry of the kernel table ``K`` -> one :class:`KernelCall` event per
  call, with the ndarray arguments and results themselves;
* ``Function.apply`` -> which op is running (for names in warnings and in the
  drawn plan), the Module it runs in, and a check that the op's outputs come
  from kernels (a forward computed with raw NumPy cannot be replayed);
* the engine's gradient accumulation and leaf-gradient store -> kernel calls
  and :class:`SetGrad` events, so ``p.grad`` after a replay is what eager gives;
* ``Optimizer.step``/``zero_grad``, ``Schedule.step``, ``Module.zero_grad`` ->
  one :class:`Segment` event each, replayed by calling the method again, so
  learning rates, step counters and state are read live at every replay;
* ``Tensor.item``/``tolist``/``float()``/``bool()`` -> a problem: a value read
  into Python during the step makes the step unreplayable;
* ``x -= y`` and the other in-place operators without a graph -> a kernel
  call; ``copy_``/``fill_``/``add_``/``x[...] = v`` -> a problem (NumPy writes).

Arrays are identified by object identity; the recorder keeps every array it
saw alive, so an ``id`` is never reused during a recording.
"""

from __future__ import annotations

import threading

import numpy as np

from graphgrad.autograd import engine
from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.nn import Module, log_calls, running_modules
from graphgrad.optim.optimizer import Optimizer
from graphgrad.optim.schedule import Schedule
from graphgrad.random import default_rng

_LOCK = threading.Lock()
_ACTIVE = [None]


class KernelCall:
    """One call ``fn(*args, **kwargs)`` of kernel `name`, made while op `op` ran.

    ``live``: the positions of arguments that were the global random generator
    when the call was made; a replay passes the global generator of its own
    time there (``gg.manual_seed`` replaces it).
    """

    __slots__ = ("name", "fn", "args", "kwargs", "result", "op", "module", "phase", "where",
                 "live")

    def __init__(self, name, fn, args, kwargs, result, op, module, phase, where=None):
        self.name, self.fn, self.args, self.kwargs = name, fn, args, kwargs
        self.result, self.op, self.module, self.phase = result, op, module, phase
        self.where = where  # "file.py:12" of the user's line, for calls given Python numbers
        generator = default_rng()
        self.live = tuple(i for i, a in enumerate(args) if a is generator)


class Segment:
    """A Python method replayed as-is (optimizer and schedule steps, zero_grad).

    ``inner`` lists the kernel calls it made, ``(name, fn, args, kwargs)``: an
    optimizer step whose calls depend on nothing but arrays and its
    hyperparameters is replayed as those calls (plan.py).
    """

    __slots__ = ("label", "method", "owner", "inner")

    def __init__(self, label, method, owner, inner=()):
        self.label, self.method, self.owner, self.inner = label, method, owner, inner


class SetGrad:
    """``tensor.grad`` becomes a Tensor over `array` (None: no gradient)."""

    __slots__ = ("tensor", "array")

    def __init__(self, tensor, array):
        self.tensor, self.array = tensor, array


class LiveCall:
    """``fn(arrays)``, run again at this point of every replay: a call that talks to the
    world outside the process (the gradient all-reduce of ``graphgrad.distributed``).

    ``kind`` names its plan entry; ``arrays`` (kernel results of the step, e.g. the
    gradient buffers) are what it reads and changes in place."""

    __slots__ = ("kind", "label", "fn", "arrays")

    def __init__(self, kind, label, fn, arrays):
        self.kind, self.label, self.fn, self.arrays = kind, label, fn, arrays


def live_call(kind, label, fn, arrays):
    """Call ``fn(arrays)`` now; while a step is being recorded, also keep the call as one
    :class:`LiveCall` event, so that the plan calls it again at every replay."""
    rec = _ACTIVE[0]
    fn(arrays)
    if rec is not None and not rec.depth:
        rec.keep.append(arrays)
        rec.events.append(LiveCall(kind, label, fn, list(arrays)))


def flat_arrays(value):
    """The ndarrays in `value`, looking inside tuples, lists and dict values."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in flat_arrays(v)]
    return []


def root_of(a):
    """The ndarray that owns `a`'s memory (follows ``.base``, also through a memoryview)."""
    while True:
        base = a.base
        if isinstance(base, memoryview) and isinstance(base.obj, np.ndarray):
            base = base.obj
        if not isinstance(base, np.ndarray):
            return a
        a = base


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)


def _user_line():
    """``file.py:line`` of the innermost frame outside graphgrad (recording only)."""
    import os
    import sys

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    built_in = sys.modules.get("graphgrad_plugins")
    ours = (here, os.path.join(os.path.dirname(here), "plugins"),
            *(os.path.abspath(p) for p in getattr(built_in, "__path__", ())))
    frame = sys._getframe(2)
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not path.startswith(ours) and "graphgrad_plugins" not in path:
            return f"{os.path.basename(path)}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _copy(x):
    """A copy of x (the engine's private gradient copy, as a recorded kernel)."""
    return x.copy()


def _astype(x, dtype):
    """x cast to dtype (the engine's gradient cast, as a recorded kernel)."""
    return x.astype(dtype)


class Recorder:
    """Records one call of a step; see the module docstring.  Use as a context manager."""

    def __init__(self):
        self.events = []
        self.known = {}  # id(array) -> index of the event that produced it (-1 - i: input i)
        self.keep = []  # every array seen, so ids stay unique while recording
        self.problems = []  # (op, why), in the order found
        self.modules = {}  # id -> Module that ran
        self.leaves = {}  # id -> leaf Tensor an op read (parameters, constants)
        self.grad_tensors = {}  # id -> Tensor whose .grad the step set
        self.depth = 0  # > 0 inside a kernel or segment: nested calls are not events
        self.inner = None  # the kernel calls of the running segment
        self.ops = []  # (op label, phase) of the ops running, innermost last
        self.input_arrays = []  # the inputs' buffers, in order
        self.derived = set()  # ids of arrays computed (outside kernels) from a buffer's data
        self._saved = {}

    # ------------------------------------------------------------ bookkeeping
    def problem(self, op, why):
        """Note that the step cannot be replayed because of `op` (named with the user's line)."""
        if all(p[0] != op for p in self.problems):
            where = _user_line()
            self.problems.append((op, f"{why} (at {where})" if where else why))

    def add_input(self, array, i):
        """Register input `i`'s array (its memory is the input buffer at replay)."""
        self.known[id(array)] = -1 - i
        self.keep.append(array)
        self.input_arrays.append(array)

    def _current(self):
        if self.ops:
            return self.ops[-1]
        return (None, "step")

    def _module(self):
        stack = running_modules()
        for module, _ in stack:
            self.modules.setdefault(id(module), module)
        return stack[-1][1] if stack else None

    def sourced(self, array) -> bool:
        """Whether `array` has a data origin: an input, a kernel result, or derived from one."""
        return (id(array) in self.known or id(array) in self.derived
                or id(root_of(array)) in self.known or id(root_of(array)) in self.derived)

    def derive(self, array):
        """Mark `array` (made outside the kernel table) as computed from a buffer's data."""
        self.derived.add(id(array))
        self.derived.add(id(root_of(array)))
        self.keep.append(array)

    def produced(self, array) -> bool:
        """Whether `array`'s memory comes from a recorded kernel or a step input."""
        return id(array) in self.known or id(root_of(array)) in self.known

    def on_kernel(self, name, fn, args, kwargs, result):
        op, phase = self._current()
        index = len(self.events)
        where = None
        if any(_is_number(a) for a in args) or any(_is_number(a) for a in kwargs.values()):
            where = _user_line()
        self.events.append(KernelCall(name, fn, args, kwargs, result, op, self._module(), phase,
                                      where))
        self.keep.append(args)
        outs = result if isinstance(result, tuple) else (result,)
        arg_roots = {id(root_of(a)) for a in flat_arrays(args) + flat_arrays(kwargs)}
        for out in outs:
            if isinstance(out, np.ndarray) and id(out) not in self.known:
                r = root_of(out)
                if r is not out and id(r) in arg_roots:
                    continue  # a view of an argument: no memory of its own
                self.known[id(out)] = index
                if r is not out:  # a view of a fresh array the kernel made
                    self.known.setdefault(id(r), index)
                    self.keep.append(r)
                self.keep.append(out)

    def call(self, name, fn, *args):
        """Run a recorder-owned helper kernel (copy, cast) as a recorded event."""
        out = fn(*args)
        self.on_kernel(name, fn, args, {}, out)
        return out

    # ------------------------------------------------------------- patching
    def __enter__(self):
        if not _LOCK.acquire(blocking=False):
            raise RuntimeError("gg.compile: another step is being recorded (one at a time)")
        _ACTIVE[0] = self
        self._install()
        # every module called while recording, including one that computes nothing
        # (its attributes and mode still decide what a later call does)
        self._calls = log_calls(self.modules)
        self._calls.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self._calls.__exit__(None, None, None)
            self._uninstall()
        finally:
            _ACTIVE[0] = None
            _LOCK.release()
        return False

    def _install(self):
        saved = self._saved
        table = dict(vars(K))
        saved["K"] = table
        for name, fn in table.items():  # vars(): K refuses assignment of built-in names
            vars(K)[name] = _kernel_proxy(self, name, fn)
        saved["apply"] = vars(Function)["apply"]
        Function.apply = classmethod(_recording_apply)
        for mod_attr, new in (("_accumulate", _recording_accumulate),
                              ("_store_leaf_grad", _recording_store_leaf_grad),
                              ("run_backward", _recording_run_backward)):
            saved[("engine", mod_attr)] = getattr(engine, mod_attr)
            setattr(engine, mod_attr, new)
        saved["methods"] = []
        for cls, attr, label in _segment_methods():
            original = vars(cls)[attr]
            saved["methods"].append((cls, attr, original))
            setattr(cls, attr, _segment_wrapper(self, original, label))
        for attr, wrap in (("_arith_", _recording_arith), ("_inplace", _recording_inplace)):
            original = vars(Tensor).get(attr)
            if original is not None:
                saved["methods"].append((Tensor, attr, original))
                setattr(Tensor, attr, wrap(self, original))
        for attr in ("item", "tolist", "__float__", "__int__", "__bool__"):
            original = vars(Tensor).get(attr)
            if original is not None:
                saved["methods"].append((Tensor, attr, vars(Tensor)[attr]))
                setattr(Tensor, attr, _value_read_wrapper(self, original, attr))

    def _uninstall(self):
        saved = self._saved
        for cls, attr, original in reversed(saved.pop("methods", [])):
            setattr(cls, attr, original)
        for key in [k for k in saved if isinstance(k, tuple)]:
            setattr(engine, key[1], saved.pop(key))
        if "apply" in saved:
            Function.apply = saved.pop("apply")
        if "K" in saved:
            vars(K).update(saved.pop("K"))


# ------------------------------------------------------------------ wrappers
def _kernel_proxy(rec, name, fn):
    def proxy(*args, **kwargs):
        if rec.depth:
            if rec.depth == 1 and rec.inner is not None:
                rec.inner.append((name, fn, args, kwargs))
            return fn(*args, **kwargs)
        rec.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            rec.depth -= 1
        # A kernel may return a NumPy scalar (a full reduction); the op wraps it in
        # a new 0-d array, which then would not be traceable to this call.
        if isinstance(out, np.generic):
            out = np.asarray(out)
        elif isinstance(out, tuple):
            out = tuple(np.asarray(o) if isinstance(o, np.generic) else o for o in out)
        rec.on_kernel(name, fn, args, kwargs, out)
        return out

    proxy.__wrapped__ = fn
    return proxy


def _outputs(result):
    if isinstance(result, Tensor):
        return (result,)
    if isinstance(result, tuple):
        return tuple(r for r in result if isinstance(r, Tensor))
    return ()


def _recording_apply(cls, *args, **kwargs):
    rec = _ACTIVE[0]
    apply = rec._saved["apply"].__func__
    if rec.depth:
        return apply(cls, *args, **kwargs)
    for a in args:
        if isinstance(a, Tensor) and a.grad_fn is None:
            rec.leaves.setdefault(id(a), a)
    rec._module()
    inside_backward = any(phase == "backward" for _, phase in rec.ops)
    rec.ops.append((cls.__name__, "backward" if inside_backward else "forward"))
    try:
        result = apply(cls, *args, **kwargs)
    finally:
        rec.ops.pop()
    # Provenance: an output no kernel made, of an op that read an input, a
    # parameter, a kernel result or something derived from them, is itself
    # derived data, never a constant (whatever its values in two recordings).
    sourced = None
    for out in _outputs(result):
        if not rec.produced(out.data):
            if sourced is None:
                sourced = any(isinstance(a, Tensor) and (
                    a.requires_grad or a.is_parameter or rec.sourced(a.data)) for a in args)
            if sourced:
                rec.derive(out.data)
        if not rec.produced(out.data) and not _is_leaf_memory(rec, out.data):
            rec.problem(cls.__name__, "its forward returns an array that no kernel of the "
                        "kernel table computed (NumPy called directly); a replay would "
                        "reuse the first call's values. Call kernels through K, or declare "
                        "the computation as a kernel")
    node = next((o.grad_fn for o in _outputs(result) if o.grad_fn is not None), None)
    if node is not None and "backward" not in vars(node):
        node.backward = _recording_backward(rec, cls)
    return result


def _is_leaf_memory(rec, array):
    """Whether `array` is a view (its root was vetted where it was made) or a leaf's data."""
    r = root_of(array)
    if r is not array:
        return True
    for t in rec.leaves.values():
        if root_of(t.data) is r:
            return True
    return False


def _recording_backward(rec, cls):
    def backward(ctx, *grads):
        rec.ops.append((cls.__name__, "backward"))
        try:
            out = cls.backward(ctx, *grads)
        finally:
            rec.ops.pop()
        passed_on = {id(g.data) for g in grads if isinstance(g, Tensor)}
        for g in out if isinstance(out, tuple) else (out,):
            # A gradient passed on unchanged (a + b) was vetted where it was made.
            if isinstance(g, Tensor) and id(g.data) not in passed_on and not rec.produced(
                    g.data) and not _is_leaf_memory(rec, g.data):
                rec.problem(cls.__name__, "its backward returns a gradient that no kernel "
                            "of the kernel table computed (NumPy called directly)")
        return out

    return backward


def _recording_accumulate(a, b, create_graph):
    if a is None:
        return b
    if b is None:
        return a
    if create_graph:
        return a + b
    return Tensor._wrap(K.add(a.data, b.data))


def _recording_run_backward(roots, root_grads, retain_graph=False, create_graph=False,
                            inputs=None):
    rec = _ACTIVE[0]
    if create_graph:
        rec.problem("backward(create_graph=True)", "higher-order gradients build a graph "
                    "at every step; such steps run eager")
    rec.ops.append(("engine", "backward"))
    try:
        return rec._saved[("engine", "run_backward")](roots, root_grads, retain_graph,
                                                      create_graph, inputs)
    finally:
        rec.ops.pop()


def _recording_store_leaf_grad(leaf, g, create_graph, handed_out):
    rec = _ACTIVE[0]
    if create_graph:
        return rec._saved[("engine", "_store_leaf_grad")](leaf, g, create_graph, handed_out)
    arr = g.data
    if arr.base is not None or id(arr) in handed_out:
        arr = rec.call("copy", _copy, arr)
    handed_out.add(id(arr))
    if arr.dtype != leaf.dtype:
        arr = rec.call("astype", _astype, arr, leaf.dtype)
    if leaf.grad is not None:
        arr = K.add(leaf.grad.data, arr)
    leaf.grad = Tensor._wrap(arr)
    rec.grad_tensors.setdefault(id(leaf), leaf)
    rec.events.append(SetGrad(leaf, arr))


def _segment_methods():
    """(class, attribute, label) of every method replayed as a segment."""
    found = []
    for base, attrs in ((Optimizer, ("step", "zero_grad")), (Schedule, ("step",)),
                        (Module, ("zero_grad",))):
        todo, seen = [base], set()
        while todo:
            cls = todo.pop()
            if cls in seen:
                continue
            seen.add(cls)
            todo.extend(cls.__subclasses__())
            for attr in attrs:
                if attr in vars(cls):
                    found.append((cls, attr, f"{cls.__name__}.{attr}"))
    return found


def _segment_wrapper(rec, original, label):
    def method(self, *args, **kwargs):
        if rec.depth:
            return original(self, *args, **kwargs)
        closure = args[0] if args else kwargs.get("closure")
        if label.endswith(".step") and callable(closure):
            rec.problem(label, "step(closure) re-evaluates the model inside the "
                        "optimizer; such steps run eager")
        rec.depth += 1
        rec.inner = inner = []
        try:
            out = original(self, *args, **kwargs)
        finally:
            rec.depth -= 1
            rec.inner = None
        rec.events.append(Segment(label, original, (self, args, kwargs), inner))
        return out

    method.__wrapped__ = original
    return method


def _inplace_ufunc(ufunc, a, b):
    """a ← ufunc(a, b) in a's memory (``x -= y`` and friends, as a recorded kernel)."""
    ufunc(a, b, out=a, casting="same_kind")


def _recording_arith(rec, original):
    """``x += y``, ``x -= y``, ``x *= y``, ``x /= y``: without a graph, a recorded kernel."""

    def method(self, what, ufunc, op, other):
        from graphgrad.autograd.grad_mode import STATE

        graph = STATE.enabled and (self.requires_grad or (
            isinstance(other, Tensor) and other.requires_grad))
        if rec.depth or graph:
            if not rec.depth:
                rec.problem(f"Tensor {what}", "an in-place change recorded in the graph "
                            "copies the tensor with NumPy; do it under gg.no_grad() or "
                            "out of place")
            return original(self, what, ufunc, op, other)
        rec.call(f"inplace_{ufunc.__name__}", _inplace_ufunc, ufunc, self.data,
                 other.data if isinstance(other, Tensor) else other)
        self._version[0] += 1
        return self

    return method


def _recording_inplace(rec, original):
    """copy_, fill_, add_, sub_, mul_, x[...] = v: NumPy writes a replay would not repeat."""

    def method(self, what, value):
        if not rec.depth:
            rec.problem(f"Tensor.{what}", "changes a tensor's data in place with NumPy, "
                        "which a replay would not repeat; use x -= y / x += y under "
                        "gg.no_grad() (recorded), or an optimizer")
        return original(self, what, value)

    return method


def _value_read_wrapper(rec, original, attr):
    def method(self, *args, **kwargs):
        if not rec.depth:
            what = f"Tensor.{attr}()" if not attr.startswith("__") else f"{attr.strip('_')}()"
            rec.problem(what, "the step reads a tensor value into Python; a replay cannot "
                        "produce Python values (return the tensor and read it after the "
                        "step instead)")
        return original(self, *args, **kwargs)

    return method
