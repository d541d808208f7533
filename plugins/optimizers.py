"""Built-in first-order optimizers, registered exactly as a third-party plugin would.

``sgd`` (momentum, Nesterov, L2 weight decay, L1), ``adagrad``, ``rmsprop`` and
``adam``.  Each step runs one in-place update kernel of the kernel table
(``K.sgd_update``, ``K.adagrad_update``, ``K.rmsprop_update``, ``K.adam_update``)
per parameter; the second-order ``lbfgs`` and ``newton`` live in
``graphgrad_plugins.second_order``.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import K, Optimizer


def _check(who: str, name: str, value, low: float = 0.0, high: float | None = None,
           include_high: bool = False) -> None:
    ok = isinstance(value, (int, float, np.floating)) and np.isfinite(value) and value >= low
    if ok and high is not None:
        ok = value <= high if include_high else value < high
    if not ok:
        bound = f"in [{low}, {high}{']' if include_high else ')'}" if high is not None else (
            f">= {low}")
        raise ValueError(f"{who}: {name} must be a finite number {bound}, got {value!r}")


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum, L2 and L1.

    With d = ∇L + λ₂θ + λ₁·sign(θ)  (``weight_decay`` λ₂, ``l1`` λ₁):

    * plain:      θ ← θ − η·d  — i.e. θ ← (1 − λ₂η)θ − λ₁η·sign(θ) − η∇L;
    * momentum γ: u ← γu − η·d,  θ ← θ + u   (the velocity form; u starts at 0);
    * Nesterov:   u ← γu − η·d,  θ ← θ + γu − η·d  (the look-ahead step).

    ``weight_decay=λ`` gives exactly the gradient of ``gg.regularizers.l2(params, λ)``
    = λ/2·Σθ², and ``l1=λ`` that of ``gg.regularizers.l1(params, λ)`` = λ·Σ|θ|.
    State per parameter: ``momentum_buffer`` (u), only when momentum > 0.
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, l1=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay, l1=l1))

    def _check_group(self, group):
        super()._check_group(group)
        _check("SGD", "momentum", group["momentum"], 0.0, 1.0)
        _check("SGD", "weight_decay", group["weight_decay"])
        _check("SGD", "l1", group["l1"])
        if group["nesterov"] and group["momentum"] <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0 (e.g. momentum=0.9)")

    def update(self, param, grad, group, state):
        momentum = float(group["momentum"])
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.zeros_like(param)
        else:
            buf = grad  # ignored by the kernel when momentum == 0; right shape and dtype
        K.sgd_update(param, grad, buf, float(group["lr"]), momentum, bool(group["nesterov"]),
                     float(group["weight_decay"]), float(group["l1"]))


class Adagrad(Optimizer):
    """Adagrad: per-coordinate rates that shrink with the gradients seen so far.

    d = ∇L + λθ;  s ← s + d²;  θ ← θ − η·d / (√s + ε).
    State per parameter: ``sum`` (s, starting at ``initial_accumulator_value``), ``step``.
    """

    def __init__(self, params, lr=1e-2, eps=1e-10, weight_decay=0.0,
                 initial_accumulator_value=0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value))

    def _check_group(self, group):
        super()._check_group(group)
        _check("Adagrad", "eps", group["eps"])
        _check("Adagrad", "weight_decay", group["weight_decay"])
        _check("Adagrad", "initial_accumulator_value", group["initial_accumulator_value"])

    def update(self, param, grad, group, state):
        if "sum" not in state:
            state["sum"] = np.full_like(param, group["initial_accumulator_value"])
            state["step"] = 0
        state["step"] += 1
        K.adagrad_update(param, grad, state["sum"], float(group["lr"]), float(group["eps"]),
                         float(group["weight_decay"]))


class RMSprop(Optimizer):
    """RMSprop: divide by a running root-mean-square of the gradients.

    d = ∇L + λθ;  s ← αs + (1−α)d²;  θ ← θ − η·d / (√s + ε).
    State per parameter: ``square_avg`` (s, starting at 0), ``step``.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group):
        super()._check_group(group)
        _check("RMSprop", "alpha", group["alpha"], 0.0, 1.0, include_high=True)
        _check("RMSprop", "eps", group["eps"])
        _check("RMSprop", "weight_decay", group["weight_decay"])

    def update(self, param, grad, group, state):
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(param)
            state["step"] = 0
        state["step"] += 1
        K.rmsprop_update(param, grad, state["square_avg"], float(group["lr"]),
                         float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]))


class Adam(Optimizer):
    """Adam: momentum on the gradient and on its square, with bias correction.

    d = ∇L + λθ;  m ← β₁m + (1−β₁)d;  v ← β₂v + (1−β₂)d²;
    θ ← θ − η · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε),   t = 1, 2, ...
    Defaults β = (0.9, 0.999), ε = 1e-8.  ``weight_decay`` is the L2 form
    (added to the gradient), as in PyTorch's Adam.
    State per parameter: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))

    def _check_group(self, group):
        super()._check_group(group)
        betas = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        _check("Adam", "betas[0]", betas[0], 0.0, 1.0)
        _check("Adam", "betas[1]", betas[1], 0.0, 1.0)
        _check("Adam", "eps", group["eps"])
        _check("Adam", "weight_decay", group["weight_decay"])
        group["betas"] = betas

    def update(self, param, grad, group, state):
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        K.adam_update(param, grad, state["exp_avg"], state["exp_avg_sq"], float(group["lr"]),
                      float(beta1), float(beta2), float(group["eps"]), int(state["step"]),
                      float(group["weight_decay"]))


@gg.hookimpl
def graphgrad_register_optimizers():
    """The built-in first-order optimizers."""
    return [SGD, Adagrad, RMSprop, Adam]
