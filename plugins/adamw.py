"""AdamW (decoupled weight decay) and the Noam learning-rate schedule, as in PyTorch.

Registered exactly as a third-party plugin would be.  AdamW's update runs in
NumPy, in place, on each parameter; it matches ``torch.optim.AdamW`` step for step.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import Optimizer, Schedule


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    For step t = 1, 2, ... with gradient g:

        θ ← θ·(1 − η·λ)                      (decoupled decay, ``weight_decay`` λ)
        m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²
        v̂ = max(v̂, v) with ``amsgrad=True`` (used in place of v), else v
        θ ← θ − η/(1−β₁ᵗ) · m / (√v̂ / √(1−β₂ᵗ) + ε)

    Defaults lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2 (PyTorch's).
    State per parameter: ``step``, ``exp_avg``, ``exp_avg_sq`` and, with amsgrad,
    ``max_exp_avg_sq``.
    """

    name = "adamw"  # PyTorch's spelling, not the snake_case "adam_w"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=bool(amsgrad)))

    def _check_group(self, group):
        super()._check_group(group)
        betas = tuple(group["betas"])
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise ValueError(f"AdamW: betas must be a pair of numbers in [0, 1), got {betas!r}")
        for name in ("eps", "weight_decay"):
            v = group[name]
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"AdamW: {name} must be a finite number >= 0, got {v!r}")
        group["betas"] = betas

    def update(self, param, grad, group, state):
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        lr, wd, eps = float(group["lr"]), float(group["weight_decay"]), float(group["eps"])
        beta1, beta2 = group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        param *= 1 - lr * wd
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
        param -= (lr / (1 - beta1 ** t)) * m / denom


class Noam(Schedule):
    """The Transformer paper's schedule: linear warm-up, then inverse square root decay.

        η_t = η₀ · factor · d_model^(−½) · min((t+1)^(−½), (t+1)·W^(−3/2))

    (t counts from 0, so the first step uses step number 1; W = ``warmup_steps``.)
    With the paper's η₀ = 1 and factor = 1 the peak rate at t + 1 = W is
    1/√(d_model·W).
    """

    @classmethod
    def example(cls, optimizer):
        """A small instance, for ``gg.check.schedule``."""
        return cls(optimizer, d_model=16, warmup_steps=3)

    def __init__(self, optimizer, d_model, warmup_steps=4000, factor=1.0, last_epoch=-1):
        for name, v in (("d_model", d_model), ("warmup_steps", warmup_steps)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Noam: {name} must be an integer >= 1, got {v!r}")
        if not (isinstance(factor, (int, float)) and factor > 0):
            raise ValueError(f"Noam: factor must be a number > 0, got {factor!r}")
        self.d_model, self.warmup_steps, self.factor = d_model, warmup_steps, float(factor)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, t):
        s = t + 1
        return base_lr * self.factor * self.d_model ** -0.5 * min(
            s ** -0.5, s * self.warmup_steps ** -1.5)


@gg.hookimpl
def graphgrad_register_optimizers():
    """AdamW."""
    return [AdamW]


@gg.hookimpl
def graphgrad_register_schedules():
    """The Noam schedule."""
    return [Noam]
