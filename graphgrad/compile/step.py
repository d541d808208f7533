"""CompiledStep: the callable ``gg.compile(fn)`` returns (record, check, replay, fall back)."""

from __future__ import annotations

import time
import warnings

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.compile.guards import Guard, signature
from graphgrad.compile.plan import NotReplayable, Plan, check_same
from graphgrad.compile.recorder import Recorder
from graphgrad.compile.values import ValueWatch
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

    def __init__(self, fn, *, max_plans: int = 8, fuse: bool = True, validate: int = 0,
                 validate_first: int = 0):
        if not callable(fn):
            raise TypeError(f"gg.compile: expected a callable step, got {type(fn).__name__}")
        if max_plans < 1:
            raise ValueError(f"gg.compile: max_plans must be >= 1, got {max_plans}")
        if int(validate) < 0 or int(validate_first) < 0:
            raise ValueError(f"gg.compile: validate and validate_first must be >= 0, got "
                             f"{validate} and {validate_first}")
        self.fn, self.max_plans, self.fuse = fn, int(max_plans), bool(fuse)
        self.validate, self.validate_first = int(validate), int(validate_first)
        self.validations = 0  # replays checked against an eager run
        self.mismatches = []  # (what differed, how much) of each failed validation
        self._watch = ValueWatch(fn)
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
        values = self._watch.read() if self._watch.names else ()
        if plans:
            reason = None  # why the newest plan (tried first) may not replay
            for plan in plans:
                if plan.guard.values != values:
                    reason = reason or self._watch.changed(plan.guard.values, values)
                    continue
                why = plan.guard.check()
                reason = reason or why
                if why is None:
                    self.replays += 1
                    if self.validate_first or self.validate:
                        n = self.replays
                        if n <= self.validate_first or (self.validate
                                                        and n % self.validate == 0):
                            return self._validated(key, plan, flat, args, kwargs)
                    return plan.replay(flat)
            self.last_reason = reason
            if not reason.endswith("mode") and "new data" not in reason:
                self._warn(("changed", reason), f"gg.compile: {self._name} records again: "
                           f"{reason}")
        if key in self._eager:
            return self.fn(*args, **kwargs)
        self._stale(key)
        return self._record(key, flat, len(args), keys, values)

    def _validated(self, key, plan, flat, args, kwargs):
        from graphgrad.compile.validate import validate_replay

        self.validations += 1
        result, mismatch = validate_replay(plan, flat, lambda: self.fn(*args, **kwargs))
        if mismatch is not None:
            self.mismatches.append(mismatch)
            self._plans.pop(key, None)
            self._fall_back(key, "validation", f"a replay differed from eager: {mismatch}; "
                            "the step runs eager from now on (please report this as a "
                            "gg.compile bug, with the step)")
        return result

    def _call(self, flat, n, keys):
        return self.fn(*flat[:n], **dict(zip(keys, flat[n:])))

    # ------------------------------------------------------------- recording
    def _record(self, key, flat, n, keys, values=()):
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
        guard = Guard(rec, exclude=rec.input_tensors, values=values)
        if rec.problems:
            self._fall_back(key, *rec.problems[0])
            return result
        pending = self._pending.pop(key, None)
        if (pending is None or pending[1].snapshot() != guard.snapshot()
                or pending[3] is not None):
            # (a module, optimizer or closed-over value changed between the two
            # recordings: this one is the first of a new pair)
            self._pending[key] = (rec, guard, result, None)
            return result
        try:
            constants = check_same(pending[0], rec)
            if constants and _same_inputs(pending[0], rec) and any(
                    a.size > 1 for _, a in constants):
                # Both calls got the same data, so an array equal in both may still
                # come from it (NumPy outside the kernel table): wait for new data.
                self.last_reason = (f"{constants[0][0]}: an array is the same in both "
                                    "recordings and so were the inputs")
                self._pending[key] = (rec, guard, result, None)
                return result
            if not _same_result(pending[2], result):
                raise NotReplayable("the step's return value", "differs between calls in "
                                    "something that is not a tensor")
            plan = Plan(rec, inputs, result, get_backend(), guard)
            plan.constants = [(op, a.shape, a.dtype.str) for op, a in constants]
            plan.watched = tuple(self._watch.names)
            if self.fuse:
                from graphgrad.compile.fusion import fuse_plan

                fuse_plan(plan)
            plan.finish()
            from graphgrad.compile import codegen

            if codegen.enabled():
                try:
                    codegen.build(plan)
                except Exception as exc:  # noqa: BLE001 - the entry loop still replays it
                    plan.codegen_error = f"{type(exc).__name__}: {exc}"
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

    def _stale(self, key):
        """Before the second recording: did anything the first depended on change?"""
        pending = self._pending.get(key)
        if pending is not None and pending[3] is None:
            self._pending[key] = pending[:3] + (pending[1].check(),)

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

    def source(self) -> str | None:
        """The generated source of the latest plan's replay (None: it replays the entry loop)."""
        return None if self.plan is None else self.plan.source_text

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


def _same_inputs(first, second) -> bool:
    """Whether the two recordings got inputs of equal value."""
    return all(np.array_equal(x, y) for x, y in zip(first.input_arrays, second.input_arrays))


def _same_result(a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_result(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape
    return a == b if not isinstance(a, np.ndarray) else False


def compile(fn=None, *, max_plans: int = 8, fuse: bool = True, validate: int = 0,  # noqa: A001
            validate_first: int = 0):
    """Record ``fn`` once per input signature and replay it as a plan of (fused) kernels.

    ``fn(*inputs)`` is a whole training step (zero the gradients, forward,
    loss, backward, optimizer and schedule steps) or a forward alone; it
    returns Tensors (returned as detached copies), tuples/lists of them,
    numbers or None.  Its tensor arguments are the inputs: a call with new
    shapes, dtypes or ``requires_grad`` records again, and so does a change of
    anything guarded (module structure and hyperparameters, parameter
    objects, optimizer state arrays, scalar closure cells and globals).
    ``max_plans`` bounds the plans kept per step (a warning says when it
    keeps re-recording); ``fuse=False`` replays kernel by kernel.
    ``validate=N`` runs every N-th replay also eagerly from the same state and
    compares (``validate_first=K``: the first K replays); a difference warns,
    naming the first differing array, and the step runs eager from then on.
    Usable as a decorator, with or without arguments.  See ``docs/compile.md``.
    """
    opts = dict(max_plans=max_plans, fuse=fuse, validate=validate,
                validate_first=validate_first)
    if fn is None:
        return lambda f: CompiledStep(f, **opts)
    return CompiledStep(fn, **opts)
