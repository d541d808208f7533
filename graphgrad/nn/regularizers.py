"""Weight penalties to add to a loss: ``gg.regularizers.l2`` and ``gg.regularizers.l1``.

Convention: the penalty's gradient is what the optimizer's matching argument
adds to ∇L, so the two ways of regularising give the same update:

* ``l2(params, λ)`` = λ/2 · Σ θ²,   ∂/∂θ = λ·θ        ≡  ``SGD(..., weight_decay=λ)``
* ``l1(params, λ)`` = λ · Σ |θ|,    ∂/∂θ = λ·sign(θ)  ≡  ``SGD(..., l1=λ)``

(The optimizer form is cheaper — no graph, no extra backward work — and with
adaptive optimizers such as Adam the two are the same as well, because their
``weight_decay`` is also added to the gradient.)  Pass only the tensors you
mean to penalise; usually the weights, not the biases.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from graphgrad.autograd.tensor import Tensor

__all__ = ["l1", "l2"]


def _tensors(who: str, params) -> list[Tensor]:
    if isinstance(params, Tensor):
        return [params]
    parameters = getattr(params, "parameters", None)
    if callable(parameters):  # a Module: all its parameters
        params = parameters()
    out = list(params)
    for i, p in enumerate(out):
        if not isinstance(p, Tensor):
            raise TypeError(f"regularizers.{who}: item {i} of params is a {type(p).__name__}, "
                            "not a Tensor; pass tensors, a list of them, or a Module")
    return out


def _strength(who: str, lam) -> float:
    if not (isinstance(lam, (int, float, np.floating)) and np.isfinite(lam) and lam >= 0):
        raise ValueError(f"regularizers.{who}: lam must be a finite number >= 0, got {lam!r}")
    return float(lam)


def _total(terms: list[Tensor]) -> Tensor:
    if not terms:
        return Tensor(np.float32(0.0))
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def l2(params: Iterable[Tensor] | Tensor, lam: float) -> Tensor:
    """λ/2 · Σ_θ Σ θ²  over every tensor in params (a Tensor, an iterable, or a Module).

    Its gradient is λ·θ, the same as an optimizer's ``weight_decay=λ``.
    Returns a scalar Tensor (0 for no params).
    """
    lam = _strength("l2", lam)
    return _total([(p * p).sum() * (lam / 2) for p in _tensors("l2", params)])


def l1(params: Iterable[Tensor] | Tensor, lam: float) -> Tensor:
    """λ · Σ_θ Σ |θ|  over every tensor in params (a Tensor, an iterable, or a Module).

    Its (sub)gradient is λ·sign(θ), the same as ``SGD(..., l1=λ)``; it pushes
    weights to exactly 0 (sparse models).  Returns a scalar Tensor.
    """
    lam = _strength("l1", lam)
    return _total([p.abs().sum() * lam for p in _tensors("l1", params)])
