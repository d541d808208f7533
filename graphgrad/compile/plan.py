"""The plan: a recorded step as a flat list of calls over preallocated buffers.

Built from two recordings of the same step (see ``step.py``): the second one
supplies the buffers, the first one proves which arrays are constants.  Every
array a kernel produced while recording *is* its buffer at replay: a replay
writes each kernel's result into the array that kernel returned when recorded,
so views taken of it (reshape, transpose, the ``.grad`` handed to the
optimizer) stay valid without being rebuilt.  Nothing else is created at
replay: no Tensor, no Function node, no graph.

Entry kinds, in step order:

* ``kernel``: ``fn(*args)`` written into its output buffer(s) (``out=`` for
  the ufunc-shaped kernels and for ``matmul_t_flat``, a matmul on fixed views
  of its arguments; else a copy);
* ``fused``: one generated kernel standing for a chain of elementwise kernels
  (``fusion.py``);
* ``segment``: a Python method called again (optimizer and schedule steps,
  ``zero_grad``), so hyperparameters and counters are read live;
* ``update``: a first-order optimizer's step as its update kernels, the
  learning rate read from its param group at every replay;
* ``grad``: ``tensor.grad`` set to a Tensor over its gradient buffer;
* ``allreduce``: the gradient buffers summed over the MPI ranks in place
  (``graphgrad.distributed.GradientAllReduce``), called live between the
  backward and the optimizer's update.
"""

from __future__ import annotations

import numpy as np

from graphgrad import random as _random
from graphgrad.autograd.tensor import Tensor
from graphgrad.compile.recorder import KernelCall, LiveCall, Segment, SetGrad, flat_arrays, root_of
from graphgrad.compile.updates import direct_optimizer_step


class Entry:
    """One step of a plan: what it runs, what it reads and writes, and where it came from."""

    __slots__ = ("kind", "label", "ops", "module", "phase", "reads", "writes", "run",
                 "source", "event", "tensor")

    def __init__(self, kind, label, run, *, ops=(), module=None, phase="step", reads=(),
                 writes=(), source=None, event=None):
        self.kind, self.label, self.run = kind, label, run
        self.ops, self.module, self.phase = list(ops), module, phase
        self.reads, self.writes = list(reads), list(writes)
        self.source, self.event = source, event
        self.tensor = None  # a grad entry: the tensor whose .grad it sets

    def __repr__(self) -> str:
        return f"<{self.kind} {self.label}>"


class NotReplayable(Exception):
    """The recorded step cannot be replayed: `op` is what stands in the way, `why` says how."""

    def __init__(self, op, why):
        super().__init__(f"{op}: {why}")
        self.op, self.why = op, why


# Kernels whose result NumPy computes bit-identically straight into a buffer.
_OUT_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
               "neg": np.negative, "matmul": np.matmul}


def _matmul_t_flat_views(a, b):
    """matmul_t_flat's (A2ᵀ, B2) as views of its C-contiguous operands (then the replay is
    ``np.matmul(A2ᵀ, B2, out=buf)``); None when a reshape would copy."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            and a.flags.c_contiguous and b.flags.c_contiguous and a.ndim and b.ndim):
        return None
    return a.reshape(-1, a.shape[-1]).T, b.reshape(-1, b.shape[-1])


# Kernels that are np.matmul on fixed views of their arguments: the views are taken
# once when the plan is built and the product runs straight into the buffer.
_OUT_VIEWS = {"matmul_t_flat": _matmul_t_flat_views}


# ------------------------------------------------------------- validation
def _geometry(a):
    r = root_of(a)
    offset = a.__array_interface__["data"][0] - r.__array_interface__["data"][0]
    return r, (offset, a.shape, a.strides, a.dtype.str)


def _describe(a, rec):
    """('buf', producer, geometry) or ('ext', root, geometry): where an argument comes from."""
    r, geo = _geometry(a)
    index = rec.known.get(id(a), rec.known.get(id(r)))
    if index is not None:
        return ("buf", index, geo if index != rec.known.get(id(a)) else None)
    return ("ext", r, geo)


def _same_value(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b,
                                                                                 equal_nan=True))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, np.random.Generator) or isinstance(b, np.random.Generator):
        return a is b
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - incomparable objects: compare identity
        return a is b


def _op_name(ev):
    return ev.op or f"kernel {ev.name}"


def check_same(first, second):
    """Raise NotReplayable where two recordings of one step differ in more than their data.

    Returns the constants: ``(op, array)`` of each array argument made afresh
    in both calls with the same value and no data origin (provenance: not an
    input, a kernel result, or derived from them).
    """
    constants = []
    ea, eb = first.events, second.events
    if len(ea) != len(eb) or any(type(a) is not type(b) for a, b in zip(ea, eb)) or any(
            isinstance(a, KernelCall) and a.name != b.name for a, b in zip(ea, eb)):
        op = _first_difference(ea, eb)
        raise NotReplayable(op, "the step ran different kernels on its second call than on "
                            "its first (Python control flow that depends on tensor values, "
                            "or state created lazily outside an optimizer); it runs eager")
    for a, b in zip(ea, eb):
        if isinstance(b, Segment):
            if a.owner[0] is not b.owner[0]:
                raise NotReplayable(b.label, "called on a different object in each call")
            continue
        if isinstance(b, SetGrad):
            continue
        if isinstance(b, LiveCall):
            _check_live(a, b, first, second)
            continue
        pairs = list(zip(_live_marked(a), _live_marked(b)))
        pairs += [(a.kwargs.get(k), v) for k, v in b.kwargs.items()]
        pairs = [p for x, y in pairs for p in _leaves(x, y)]
        for i, (x, y) in enumerate(pairs):
            if isinstance(y, np.ndarray):
                if not isinstance(x, np.ndarray):
                    raise NotReplayable(_op_name(b), f"argument {i} of kernel {b.name} is "
                                        "an array in one call and not in the other")
                dx, dy = _describe(x, first), _describe(y, second)
                if dx[0] == "buf" and dy[0] == "buf":
                    if dx[1:] != dy[1:] and not (dx[1] < 0 and dx[1] == dy[1]):
                        raise NotReplayable(_op_name(b), f"argument {i} of kernel {b.name} "
                                            "comes from a different kernel in each call")
                    continue
                if dx[0] == "ext" and dy[0] == "ext" and dx[1] is dy[1] and dx[2] == dy[2]:
                    continue  # the same persistent array (a parameter, state, a buffer)
                if dx[0] == "ext" and dy[0] == "ext" and _same_value(x, y):
                    if second.sourced(y) or first.sourced(x):
                        raise NotReplayable(_op_name(b), f"argument {i} of kernel {b.name} "
                                            "is computed from the step's inputs or "
                                            "parameters outside the kernel table (NumPy "
                                            "called directly); a replay would reuse this "
                                            "call's values. Call kernels through K in the op")
                    constants.append((_op_name(b), y))
                    continue  # a constant made afresh each call, with no data origin
                raise NotReplayable(_op_name(b), f"argument {i} of kernel {b.name} is an "
                                    "array computed from the data with NumPy directly, not "
                                    "by a kernel; a replay would reuse the first call's "
                                    "values. Call kernels through K in the op")
            elif not _same_value(x, y):
                raise NotReplayable(_op_name(b), f"argument {i} of kernel {b.name} changes "
                                    f"between calls ({x!r} then {y!r}): a Python number "
                                    "computed from the data or a counter cannot be baked "
                                    "into a plan")
    return constants


def _check_live(a, b, first, second):
    """Two recordings of a live call (the all-reduce) must act on the same buffers."""
    if a.fn != b.fn or len(a.arrays) != len(b.arrays):
        raise NotReplayable(b.label, "called on different objects or a different number of "
                            "gradients in each call")
    for x, y in zip(a.arrays, b.arrays):
        dx, dy = _describe(x, first), _describe(y, second)
        if dy[0] != "buf" or dx[1:] != dy[1:]:
            raise NotReplayable(b.label, "a gradient it reduces is not a buffer of the step "
                                "(set outside the backward), or comes from a different "
                                "kernel in each call")


class _GlobalGenerator:
    """Stands for the global random generator in a recorded call: two recordings
    around a ``gg.manual_seed`` agree on it (the replay reads it live)."""

    def __repr__(self):
        return "the global random generator"


_GLOBAL_GENERATOR = _GlobalGenerator()


def _live_marked(ev):
    return [_GLOBAL_GENERATOR if i in ev.live else a for i, a in enumerate(ev.args)]


def _leaves(x, y):
    """Pairs of corresponding leaves of two arguments (inside tuples and lists)."""
    if (isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)) and len(x) == len(y)
            and (flat_arrays(x) or flat_arrays(y))):
        return [p for u, v in zip(x, y) for p in _leaves(u, v)]
    return [(x, y)]


def _first_difference(ea, eb):
    for a, b in zip(ea, eb):
        if type(a) is not type(b) or (isinstance(a, KernelCall) and a.name != b.name):
            return _label(b)
    longer = eb if len(eb) > len(ea) else ea
    return _label(longer[min(len(ea), len(eb))]) if longer else "the step"


def _label(ev):
    if isinstance(ev, KernelCall):
        return _op_name(ev)
    if isinstance(ev, Segment):
        return ev.label
    return "gradient store"


# ---------------------------------------------------------------- building
class Plan:
    """A replayable step: entries over buffers, the inputs' buffers, the outputs' spec."""

    def __init__(self, rec, inputs, result, backend, guard):
        self.backend = backend
        self.guard = guard
        self.inputs = inputs  # [(position, buffer)] for array/Tensor arguments
        self.args = [None]  # the current call's arguments (grad targets that are inputs)
        self.buffers = {}  # id(root) -> root array, every buffer a kernel writes
        self.entries = []
        self.eager_launches = 0
        self.fused_groups = []
        self._input_tensors = rec.input_tensors
        # What the replay depends on besides its buffers (explain() and codegen read it):
        self.constants = []  # (op, shape, dtype) of arrays proven constant (no data origin)
        self.literals = []  # (value, kernel, op, module, "file:line") of numbers given to kernels
        self.watched = ()  # names of the closure cells and globals guarded by value
        for index, ev in enumerate(rec.events):
            if isinstance(ev, KernelCall):
                self.eager_launches += 1
                self.literals += [(a, ev.name, ev.op, ev.module, ev.where)
                                  for a in list(ev.args) + list(ev.kwargs.values())
                                  if isinstance(a, (int, float, np.floating, np.integer))
                                  and not isinstance(a, bool)]
                self.entries.append(self._kernel_entry(ev, index, rec))
            elif isinstance(ev, Segment):
                self.eager_launches += len(ev.inner)
                self.entries.append(self._segment_entry(ev))
            elif isinstance(ev, SetGrad):
                self.entries.append(self._grad_entry(ev.tensor, ev.array))
            elif isinstance(ev, LiveCall):
                self.entries.append(_live_entry(ev))
        self.final_grads = [self._grad_entry(t, None if t.grad is None else t.grad.data)
                            for t in rec.grad_tensors.values()]
        self.result_arrays = []
        self.result = _result_spec(result, self.result_arrays)
        self.run_list = []
        self.generated = None  # the generated replay (codegen.py), when built
        self.source_text = None
        self.source_path = None
        self.codegen_error = None  # why codegen failed (the entry loop replays then)

    # --------------------------------------------------------------- entries
    def _kernel_entry(self, ev, index, rec):
        args, kwargs = list(ev.args), dict(ev.kwargs)
        live = list(ev.live)
        outs = ev.result if isinstance(ev.result, tuple) else (ev.result,)
        buffers = []
        for out in outs:
            new = isinstance(out, np.ndarray) and rec.known.get(id(out)) == index
            buffers.append(out if new else None)
            if new:
                self.buffers[id(out)] = out
        reads = flat_arrays(args) + flat_arrays(kwargs)
        writes = [b for b in buffers if b is not None]
        if not isinstance(ev.result, np.ndarray) and ev.result is None:
            writes += reads  # an in-place kernel (optimizer update, running statistics)
        run = _kernel_runner(ev.name, ev.fn, args, kwargs, live, buffers,
                             isinstance(ev.result, tuple))
        return Entry("kernel", ev.name, run, ops=[(ev.op, ev.phase)], module=ev.module,
                     phase=ev.phase, reads=reads, writes=writes, event=ev)

    def _segment_entry(self, ev):
        method, (owner, args, kwargs) = ev.method, ev.owner
        direct = direct_optimizer_step(ev)
        if direct is not None:
            run, reads, writes = direct
            self.guard.watch_hyperparameters(owner)
            return Entry("update", ev.label, run, ops=[(ev.label, "update")], phase="update",
                         reads=reads, writes=writes, source=len(ev.inner), event=ev)

        def run():
            method(owner, *args, **kwargs)

        return Entry("segment", ev.label, run, ops=[(ev.label, "update")], phase="update",
                     event=ev)

    def _grad_entry(self, tensor, array):
        grad = None if array is None else Tensor._wrap(array)
        slot = self._input_tensors.get(id(tensor))
        if slot is not None:
            cell = self.args

            def run():
                cell[0][slot].grad = grad
        else:

            def run():
                tensor.grad = grad

        run.spec = ("grad", tensor if slot is None else slot, grad)
        entry = Entry("grad", f"{tensor.name or 'tensor'}.grad", run, phase="backward",
                      reads=[] if array is None else [array])
        entry.tensor = tensor
        return entry

    # ---------------------------------------------------------------- replay
    def finish(self):
        """Freeze the list of callables a replay runs."""
        self.run_list = [e.run for e in self.entries] + [e.run for e in self.final_grads]

    def replay(self, args):
        """Run the plan on new inputs (same signature as recorded); returns the step's outputs.

        The generated straight-line replay (``codegen.py``) when one was built,
        else the entry loop (:meth:`replay_entries`).
        """
        if self.generated is not None:
            return self.generated(args)
        return self.replay_entries(args)

    def replay_entries(self, args):
        """The entry loop: each entry's callable in step order (the fallback, and explain()'s)."""
        for pos, buf in self.inputs:
            a = args[pos]
            np.copyto(buf, a.data if isinstance(a, Tensor) else a)
        self.args[0] = args
        for run in self.run_list:
            run()
        return self.result()

    @property
    def launches(self) -> int:
        """Kernel launches per replay (fused groups count once)."""
        return sum(e.source if e.kind == "update" else 1 for e in self.entries
                   if e.kind in ("kernel", "fused", "update"))

    @property
    def buffer_bytes(self) -> int:
        """Bytes of the buffers the plan owns (kernel outputs and inputs)."""
        total = sum(b.nbytes for b in self.buffers.values())
        return total + sum(b.nbytes for _, b in self.inputs)


def _live_entry(ev):
    fn, arrays = ev.fn, ev.arrays

    def run():
        fn(arrays)

    return Entry(ev.kind, ev.label, run, phase="backward",
                 reads=list(arrays), writes=list(arrays), event=ev)


def _kernel_runner(name, fn, args, kwargs, live, buffers, is_tuple):
    copyto = np.copyto
    if live:  # the global generator: read at each replay (gg.manual_seed replaces it)
        generator = _random._GENERATOR
        call_args = args

        def call():
            a = list(call_args)
            for i in live:
                a[i] = generator[0]
            return fn(*a, **kwargs)
    elif kwargs:
        def call():
            return fn(*args, **kwargs)
    else:
        def call():
            return fn(*args)

    if is_tuple:
        pairs = [(i, b) for i, b in enumerate(buffers) if b is not None]

        def run():
            res = call()
            for i, b in pairs:
                copyto(b, res[i])

        run.spec = ("tuple", fn, args, kwargs, live, pairs)
        return run
    buf = buffers[0]
    if buf is None:
        call.spec = ("call", fn, args, kwargs, live, None)
        return call
    ufunc, ufunc_args = _OUT_UFUNCS.get(name), args
    views = _OUT_VIEWS.get(name)
    if views is not None and not kwargs and not live:
        flat = views(*args)
        if flat is not None:  # the kernel as np.matmul on views; `args` stay the kernel's own
            ufunc, ufunc_args = np.matmul, list(flat)
    if (ufunc is not None and not kwargs and not live
            and _ufunc_matches(ufunc, ufunc_args, buf)):
        if len(ufunc_args) == 2:
            a0, a1 = ufunc_args

            def run():
                ufunc(a0, a1, out=buf)
        else:
            (a0,) = ufunc_args

            def run():
                ufunc(a0, out=buf)
        run.spec = ("ufunc", ufunc, tuple(ufunc_args), buf)
        return run

    def run():
        copyto(buf, call())

    run.spec = ("call", fn, args, kwargs, live, buf)
    return run


def _ufunc_matches(ufunc, args, buf):
    try:
        trial = ufunc(*args)
    except Exception:  # noqa: BLE001 - the kernel takes arguments the ufunc does not
        return False
    return isinstance(trial, np.ndarray) and trial.shape == buf.shape and trial.dtype == buf.dtype


def _result_spec(result, arrays):
    """A function giving the step's outputs after a replay (copies of the buffers)."""
    if isinstance(result, Tensor):
        arr = result.data
        arrays.append(arr)

        def tensor_out():
            return Tensor._wrap(arr.copy())

        return tensor_out
    if isinstance(result, (tuple, list)):
        parts = [_result_spec(r, arrays) for r in result]
        kind = type(result)

        def seq_out():
            return kind(p() for p in parts)

        return seq_out
    if isinstance(result, np.ndarray):
        arr = result
        arrays.append(arr)
        return lambda: arr.copy()
    if result is None or isinstance(result, (bool, int, float, str)):
        return lambda: result
    raise NotReplayable("the step's return value", f"a {type(result).__name__} cannot be "
                        "rebuilt by a replay; return Tensors, arrays, tuples/lists of them, "
                        "numbers or None")
