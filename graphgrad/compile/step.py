"""CompiledStep: the callable ``gg.compile(fn)`` returns (record, check, replay, fall back)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.compile.guards import Guard, signature
from graphgrad.compile.plan import NotReplayable, Plan, check_same
from graphgrad.compile.recorder import Recorder
from graphgrad.kernels import get_backend


class CompileWarning(UserWarning):
    """A compiled step runs eager (named op, and why) or keeps re-recording."""


class CompiledStep:
    """``fn`` recorded once per input signature and replayed as a plan of kernels.

    The first call with a new signature runs ``fn`` eagerly while recording
    it; the second call records it again and compares the two recordings
    (what differs only in data is a buffer, what is identical is a constant,
    anything else makes the step unreplayable); from then on calls replay the
    plan.  ``step.plan`` is the latest plan, ``step.explain()`` describes it,
    ``gg.to_dot(step)`` draws it.
    """

    def __init__(self, fn, *, max_plans: int = 8, fuse: bool = True):
        if not callable(fn):
            raise TypeError(f"gg.compile: expected a callable step, got {type(fn).__name__}")
        if max_plans < 1:
            raise ValueError(f"gg.compile: max_plans must be >= 1, got {max_plans}")
        self.fn, self.max_plans, self.fuse = fn, int(max_plans), bool(fuse)
        self.__wrapped__ = fn
        self.__doc__ = getattr(fn, "__doc__", None)
        self._plans = {}  # signature -> [Plan]
        self._pending = {}  # signature -> (Recorder, Guard) of a first recording
        self._eager = {}  # signature -> (op, why)
        self._warned = set()
        self.plan = None
        self.fallbacks = []  # (op, why) of every signature that runs eager
        self.recordings = 0
        self.replays = 0
        self.evictions = 0
        self.record_seconds = []
        self.last_reason = None  # why the last call did not replay

    # ------------------------------------------------------------------ call
    def __call__(self, *args, **kwargs):
        if kwargs:
            keys = sorted(kwargs)
            flat = list(args) + [kwargs[k] for k in keys]
            key = signature(flat) + (tuple(keys),)
        else:
            keys, flat = (), args
            key = signature(args)
        plans = self._plans.get(key)
        if plans:
            for plan in plans:
                reason = plan.guard.check()
                if reason is None:
                    self.replays += 1
                    return plan.replay(flat)
            self.last_reason = reason
        if key in self._eager:
            return self.fn(*args, **kwargs)
        return self._record(key, flat, len(args), keys)

    def _call(self, flat, n, keys):
        return self.fn(*flat[:n], **dict(zip(keys, flat[n:])))

    # ------------------------------------------------------------- recording
    def _record(self, key, flat, n, keys):
        start = time.perf_counter()
        rec = Recorder()
        inputs, swapped, call_args = [], [], list(flat)
        rec.input_tensors = {}
        owned = {}
        for pos, a in enumerate(flat):
            if isinstance(a, Tensor):
                buf = owned.get(id(a))
                if buf is None:
                    buf = owned[id(a)] = np.array(a.data, copy=True)
                    swapped.append((a, a.data))
                    a.data = buf
                rec.input_tensors.setdefault(id(a), pos)
            elif isinstance(a, np.ndarray):
                buf = call_args[pos] = np.array(a, copy=True)
            else:
                continue
            inputs.append((pos, buf))
            rec.add_input(buf, pos)
        try:
            with rec:
                result = self._call(call_args, n, keys)
        finally:
            for t, data in swapped:
                t.data = data
        self.recordings += 1
        guard = Guard(rec, exclude=rec.input_tensors)
        if rec.problems:
            self._fall_back(key, *rec.problems[0])
            return result
        pending = self._pending.pop(key, None)
        if pending is None or pending[1].snapshot() != guard.snapshot():
            self._pending[key] = (rec, guard, result)
            return result
        try:
            check_same(pending[0], rec)
            if not _same_result(pending[2], result):
                raise NotReplayable("the step's return value", "differs between calls in "
                                    "something that is not a tensor")
            plan = Plan(rec, inputs, result, get_backend(), guard)
            if self.fuse:
                from graphgrad.compile.fusion import fuse_plan

                fuse_plan(plan)
            plan.finish()
        except NotReplayable as exc:
            self._fall_back(key, exc.op, exc.why)
            return result
        plan.record_seconds = time.perf_counter() - start
        self.record_seconds.append(plan.record_seconds)
        self._store(key, plan)
        return plan.result()

    def _store(self, key, plan):
        plan.serial = self.recordings
        plans = self._plans.setdefault(key, [])
        plans.insert(0, plan)
        self.plan = plan
        total = sum(len(p) for p in self._plans.values())
        if total > self.max_plans:
            oldest = min(self._plans.items(), key=lambda kv: min(p.serial for p in kv[1]))
            oldest[1].sort(key=lambda p: p.serial)
            oldest[1].pop(0)
            if not oldest[1]:
                del self._plans[oldest[0]]
            self.evictions += 1
            self._warn(("evict",), f"gg.compile: {self._name} keeps re-recording (more than "
                       f"{self.max_plans} input signatures or guard states; the last reason: "
                       f"{self.last_reason or 'a new input signature'}); the oldest plan was "
                       "dropped. Keep shapes, modes and parameters fixed between calls, or "
                       "raise max_plans")

    def _fall_back(self, key, op, why):
        self._eager[key] = (op, why)
        self.fallbacks.append((op, why))
        self._warn(("eager", op), f"gg.compile: {self._name} runs eager: {op}: {why}")

    def _warn(self, tag, message):
        if tag not in self._warned:
            self._warned.add(tag)
            warnings.warn(message, CompileWarning, stacklevel=4)

    @property
    def _name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)

    # ------------------------------------------------------------ inspection
    def explain(self, file=None) -> str:
        """What was fused, what falls back and why, buffer memory and launches per step."""
        from graphgrad.compile.explain import explain

        text = explain(self)
        if file is not None:
            print(text, file=file)
        return text

    def to_dot(self, show_source: bool = False):
        """The latest plan as a ``graphviz.Digraph`` (fused kernels drawn as clusters)."""
        from graphgrad.compile.explain import to_dot

        return to_dot(self, show_source=show_source)

    def __graphgrad_dot__(self):
        return self.to_dot()

    def __repr__(self) -> str:
        state = f"{sum(len(p) for p in self._plans.values())} plan(s)"
        if self._eager:
            state += f", {len(self._eager)} eager signature(s)"
        return f"<gg.compile of {self._name}: {state}>"


def _same_result(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_result(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape
    return a == b if not isinstance(a, np.ndarray) else False


def compile(fn=None, *, max_plans: int = 8, fuse: bool = True):  # noqa: A001 - the API's name
    """Record ``fn`` once per input signature and replay it as a plan of (fused) kernels.

    ``fn(*inputs)`` is a whole training step (zero the gradients, forward,
    loss, backward, optimizer and schedule steps) or a forward alone; it
    returns Tensors (returned as detached copies), tuples/lists of them,
    numbers or None.  Its tensor arguments are the inputs: a call with new
    shapes, dtypes or ``requires_grad`` records again.  ``max_plans`` bounds the
    plans kept per step (a warning says when it keeps re-recording);
    ``fuse=False`` replays kernel by kernel.  Usable as a decorator, with or
    without arguments.  See ``docs/compile.md``.
    """
    if fn is None:
        return lambda f: CompiledStep(f, max_plans=max_plans, fuse=fuse)
    return CompiledStep(fn, max_plans=max_plans, fuse=fuse)
