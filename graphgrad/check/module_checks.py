"""``gg.check.module(layer, example_input)``: check your very own module in one call.

Every check runs on copies of the layer (``copy.deepcopy``, then cast), never
on the layer itself:

- ``forward``: it runs in float64 and returns finite Tensors;
- ``gradcheck[train]``, ``gradcheck[eval]``: analytic gradients with respect to
  the floating inputs *and every parameter* match central differences
  (f(θ + ε) − f(θ − ε)) / 2ε in float64, in both modes;
- ``parameter grads``: a backward pass reaches every parameter;
- ``gradgradcheck``: second derivatives (double backward) match too;
- ``float32 vs float64``: a float32 copy returns float32 and agrees with the
  float64 copy to float32 precision;
- ``train/eval``: two eval calls give equal outputs and leave the state alone;
  two training calls differ if the layer declares ``stochastic = True``, and
  are equal otherwise;
- ``render``: its graph renders to DOT.

Randomness (graphgrad's global generator and any ``numpy.random.Generator``
held by a module) is reset before each call inside the gradient checks, so a
stochastic layer is checked with one fixed draw.  A layer may skip a check by
declaring ``skip_checks = {"gradgradcheck": "why"}``.  When a gradient check
fails, each custom op (a plugin's ``Function``) the layer ran is checked on its
own, and the failure names the op at fault, its class and the layer path.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from graphgrad import random as _random
from graphgrad.autograd import enable_grad, no_grad
from graphgrad.autograd.tensor import Tensor
from graphgrad.check.function_checks import ops_at_fault
from graphgrad.check.gradients import GradcheckError, gradcheck, gradgradcheck
from graphgrad.check.report import FAIL, PASS, SKIP, CheckReport, describe_error, run_checks
from graphgrad.nn.module import Module, Parameter
from graphgrad.random import module_generators


class ModuleCheckReport(CheckReport):
    """The result of ``check.module``: one ``CheckItem`` per check (see ``CheckReport``)."""

    checker = "module"

    @property
    def module_name(self) -> str:
        """The checked module's class name."""
        return self.name

    def to_dict(self) -> dict:
        """``{"module", "ok", "checks": [{"name", "status", "message"}, ...]}``."""
        out = super().to_dict()
        return {"module": out.pop("name"), **out}


# ------------------------------------------------------------------ helpers
def _as_tuple(x) -> tuple:
    """The outputs, flattened: a recurrent layer returns (output, (h_n, c_n)), as PyTorch."""
    if not isinstance(x, (tuple, list)):
        return (x,)
    return tuple(o for item in x for o in _as_tuple(item))


def _inputs_as(inputs, dtype, requires_grad=False) -> tuple:
    """Copies of the inputs; floating ones cast to `dtype` (and requiring grad if asked)."""
    out = []
    for i, x in enumerate(inputs):
        arr = x.data if isinstance(x, Tensor) else np.asarray(x)
        name = f"example input {i}"
        if arr.dtype.kind == "f":
            out.append(Tensor(arr.astype(dtype), requires_grad=requires_grad, name=name))
        else:
            out.append(Tensor(arr, name=name))
    return tuple(out)


def _copy(layer: Module, dtype) -> Module:
    return copy.deepcopy(layer).astype(dtype)


class _FrozenRandomness:
    """Snapshot of every random generator a module can draw from, restorable in place."""

    def __init__(self, module: Module):
        gens = [_random.default_rng(), *module_generators(module).values()]
        unique = {id(g): g for g in gens}
        self.states = [(g, copy.deepcopy(g.bit_generator.state)) for g in unique.values()]

    def restore(self) -> None:
        for g, state in self.states:
            g.bit_generator.state = copy.deepcopy(state)


def _replaced(value, swap: dict):
    if isinstance(value, Parameter):
        return swap.get(id(value), value)
    if type(value) in (list, tuple) and any(isinstance(v, Parameter) for v in value):
        return type(value)(swap.get(id(v), v) if isinstance(v, Parameter) else v for v in value)
    if type(value) is dict and any(isinstance(v, Parameter) for v in value.values()):
        return {k: swap.get(id(v), v) if isinstance(v, Parameter) else v
                for k, v in value.items()}
    return value


@contextmanager
def _parameters_replaced(module: Module, params: list, tensors) -> None:
    """Temporarily put `tensors` where the module holds `params` (attributes, lists, dicts)."""
    swap = {id(p): t for p, t in zip(params, tensors, strict=True)}
    saved = []
    for m in module.modules():
        attrs = vars(m)
        for name, value in list(attrs.items()):
            new = _replaced(value, swap)
            if new is not value:
                saved.append((attrs, name, value))
                attrs[name] = new
    try:
        yield
    finally:
        for attrs, name, value in reversed(saved):
            attrs[name] = value


def _functional(module: Module, n_inputs: int, frozen: _FrozenRandomness) -> Callable:
    """f(*inputs, *params) = module(*inputs) with the given tensors as its parameters."""
    params = list(module.parameters())

    def fn(*args):
        frozen.restore()
        with _parameters_replaced(module, params, args[n_inputs:]):
            return _as_tuple(module(*args[:n_inputs]))

    return fn


def _outputs(module, inputs):
    return list(_as_tuple(module(*inputs)))


# ------------------------------------------------------------------- checks
def _check_forward(layer, inputs):
    m = _copy(layer, np.float64).train()
    outs = _outputs(m, _inputs_as(inputs, np.float64))
    bad = [type(o).__name__ for o in outs if not isinstance(o, Tensor)]
    if bad:
        return FAIL, f"forward returned {bad}, not Tensors"
    if any(o.dtype.kind == "f" and not np.all(np.isfinite(o.data)) for o in outs):
        return FAIL, "the output has NaN or inf values"
    return PASS, "outputs " + ", ".join(f"{o.shape} {o.dtype}" for o in outs)


def _check_gradients(layer, inputs, mode, second, tol):
    m = _copy(layer, np.float64).train(mode == "train")
    params = [Parameter(p.data.copy(), requires_grad=p.requires_grad, name=f"parameter {n}")
              for n, p in m.named_parameters()]
    xs = _inputs_as(inputs, np.float64, requires_grad=True)
    n_diff = sum(x.requires_grad for x in xs) + sum(p.requires_grad for p in params)
    if n_diff == 0:
        return SKIP, "no floating input and no parameter: nothing to differentiate"
    frozen = _FrozenRandomness(m)
    fn = _functional(m, len(xs), frozen)
    try:
        (gradgradcheck if second else gradcheck)(fn, list(xs) + params, **tol)
    except GradcheckError as exc:
        frozen.restore()
        try:
            faults = ops_at_fault(lambda: fn(*xs, *params), second, tol)
        except Exception as inner:  # the diagnosis must not hide the failure itself
            faults = [f"(could not check the ops inside: {describe_error(inner)})"]
        return FAIL, "; ".join([*faults, f"the layer as a whole: {exc}"] if faults else [str(exc)])
    finally:
        frozen.restore()
    n_values = sum(x.data.size for x in xs if x.requires_grad) + sum(p.data.size for p in params)
    return PASS, f"{len(xs)} input(s) and {len(params)} parameter(s), {n_values} values"


def _check_parameter_grads(layer, inputs):
    m = _copy(layer, np.float64).train()
    params = list(m.named_parameters())
    if not params:
        return SKIP, "the module has no parameters"
    with enable_grad():
        total = sum(o.sum() for o in _outputs(m, _inputs_as(inputs, np.float64, True))
                    if o.requires_grad)
    if not isinstance(total, Tensor):
        return FAIL, "no output depends on a parameter or input that requires grad"
    total.backward()
    missing = [n for n, p in params if p.requires_grad and p.grad is None]
    if missing:
        return FAIL, (f"no gradient reached {missing}; a parameter the forward pass does not "
                      "use should not be a Parameter")
    nonfinite = [n for n, p in params
                 if p.grad is not None and not np.all(np.isfinite(p.grad.data))]
    if nonfinite:
        return FAIL, f"non-finite gradient for {nonfinite}"
    return PASS, f"all {len(params)} parameter(s) got finite gradients"


def _check_precision(layer, inputs, rtol, atol):
    worst, details = 0.0, []
    for mode in ("train", "eval"):
        m64 = _copy(layer, np.float64).train(mode == "train")
        m32 = _copy(layer, np.float32).train(mode == "train")
        frozen = _FrozenRandomness(layer)
        with no_grad():
            frozen.restore()
            y64 = _outputs(m64, _inputs_as(inputs, np.float64))
            frozen.restore()
            y32 = _outputs(m32, _inputs_as(inputs, np.float32))
            frozen.restore()
        for k, (a, b) in enumerate(zip(y32, y64, strict=True)):
            if b.dtype.kind != "f":
                continue
            if a.dtype != np.float32:
                return FAIL, (f"{mode}: output {k} is {a.dtype} for float32 inputs and "
                              "parameters; some constant promotes it (make constants Python "
                              "floats or cast them to the input's dtype)")
            scale = max(1.0, float(np.max(np.abs(b.data), initial=0.0)))
            err = float(np.max(np.abs(a.data.astype(np.float64) - b.data), initial=0.0))
            worst = max(worst, err / scale)
            if not np.allclose(a.data, b.data, rtol=rtol, atol=atol * scale):
                details.append(f"{mode}: output {k} differs by up to {err:.3g}")
    if details:
        return FAIL, "; ".join(details) + f" (rtol={rtol}, atol={atol}·max(1, |y|))"
    return PASS, f"max relative difference {worst:.2g}"


def _check_modes(layer, inputs):
    # Every check is deterministic: the global generator (what a layer built without
    # rng= draws from) runs from a fixed seed here and is restored afterwards.
    saved = _random.get_rng_state()
    _random.set_rng_state(np.random.default_rng(20240527).bit_generator.state)
    try:
        return _check_modes_seeded(layer, inputs)
    finally:
        _random.set_rng_state(saved)


def _check_modes_seeded(layer, inputs):
    m = _copy(layer, np.float64)
    xs = _inputs_as(inputs, np.float64)
    with no_grad():
        m.eval()
        before = m.state_dict()
        e1, e2 = _outputs(m, xs), _outputs(m, xs)
        after = m.state_dict()
        m.train()
        t1, t2 = _outputs(m, xs), _outputs(m, xs)
    if not all(np.array_equal(a.data, b.data) for a, b in zip(e1, e2, strict=True)):
        return FAIL, "eval mode: two calls on the same input gave different outputs"
    changed = [k for k in before if not np.array_equal(before[k], after[k])]
    if changed:
        return FAIL, f"eval mode: forward changed the state {changed}"
    same = all(np.array_equal(a.data, b.data) for a, b in zip(t1, t2, strict=True))
    if getattr(layer, "stochastic", False) and same:
        # two draws may agree by chance (2 × 3 channels of Dropout2d(0.5): 1 in 64);
        # a stochastic layer gets a few more pairs, all from the fixed seed
        with no_grad():
            for _ in range(4):
                t1, t2 = _outputs(m, xs), _outputs(m, xs)
                if not all(np.array_equal(a.data, b.data) for a, b in zip(t1, t2, strict=True)):
                    same = False
                    break
    if getattr(layer, "stochastic", False):
        if same:
            return FAIL, ("train mode: declared stochastic = True, but two calls gave equal "
                          "outputs")
        return PASS, "eval deterministic; train stochastic (stochastic = True)"
    if not same:
        return FAIL, ("train mode: two calls gave different outputs; declare the class "
                      "attribute stochastic = True if that is intended")
    return PASS, "eval and train both deterministic"


def _check_render(layer, inputs):
    m = _copy(layer, np.float64)
    dot = m.to_dot(_inputs_as(inputs, np.float64))
    source = getattr(dot, "source", str(dot))
    if "->" not in source and "label" not in source:
        return FAIL, "the DOT source has no nodes"
    return PASS, f"{len(source.splitlines())} lines of DOT"


# ------------------------------------------------------------------ the API
def module(layer: Module, example_input=None, *, rng=0, eps: float = 1e-6, atol: float = 1e-5,
           rtol: float = 1e-3, float32_rtol: float = 1e-4,
           float32_atol: float = 1e-5) -> ModuleCheckReport:
    """Check a Module (your own layer) and return a ``ModuleCheckReport``.

    `example_input` is a Tensor, an array or a tuple of them (several forward
    arguments); if omitted, ``layer.example_input(rng)`` provides it.  Keep it
    small: the gradient checks cost two forward passes per input and parameter
    element.  ``eps``/``atol``/``rtol`` go to ``gradcheck`` (|analytic −
    numeric| ≤ atol + rtol·|numeric|); ``float32_rtol``/``float32_atol`` bound
    the float32-vs-float64 difference relative to max(1, |y|).  The layer
    itself is never changed; the global random state is restored afterwards.
    """
    if not isinstance(layer, Module):
        raise TypeError(f"check.module: expected a graphgrad Module, got {type(layer).__name__}"
                        + (" (a class: instantiate it first)" if isinstance(layer, type) else ""))
    if example_input is None:
        if not hasattr(layer, "example_input"):
            raise TypeError(f"check.module: pass example_input, or give {type(layer).__name__} "
                            "a classmethod example_input(rng) returning a small input")
        example_input = layer.example_input(_random.resolve_rng(rng))
    inputs = _as_tuple(example_input)
    tol = {"eps": eps, "atol": atol, "rtol": rtol}
    checks = [
        ("forward", lambda: _check_forward(layer, inputs)),
        ("gradcheck[train]", lambda: _check_gradients(layer, inputs, "train", False, tol)),
        ("gradcheck[eval]", lambda: _check_gradients(layer, inputs, "eval", False, tol)),
        ("parameter grads", lambda: _check_parameter_grads(layer, inputs)),
        ("gradgradcheck", lambda: _check_gradients(layer, inputs, "train", True, tol)),
        ("float32 vs float64",
         lambda: _check_precision(layer, inputs, float32_rtol, float32_atol)),
        ("train/eval", lambda: _check_modes(layer, inputs)),
        ("render", lambda: _check_render(layer, inputs)),
    ]
    items = run_checks(checks, getattr(layer, "skip_checks", None), gate="forward")
    return ModuleCheckReport(type(layer).__name__, items)
