"""Code generation: a plan's whole replay as one generated, straight-line Python function.

The entry loop (``Plan.replay_entries``) calls one closure per entry, and each
closure unpacks its arguments again.  Here the plan is walked once and written
out as source: one line per entry over the plan's own buffers, which the
generated module receives as numbered slots (``s0, s1, ...``, unpacked into
closure locals once, so the source holds no data and is the same for every
plan of the same structure)::

    np.matmul(s3, s4, out=s5)           # kernel matmul (MatMul.forward)
    s6(*s7)                             # fused_0: add -> tanh
    s9.grad = s10                       # weight.grad (a Tensor over its buffer, made once)
    update_0(float(s12["lr"]), s13, ...)  # Optimizer.step: one @njit call per group

* fused elementwise runs call their generated Numba kernel (``fusion.py``);
* a first-order optimizer's step whose update kernels are ``sgd_update`` on
  C-contiguous arrays is one generated ``@njit`` function per plan, calling the
  SGD loop for every parameter (the learning rate read from its group at every
  replay, the other hyperparameters guarded and so written as literals);
* ``Optimizer.zero_grad()`` (set to None) is elided when every parameter it
  clears gets its gradient set again later in the step with no Python
  segment in between that could read it; gradient stores inside the step are
  dropped when the final stores (``plan.final_grads``) set them anyway and no
  segment follows.

The source is written to ``~/.cache/graphgrad/compiled/step_<hash>.py``
(``$GRAPHGRAD_CACHE_DIR``), the hash being that of the generated text (which
encodes the plan's structure), atomically; Numba caches the ``@njit`` parts
next to it.  ``GRAPHGRAD_COMPILE_CODEGEN=0`` keeps the entry loop.
"""

from __future__ import annotations

import os

import numpy as np

VERSION = 1


def enabled() -> bool:
    """Whether generated replays are used (``GRAPHGRAD_COMPILE_CODEGEN=0`` turns them off)."""
    return os.environ.get("GRAPHGRAD_COMPILE_CODEGEN", "1") not in ("0", "false", "no", "off")


class _Slots:
    """Objects the generated code refers to, numbered once each."""

    def __init__(self):
        self.objects, self._index = [], {}

    def __call__(self, obj) -> str:
        key = id(obj)
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.objects)
            self.objects.append(obj)
        return f"s{i}"


def _arg(a, slots, live_gen=False):
    if live_gen:
        return "_GEN[0]"
    if a is None or isinstance(a, bool):
        return repr(a)
    return slots(a)


def _call(fn, args, kwargs, live, slots):
    parts = [_arg(a, slots, i in live) for i, a in enumerate(args)]
    parts += [f"{k}={_arg(v, slots)}" for k, v in kwargs.items()]
    return f"{slots(fn)}({', '.join(parts)})"


def _sgd_fast(fn, a) -> bool:
    """Whether a recorded ``sgd_update`` call takes the Numba loop (contiguous, one dtype)."""
    if getattr(fn, "__module__", "") != "graphgrad.kernels.numba_backend.updates" or (
            fn.__name__ != "sgd_update" or len(a) != 8):
        return False
    param, grad, buf, _lr, momentum = a[:5]
    arrays = [param, grad] + ([buf] if momentum else [])
    return all(type(x) is np.ndarray and x.dtype == param.dtype and x.shape == param.shape
               and x.flags.c_contiguous and x.dtype.kind == "f" for x in arrays) and \
        param.flags.writeable


def _update_lines(spec, slots, kernels, label):
    _, opt, calls, params = spec
    lines = []
    fast = [c for c in calls if _sgd_fast(c[0], c[1])]
    if len(fast) == len(calls) and calls:
        name = f"update_{len(kernels)}"
        params_src, body, call_args = [], [], []
        groups = {}
        for fn, a, lr_at, group in calls:
            g = groups.setdefault(id(group), (f"lr{len(groups)}", group))
            k = len(params_src)
            p, gr, u = f"p{k}", f"g{k}", f"u{k}"
            params_src += [p, gr, u]
            momentum, nesterov, wd, l1 = a[4:8]
            buf = a[2] if momentum else a[0]
            call_args += [slots(a[0].reshape(-1)), slots(a[1].reshape(-1)),
                          slots(buf.reshape(-1))]
            body.append(f"    _sgd({p}, {gr}, {u}, {g[0]}, {float(momentum)!r}, "
                        f"{bool(nesterov)!r}, {float(wd)!r}, {float(l1)!r})")
        lrs = [v[0] for v in groups.values()]
        kernels.append("\n".join([
            "@kernel", f"def {name}({', '.join(lrs + params_src)}):",
            f'    """{label}: sgd_update of {len(calls)} parameter(s) in one call."""',
            *body]))
        lr_args = [f'float({slots(v[1])}["lr"])' for v in groups.values()]
        lines.append(f"{name}({', '.join(lr_args + call_args)})  # {label}")
    else:
        for fn, a, lr_at, group in calls:
            parts = [f'float({slots(group)}["lr"])' if i == lr_at else _arg(x, slots)
                     for i, x in enumerate(a)]
            lines.append(f"{slots(fn)}({', '.join(parts)})  # {label}: {fn.__name__}")
    for p in params:
        lines.append(f"{slots(p._version)}[0] += 1")
    lines.append(f"{slots(opt)}._step_count += 1")
    return lines


def _zero_grad_elidable(entry, later, final):
    """Whether an ``Optimizer.zero_grad()`` entry can be left out of the generated replay."""
    from graphgrad.optim.optimizer import Optimizer

    ev = entry.event
    if ev is None or ev.method is not vars(Optimizer)["zero_grad"] or ev.inner:
        return None
    owner, args, kwargs = ev.owner
    if args or kwargs:
        return None
    if any(e.kind == "segment" for e in later):
        return None
    params = list(owner._params())
    missing = [p for p in params if id(p) not in final]
    return missing


def _grad_line(spec, slots):
    _, target, grad = spec
    value = "None" if grad is None else slots(grad)
    if isinstance(target, int):
        return f"args[{target}].grad = {value}"
    return f"{slots(target)}.grad = {value}"


def generate(plan):
    """(source, slot objects) of the generated replay of `plan`."""
    slots = _Slots()
    kernels, body = [], []
    for pos, buf in plan.inputs:
        data = ".data" if pos in set(plan._input_tensors.values()) else ""
        body.append(f"_copyto({slots(buf)}, args[{pos}]{data})  # input {pos}")
    final = {id(e.run.spec[1]) for e in plan.final_grads if not isinstance(e.run.spec[1], int)}
    entries = plan.entries
    for i, e in enumerate(entries):
        later = entries[i + 1:]
        spec = getattr(e.run, "spec", None)
        tag = f"  # {e.label}" + (f" ({e.ops[0][0]})" if e.ops and e.ops[0][0] else "")
        if e.kind == "fused":
            g = e.source
            body.append(f"{slots(g.fn)}(*{slots(g.args)})  # {e.label}: "
                        + " -> ".join(g.labels))
        elif e.kind == "update" and spec is not None:
            body += _update_lines(spec, slots, kernels, e.label)
        elif e.kind == "grad" and spec is not None:
            if not isinstance(spec[1], int) and id(spec[1]) in final and not any(
                    x.kind == "segment" for x in later):
                continue  # the final stores set it
            body.append(_grad_line(spec, slots))
        elif e.kind == "segment":
            missing = _zero_grad_elidable(e, later, final)
            if missing is not None:
                body.append(f"# {e.label}() elided: every gradient it clears is set below")
                body += [f"{slots(p)}.grad = None" for p in missing]
            else:
                body.append(f"{slots(e.run)}(){tag}")
        elif spec is not None and spec[0] == "ufunc":
            _, ufunc, args, buf = spec
            body.append(f"_np.{ufunc.__name__}({', '.join(slots(a) for a in args)}, "
                        f"out={slots(buf)}){tag}")
        elif spec is not None and spec[0] == "call":
            _, fn, args, kwargs, live, buf = spec
            call = _call(fn, args, kwargs, live, slots)
            body.append((f"_copyto({slots(buf)}, {call})" if buf is not None else call) + tag)
        elif spec is not None and spec[0] == "tuple":
            _, fn, args, kwargs, live, pairs = spec
            body.append(f"_r = {_call(fn, args, kwargs, live, slots)}{tag}")
            body += [f"_copyto({slots(b)}, _r[{j}])" for j, b in pairs]
        else:
            body.append(f"{slots(e.run)}(){tag}")
    for g in plan.final_grads:
        body.append(_grad_line(g.run.spec, slots))
    body.append(f"return {slots(plan.result)}()")
    names = [f"s{i}" for i in range(len(slots.objects))]
    unpack = (f"    ({', '.join(names)},) = S" if names else "    pass")
    head = [f'"""Generated by graphgrad.compile (codegen.py v{VERSION}): the replay of a plan',
            f"of {len(entries)} entries (backend {plan.backend}); see docs/compile.md.",
            '"""', "import numpy as _np", "",
            "from graphgrad.kernels.numba_backend._jit import kernel  # noqa: F401",
            "from graphgrad.kernels.numba_backend.loops.optim import sgd_update as _sgd"
            "  # noqa: F401" if kernels else "", "", "_copyto = _np.copyto", ""]
    source = "\n".join(head + [k + "\n\n" for k in kernels] + [
        "def bind(S, _GEN, _ARGS):", '    """The replay over the slot objects `S`."""',
        unpack, "", "    def replay(args):"] + ["        " + line for line in body]
        + ["", "    return replay", ""])
    return source, slots.objects


def build(plan):
    """Generate, write (atomically, cached by hash) and bind the replay of `plan`; sets
    ``plan.generated``, ``plan.source_text`` and ``plan.source_path``."""
    from graphgrad import random as _random
    from graphgrad.compile.fusion import _write_module

    source, objects = generate(plan)
    module, path = _write_module(source, prefix="step")
    plan.generated = module.bind(objects, _random._GENERATOR, plan.args)
    plan.source_text, plan.source_path = source, path
    return plan.generated


__all__ = ["build", "enabled", "generate"]
