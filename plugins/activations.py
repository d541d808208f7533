"""Built-in activation layers, registered exactly as a third-party plugin would.

All are elementwise and built from graphgrad ops, so they are differentiable
(twice, where the maths allows: the ReLU family has a zero second derivative
almost everywhere).  ``prelu`` has a trainable slope; ``noisy_relu`` is
stochastic in training mode.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import K, Module, Parameter, resolve_rng


def _example(rng, shape=(4, 3), margin=0.0):
    """A small float32 input; `margin` pushes values away from 0 (the kinks of the ReLU family)."""
    x = resolve_rng(rng).standard_normal(shape)
    return gg.tensor((x + margin * np.sign(x)).astype(np.float32))


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e^(−x));  σ' = σ(1 − σ)."""

    def forward(self, x):
        return gg.sigmoid(x)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input."""
        return _example(rng)


class Tanh(Module):
    """tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x));  tanh' = 1 − tanh²."""

    def forward(self, x):
        return gg.tanh(x)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input."""
        return _example(rng)


class ScaledTanh(Module):
    """LeCun's scaled tanh: f(x) = 1.7159·tanh(2x/3), so f(±1) ≈ ±1 and f'(0) ≈ 1.14."""

    scale = 1.7159
    slope = 2.0 / 3.0

    def forward(self, x):
        return self.scale * gg.tanh(self.slope * x)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input."""
        return _example(rng)


class TanhLinear(Module):
    """f(x) = tanh(x) + β·x: a tanh with a small linear term so it never saturates flat."""

    def __init__(self, beta: float = 0.1):
        super().__init__()
        self.beta = float(beta)

    def forward(self, x):
        return gg.tanh(x) + self.beta * x

    def extra_repr(self) -> str:
        return f"beta={self.beta}"

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input."""
        return _example(rng)


class ReLU(Module):
    """max(0, x);  derivative 1 for x > 0, 0 for x < 0 (0 at the kink)."""

    def forward(self, x):
        return gg.relu(x)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input kept away from the kink at 0."""
        return _example(rng, margin=0.1)


class LeakyReLU(Module):
    """x for x > 0, slope·x otherwise (a small gradient where ReLU has none)."""

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = float(slope)

    def forward(self, x):
        return gg.leaky_relu(x, self.slope)

    def extra_repr(self) -> str:
        return f"slope={self.slope}"

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input kept away from the kink at 0."""
        return _example(rng, margin=0.1)


class PReLU(Module):
    """Parametric ReLU: max(0, x) + a·min(0, x) with a trainable slope a.

    ``num_parameters=1`` shares one slope; ``num_parameters=C`` gives one per
    channel, the channel axis being axis 1 (``(N, C)`` or ``(N, C, H, W)``).
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype="float32"):
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be >= 1, got {num_parameters}")
        self.num_slopes = int(num_parameters)
        self.weight = Parameter(np.full(self.num_slopes, init, dtype=dtype))

    def forward(self, x):
        a = self.weight
        if self.num_slopes > 1:
            if x.ndim < 2 or x.shape[1] != self.num_slopes:
                raise ValueError(
                    f"PReLU: {self.num_slopes} slopes need the channel axis 1 of the "
                    f"input to have that size; got input of shape {x.shape}"
                )
            a = a.reshape((1, -1) + (1,) * (x.ndim - 2))
        return gg.relu(x) - a * gg.relu(-x)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_slopes}"

    @classmethod
    def example(cls, rng=None):
        """A PReLU with one slope per channel of the example input."""
        return cls(num_parameters=3)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input kept away from the kink at 0."""
        return _example(rng, margin=0.1)


class NoisyReLU(Module):
    """max(0, x + ε) with ε ~ N(0, σ²) drawn afresh per element in training; max(0, x) in eval.

    ``rng``: a Generator or seed for the noise; None draws from graphgrad's
    global generator at call time (``gg.manual_seed``).
    """

    stochastic = True

    def __init__(self, sigma: float = 1.0, rng=None):
        super().__init__()
        if sigma < 0:
            raise ValueError(f"NoisyReLU: sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)
        self.rng = None if rng is None else resolve_rng(rng)

    def forward(self, x):
        if self.training and self.sigma > 0:
            x = x + K.normal(resolve_rng(self.rng), 0.0, self.sigma, x.shape, x.dtype)
        return gg.relu(x)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"

    @classmethod
    def example(cls, rng=None):
        """A NoisyReLU with small noise."""
        return cls(sigma=0.1, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input kept away from the kink at 0."""
        return _example(rng, margin=0.5)


class Softplus(Module):
    """ln(1 + e^(βx))/β, a smooth ReLU, reverting to x where βx > threshold;
    derivative σ(βx)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        return gg.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3) float32 input."""
        return _example(rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The built-in activation layers."""
    return [Sigmoid, Tanh, ScaledTanh, TanhLinear, ReLU, LeakyReLU, PReLU, NoisyReLU, Softplus]
