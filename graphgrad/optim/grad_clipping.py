"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change the ``.grad`` of the given parameters in place, between
``backward()`` and ``optimizer.step()``.  They compute with graphgrad ops
under ``no_grad`` (so the kernels are those of the table) and
``clip_grad_norm_`` scales each gradient with ``g *= c``, which ``gg.compile``
records and replays; ``clip_grad_value_`` writes with ``copy_``, which a
compiled step runs eagerly (with a warning naming it).
"""

from __future__ import annotations

import math

import numpy as np

from graphgrad import ops
from graphgrad.autograd.grad_mode import no_grad
from graphgrad.autograd.tensor import Tensor


def _grads(who: str, parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"{who}: parameters must be a Tensor or an iterable of Tensors "
                        f"(e.g. model.parameters()), got {type(parameters).__name__}") from None
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: every parameter must be a Tensor, got "
                            f"{type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def _number(who: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {name} must be a number, got {value!r}")
    return float(value)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False) -> Tensor:
    """Scale the gradients so that their total norm is at most ``max_norm``; return that norm.

    The total norm is the ``norm_type``-norm of the vector of every gradient
    entry, ‖g‖ = ‖(‖g₁‖, ‖g₂‖, …)‖ (``inf``: the largest |entry|).  Every
    gradient is multiplied by min(1, max_norm / (‖g‖ + 1e-6)), as PyTorch
    does (a gradient already inside the ball is multiplied by 1).  Parameters
    without a gradient are skipped; with none at all the norm is 0.
    ``error_if_nonfinite=True`` raises when the norm is NaN or ±inf (it reads
    the norm into Python, so a compiled step with it runs eagerly).

    Returns the total norm before clipping, a 0-d Tensor.
    """
    who = "clip_grad_norm_"
    max_norm = _number(who, "max_norm", max_norm)
    norm_type = _number(who, "norm_type", norm_type)
    if not (norm_type > 0 or norm_type == -math.inf):
        raise ValueError(f"{who}: norm_type must be > 0, inf or -inf, got {norm_type}")
    grads = _grads(who, parameters)
    if not grads:
        return Tensor(np.zeros(()))
    with no_grad():
        dtype = np.result_type(*[g.dtype for g in grads])
        norms = [ops.norm(g, ord=norm_type).astype(dtype) for g in grads]
        total = norms[0] if len(norms) == 1 else ops.norm(ops.stack(norms), ord=norm_type)
        if error_if_nonfinite and not math.isfinite(float(total.item())):
            raise RuntimeError(
                f"{who}: the total norm of order {norm_type} of the gradients of "
                f"{len(grads)} parameters is {total.item()}, so they cannot be clipped; set "
                "error_if_nonfinite=False to scale them anyway (they become NaN), or find "
                "the NaN/inf first (gg.detect_anomaly())")
        coef = ops.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g *= coef.astype(g.dtype)
    return total


def clip_grad_value_(parameters, clip_value) -> None:
    """Clip every gradient entry to [−clip_value, clip_value], in place (as PyTorch).

    NaN entries stay NaN.  ``clip_value`` must be a number ≥ 0.
    """
    who = "clip_grad_value_"
    clip_value = _number(who, "clip_value", clip_value)
    if not clip_value >= 0:
        raise ValueError(f"{who}: clip_value must be >= 0, got {clip_value}")
    with no_grad():
        for g in _grads(who, parameters):
            g.copy_(ops.clip(g, -clip_value, clip_value))
