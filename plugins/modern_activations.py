"""Built-in layers for the activations of modern networks: GELU, SiLU (swish),
ELU, CELU, SELU, Mish, Hardswish, Hardsigmoid, Hardtanh, ReLU6, LogSigmoid,
Softsign and Softmin, registered exactly as a third-party plugin would.

Each layer holds its settings and calls the graphgrad function of the same
name (``gg.gelu`` ...), as ``torch.nn.GELU`` calls ``F.gelu``.  SiLU registers
as ``silu``: the name ``swish`` is left to outside plugins (the example plugin
``graphgrad-swish`` registers a trainable-β Swish under it).
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Module, resolve_rng


class _Activation(Module):
    """An elementwise activation; `margin` keeps example inputs away from its kinks."""

    kinks = ()

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input kept away from the activation's kinks."""
        x = resolve_rng(rng).standard_normal((4, 3)) * 2
        for k in cls.kinks:
            x = np.where(np.abs(x - k) < 0.2, x + 0.4 * np.sign(x - k + 1e-9), x)
        return gg.tensor(x.astype(np.float32))


class GELU(_Activation):
    """x·Φ(x) (``approximate="none"``) or x/2·(1 + tanh(√(2/π)(x + 0.044715x³)))
    (``approximate="tanh"``);  derivative Φ(x) + x·φ(x) for the exact form."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        gg.gelu(gg.tensor(0.0), approximate)  # validates `approximate` now
        self.approximate = approximate

    def forward(self, x):
        return gg.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Activation):
    """x·σ(x), also called swish;  derivative σ(x)·(1 + x(1 − σ(x)))."""

    name = "silu"

    def forward(self, x):
        return gg.silu(x)


class Mish(_Activation):
    """x·tanh(softplus x);  derivative tanh s + x·(1 − tanh² s)·σ(x), s = softplus x."""

    def forward(self, x):
        return gg.mish(x)


class ELU(_Activation):
    """x for x > 0, α(e^x − 1) otherwise;  derivative 1, or elu(x) + α."""

    kinks = (0.0,)

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return gg.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class CELU(ELU):
    """max(0, x) + min(0, α(e^(x/α) − 1)), continuously differentiable for any α."""

    def forward(self, x):
        return gg.celu(x, self.alpha)


class SELU(_Activation):
    """λ·elu(x, α) with λ ≈ 1.0507, α ≈ 1.6733: self-normalising for LeCun-normal weights."""

    kinks = (0.0,)

    def forward(self, x):
        return gg.selu(x)


class Hardtanh(_Activation):
    """clip(x, min_val, max_val);  derivative 1 inside, 0 outside."""

    kinks = (-1.0, 1.0)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0):
        super().__init__()
        self.min_val, self.max_val = float(min_val), float(max_val)

    def forward(self, x):
        return gg.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(_Activation):
    """min(max(0, x), 6) (MobileNet's bounded ReLU)."""

    kinks = (0.0, 6.0)

    def forward(self, x):
        return gg.relu6(x)


class Hardsigmoid(_Activation):
    """clip(x/6 + 1/2, 0, 1), a piecewise-linear sigmoid."""

    kinks = (-3.0, 3.0)

    def forward(self, x):
        return gg.hardsigmoid(x)


class Hardswish(_Activation):
    """x·clip(x + 3, 0, 6)/6, a piecewise swish (MobileNetV3)."""

    kinks = (-3.0, 3.0)

    def forward(self, x):
        return gg.hardswish(x)


class LogSigmoid(_Activation):
    """ln σ(x) = −softplus(−x);  derivative σ(−x)."""

    def forward(self, x):
        return gg.logsigmoid(x)


class Softsign(_Activation):
    """x / (1 + |x|);  derivative 1 / (1 + |x|)²."""

    def forward(self, x):
        return gg.softsign(x)


class Softmin(_Activation):
    """softmax(−x) along `dim` (PyTorch's argument name; default the last axis)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = int(dim)

    def forward(self, x):
        return gg.softmin(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


@gg.hookimpl
def graphgrad_register_layers():
    """The modern activation layers."""
    return [GELU, SiLU, Mish, ELU, CELU, SELU, Hardtanh, ReLU6, Hardsigmoid, Hardswish,
            LogSigmoid, Softsign, Softmin]
