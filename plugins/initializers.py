"""Built-in weight initializers, registered exactly as a third-party plugin would.

Every initializer is called as ``init(shape, rng) -> ndarray`` (float64; the
layer casts it to its dtype) and reads fan-in and fan-out off the shape
(``compute_fans``).  Each is a class, so it can carry parameters
(``Normal(std=0.01)``, ``Orthogonal(gain=2**0.5)``) and is usable by registry
name with its defaults (``init="he_normal"``).
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import resolve_rng


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape.

    - ``()``: (1, 1);  ``(n,)``: (n, n) (biases, per-feature scales);
    - ``(in, out)``: graphgrad's linear layout, ``y = x @ W``, so fan_in = shape[0];
    - ``(out_c, in_c, k1, k2, ...)``: convolution kernels, receptive field
      r = k1·k2·…, fan_in = in_c·r, fan_out = out_c·r.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Base class: subclasses implement ``sample(shape, rng)``; calling checks and delegates."""

    def __call__(self, shape, rng=None) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"{type(self).__name__}: negative dimension in shape {shape}")
        return np.asarray(self.sample(shape, resolve_rng(rng)), dtype=np.float64)

    def sample(self, shape, rng):  # pragma: no cover - every subclass overrides it
        """Draw an array of `shape` from `rng`."""
        raise NotImplementedError(f"{type(self).__name__} must implement sample(shape, rng)")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _fan_sum(who: str, shape) -> tuple[int, int]:
    fan_in, fan_out = compute_fans(shape)
    if fan_in + fan_out == 0:
        raise ValueError(f"{who}: shape {shape} has fan_in = fan_out = 0")
    return fan_in, fan_out


def _fan_in(who: str, shape) -> int:
    fan_in, _ = compute_fans(shape)
    if fan_in == 0:
        raise ValueError(f"{who}: shape {shape} has fan_in = 0; the variance 1/fan_in is undefined")
    return fan_in


class Zeros(Initializer):
    """W = 0 (biases)."""

    def variance(self, shape) -> float:
        """Var W = 0."""
        return 0.0

    def sample(self, shape, rng):
        return np.zeros(shape)


class Constant(Initializer):
    """W = value everywhere."""

    def variance(self, shape) -> float:
        """Var W = 0."""
        return 0.0

    def __init__(self, value: float = 0.0):
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)


class Uniform(Initializer):
    """W ~ U(low, high)."""

    def variance(self, shape) -> float:
        """Var W = (high − low)² / 12."""
        return (self.high - self.low) ** 2 / 12

    def __init__(self, low: float = 0.0, high: float = 1.0):
        if not low <= high:
            raise ValueError(f"Uniform: low must be <= high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def sample(self, shape, rng):
        return rng.uniform(self.low, self.high, shape)


class Normal(Initializer):
    """W ~ N(mean, std²)."""

    def variance(self, shape) -> float:
        """Var W = std²."""
        return self.std**2

    def __init__(self, mean: float = 0.0, std: float = 1.0):
        if std < 0:
            raise ValueError(f"Normal: std must be >= 0, got {std}")
        self.mean, self.std = float(mean), float(std)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, shape)


class XavierUniform(Initializer):
    """Glorot: W ~ U(−a, a), a = gain·√(6 / (fan_in + fan_out)); Var W = 2/(fan_in + fan_out)."""

    def variance(self, shape) -> float:
        """Var W = a² / 3 = gain²·2 / (fan_in + fan_out)."""
        return self.bound(shape) ** 2 / 3

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def bound(self, shape) -> float:
        """The half-width a of the uniform range."""
        fan_in, fan_out = _fan_sum(type(self).__name__, shape)
        return self.gain * math.sqrt(6.0 / (fan_in + fan_out))

    def sample(self, shape, rng):
        a = self.bound(shape)
        return rng.uniform(-a, a, shape)


class XavierNormal(Initializer):
    """Glorot: W ~ N(0, σ²), σ = gain·√(2 / (fan_in + fan_out))."""

    def variance(self, shape) -> float:
        """Var W = gain²·2 / (fan_in + fan_out)."""
        return self.gain**2 * 2.0 / sum(_fan_sum("XavierNormal", shape))

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        fan_in, fan_out = _fan_sum(type(self).__name__, shape)
        return rng.normal(0.0, self.gain * math.sqrt(2.0 / (fan_in + fan_out)), shape)


class SigmoidUniform(XavierUniform):
    """Glorot's bound for logistic-sigmoid units: U(−4a, 4a), a = √(6 / (fan_in + fan_out))."""

    def __init__(self, gain: float = 4.0):
        super().__init__(gain)


class HeNormal(Initializer):
    """He/Kaiming for ReLU: W ~ N(0, gain²·2/fan_in)."""

    def variance(self, shape) -> float:
        """Var W = gain²·2 / fan_in."""
        return self.gain**2 * 2.0 / _fan_in("HeNormal", shape)

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        return rng.normal(0.0, self.gain * math.sqrt(2.0 / _fan_in("HeNormal", shape)), shape)


class HeUniform(Initializer):
    """He/Kaiming for ReLU: W ~ U(−a, a), a = gain·√(6/fan_in) (variance 2/fan_in)."""

    def variance(self, shape) -> float:
        """Var W = a² / 3 = gain²·2 / fan_in."""
        return self.gain**2 * 2.0 / _fan_in("HeUniform", shape)

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        a = self.gain * math.sqrt(6.0 / _fan_in("HeUniform", shape))
        return rng.uniform(-a, a, shape)


class LecunNormal(Initializer):
    """LeCun: W ~ N(0, 1/fan_in) (unit output variance for unit-variance inputs)."""

    def variance(self, shape) -> float:
        """Var W = 1 / fan_in."""
        return 1.0 / _fan_in("LecunNormal", shape)

    def sample(self, shape, rng):
        return rng.normal(0.0, math.sqrt(1.0 / _fan_in("LecunNormal", shape)), shape)


class Orthogonal(Initializer):
    """W = gain·Q with Q orthogonal (Saxe et al.): rows or columns orthonormal.

    The shape is viewed as (shape[0], rest); Q comes from the QR decomposition
    of a Gaussian matrix with the signs of R's diagonal folded in, so Q is
    uniformly (Haar) distributed.
    """

    def variance(self, shape) -> float:
        """Var W ≈ gain² / max(rows, cols): orthonormal vectors of that length."""
        return self.gain**2 / max(shape[0], math.prod(shape[1:]))

    def __init__(self, gain: float = 1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape with at least 2 dims, got {shape}")
        rows, cols = shape[0], math.prod(shape[1:])
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


@gg.hookimpl
def graphgrad_register_initializers():
    """The built-in initializers."""
    return [Zeros, Constant, Uniform, Normal, XavierUniform, XavierNormal, SigmoidUniform,
            HeNormal, HeUniform, LecunNormal, Orthogonal]
