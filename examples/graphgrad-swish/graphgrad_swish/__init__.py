"""graphgrad-swish: an outside graphgrad plugin (a layer and an initializer).

graphgrad loads this module through the entry point declared in
pyproject.toml (group ``graphgrad``) and calls its ``graphgrad_register_*``
hooks; nothing registers it by hand.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import Module, Parameter, resolve_rng

__version__ = "0.1.0"


class Swish(Module):
    """Swish / SiLU: y = x · σ(βx), σ the logistic sigmoid.

    dy/dx = σ(βx) + βx·σ(βx)(1 − σ(βx)).  β = 1 gives SiLU; as β → ∞ it tends
    to ReLU.  ``trainable=True`` makes β a Parameter (one shared value).
    """

    def __init__(self, beta: float = 1.0, trainable: bool = False):
        super().__init__()
        self.trainable = bool(trainable)
        if self.trainable:
            self.beta = Parameter(np.array([beta], dtype=np.float32))
        else:
            self.beta = float(beta)

    def forward(self, x):
        return x * gg.sigmoid(self.beta * x)

    def extra_repr(self) -> str:
        beta = float(self.beta.data[0]) if self.trainable else self.beta
        return f"beta={beta}, trainable={self.trainable}"

    @classmethod
    def example(cls, rng=None):
        """A Swish with a trainable β, so the check covers the parameter too."""
        return cls(beta=1.5, trainable=True)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input."""
        return gg.tensor(resolve_rng(rng).standard_normal((4, 3)).astype(np.float32))


class LecunUniform:
    """LeCun uniform: W ~ U(−a, a), a = √(3 / fan_in), so Var W = 1/fan_in.

    fan_in is shape[0] for graphgrad's (in, out) linear weights and
    in_c·k1·k2… for (out_c, in_c, k1, k2, …) kernels.
    """

    def __call__(self, shape, rng=None) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            fan_in = shape[0] if shape else 1
        elif len(shape) == 2:
            fan_in = shape[0]
        else:
            fan_in = shape[1] * math.prod(shape[2:])
        if fan_in == 0:
            raise ValueError(f"LecunUniform: shape {shape} has fan_in = 0")
        a = math.sqrt(3.0 / fan_in)
        return resolve_rng(rng).uniform(-a, a, shape)


@gg.hookimpl
def graphgrad_register_layers():
    """The layers of this plugin."""
    return [Swish]


@gg.hookimpl
def graphgrad_register_initializers():
    """The initializers of this plugin."""
    return [LecunUniform]
