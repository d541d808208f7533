"""``gg.check.loss(loss)``: check a loss (class, instance or function) on a small example.

The example ``(prediction, target)`` comes from ``loss.example_input(rng)``
(a classmethod or method of the loss) unless given.  Checks:

- ``forward``: ``loss(prediction, target)`` in float64 is a finite scalar;
- ``reduction``: ``reduction="none"`` gives the unreduced values v (not a
  scalar), and
  ``"sum"`` = Σ v and ``"mean"`` = Σ v / |v| (up to 1e-10 relative);
- ``gradcheck``, ``gradgradcheck``: the gradient with respect to the
  prediction (and its second derivative) matches central differences in float64;
- ``float32``: a float32 prediction gives a float32 loss (a float64 target
  must not promote it);
- ``bad target``: a target with one sample too few is refused with an error
  that names the loss.

A loss class is built with ``cls.example(rng)`` if it defines that
classmethod, else ``cls()``; the reduction is set through the ``reduction``
attribute (a function gets ``reduction=`` as a keyword).  Skip a check with
``skip_checks = {"gradgradcheck": "why"}``.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from graphgrad import random as _random
from graphgrad.autograd.tensor import Tensor
from graphgrad.check.gradients import GradcheckError, gradcheck, gradgradcheck
from graphgrad.check.report import FAIL, PASS, SKIP, CheckReport, describe_error, run_checks


def _name(loss) -> str:
    if inspect.isfunction(loss) or isinstance(loss, type):
        return loss.__name__
    return type(loss).__name__


def build(loss, rng) -> Any:
    """An instance of a loss class (``cls.example(rng)`` or ``cls()``); other losses as they are."""
    if not isinstance(loss, type):
        return loss
    return loss.example(rng) if hasattr(loss, "example") else loss()


def _call(loss, reduction: str | None, prediction, target):
    if inspect.isfunction(loss):
        kwargs = {} if reduction is None else {"reduction": reduction}
        return loss(prediction, target, **kwargs)
    if reduction is not None:
        loss = copy.deepcopy(loss)
        loss.reduction = reduction
    return loss(prediction, target)


def _float64_copy(loss):
    """A float64 copy of a loss that holds parameters; any other loss as it is."""
    if hasattr(loss, "double") and hasattr(loss, "parameters") and any(
            True for _ in loss.parameters()):
        return copy.deepcopy(loss).double()
    return loss


def _cast(x, dtype):
    arr = x.data if isinstance(x, Tensor) else np.asarray(x)
    return arr.astype(dtype) if arr.dtype.kind == "f" else arr


def _forward(loss, prediction, target):
    value = _call(loss, None, Tensor(_cast(prediction, np.float64)), _cast(target, np.float64))
    if not isinstance(value, Tensor):
        return FAIL, f"returned {type(value).__name__}, not a Tensor"
    if value.shape != ():
        return FAIL, f"the default reduction returned shape {value.shape}, not a scalar"
    if not np.isfinite(value.data):
        return FAIL, f"the loss is {value.item()}"
    return PASS, f"loss {value.item():.6g}"


def _reductions(loss, prediction, target):
    p, t = Tensor(_cast(prediction, np.float64)), _cast(target, np.float64)
    values = _call(loss, "none", p, t).data
    if values.ndim == 0 and p.data.size > 1:
        return FAIL, ('reduction="none" returned a scalar; it must return the unreduced values '
                      "(one per sample or per element)")
    total, mean = _call(loss, "sum", p, t).data, _call(loss, "mean", p, t).data
    wrong = []
    if not np.allclose(total, values.sum(), rtol=1e-10, atol=1e-12):
        wrong.append(f'"sum" gave {float(total):.10g} but the "none" values sum to '
                     f"{values.sum():.10g}")
    if not np.allclose(mean, values.mean(), rtol=1e-10, atol=1e-12):
        wrong.append(f'"mean" gave {float(mean):.10g} but the mean of the "none" values '
                     f"{values.shape} is {values.mean():.10g}")
    if wrong:
        return FAIL, "; ".join(wrong)
    return PASS, f'"none" gives shape {values.shape}; "sum" and "mean" agree with it'


def _gradients(loss, prediction, target, second, tol):
    t = _cast(target, np.float64)
    p = Tensor(_cast(prediction, np.float64), requires_grad=True, name="prediction")
    try:
        (gradgradcheck if second else gradcheck)(lambda x: _call(loss, None, x, t), [p], **tol)
    except GradcheckError as exc:
        return FAIL, str(exc)
    return PASS, f"with respect to the prediction, {p.data.size} values"


def _float32(loss, prediction, target):
    value = _call(loss, None, Tensor(_cast(prediction, np.float32)), _cast(target, np.float64))
    if value.dtype != np.float32:
        return FAIL, (f"a float32 prediction (and a float64 target) gave a {value.dtype} loss; "
                      "cast the target to the prediction's dtype")
    return PASS, "float32 prediction, float32 loss"


def _bad_target(loss, prediction, target):
    arr = _cast(target, np.float64)
    if arr.ndim == 0 or len(arr) < 2:
        return SKIP, "the example target has fewer than 2 samples"
    short = arr[:-1]
    try:
        _call(loss, None, Tensor(_cast(prediction, np.float64)), short)
    except Exception as exc:  # noqa: BLE001 - any refusal counts; its message is checked
        names = {_name(loss), getattr(loss, "name", None)} - {None}
        if any(n in str(exc) for n in names):
            return PASS, f"a target of shape {short.shape} is refused: {describe_error(exc)}"
        return FAIL, (f"a target of shape {short.shape} is refused, but the error does not "
                      f"name the loss: {describe_error(exc)}")
    return FAIL, (f"a target of shape {short.shape} for a prediction of shape "
                  f"{np.shape(_cast(prediction, np.float64))} was accepted; check the "
                  "target's shape (graphgrad.extend.check_same_shape / check_labels)")


def loss(loss, example_input=None, *, rng=0, eps: float = 1e-6, atol: float = 1e-5,
         rtol: float = 1e-3) -> CheckReport:
    """Check a loss (a class, an instance or a function ``loss(prediction, target)``).

    ``example_input`` is ``(prediction, target)``; if omitted,
    ``loss.example_input(rng)`` provides it.  Returns a ``CheckReport``; the
    loss itself is never changed.
    """
    name = _name(loss)
    generator = _random.resolve_rng(rng)
    if example_input is None:
        if not hasattr(loss, "example_input"):
            raise TypeError(f"check.loss: pass example_input=(prediction, target), or give "
                            f"{name} a classmethod example_input(rng) returning one")
        example_input = loss.example_input(generator)
    prediction, target = example_input
    instance = build(loss, generator)
    tol = {"eps": eps, "atol": atol, "rtol": rtol}
    args = (instance, prediction, target)
    # The float64 checks run a loss that has parameters (a Module) on a float64 copy,
    # as a float64 model would: no float64-input warning, and gradchecks see float64 maths.
    args64 = (_float64_copy(instance), prediction, target)
    items = run_checks([
        ("forward", lambda: _forward(*args64)),
        ("reduction", lambda: _reductions(*args64)),
        ("gradcheck", lambda: _gradients(*args64, False, tol)),
        ("gradgradcheck", lambda: _gradients(*args64, True, tol)),
        ("float32", lambda: _float32(*args)),
        ("bad target", lambda: _bad_target(*args64)),
    ], getattr(loss, "skip_checks", None), gate="forward")
    return CheckReport(name, items, checker="loss")
