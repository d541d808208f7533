"""Per-sample normalization layers and softmax layers, as in ``torch.nn``.

``LayerNorm``, ``RMSNorm`` and ``GroupNorm`` normalise each sample on its own
(no running statistics, same in train and eval); ``Softmax`` and ``LogSoftmax``
wrap the ops of the same name.  LayerNorm and RMSNorm call the fused ops
``gg.layer_norm`` / ``gg.rms_norm`` (one kernel forward, one backward);
GroupNorm is built from graphgrad ops.  Every derivative is itself differentiable.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Module, Parameter, resolve_rng


def _shape(who: str, normalized_shape) -> tuple[int, ...]:
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (int(normalized_shape),)
    shape = tuple(normalized_shape)
    if not shape or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                        for s in shape):
        raise ValueError(f"{who}: normalized_shape must be a positive int or a non-empty tuple "
                         f"of positive ints, got {normalized_shape!r}")
    return tuple(int(s) for s in shape)


def _check_trailing(who: str, x, shape) -> tuple[int, ...]:
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"{who}: the input's last {len(shape)} dims must be {shape} "
                         f"(normalized_shape), got input shape {tuple(x.shape)}")
    return tuple(range(x.ndim - len(shape), x.ndim))


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dims (``torch.nn.LayerNorm``).

    For each sample, over the last len(normalized_shape) axes:

        μ = mean(x),  σ² = mean((x − μ)²)  (biased),  y = (x − μ) / √(σ² + eps) · γ + β

    γ (``weight``, ones) and β (``bias``, zeros) have shape ``normalized_shape``;
    ``elementwise_affine=False`` drops both, ``bias=False`` drops β.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype="float32"):
        super().__init__()
        self.normalized_shape = _shape("LayerNorm", normalized_shape)
        if not (isinstance(eps, (int, float)) and eps >= 0):
            raise ValueError(f"LayerNorm: eps must be a number >= 0, got {eps!r}")
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        self.weight = (Parameter(np.ones(self.normalized_shape, dtype=dtype))
                       if elementwise_affine else None)
        self.bias = (Parameter(np.zeros(self.normalized_shape, dtype=dtype))
                     if elementwise_affine and bias else None)

    def forward(self, x):
        _check_trailing("LayerNorm", x, self.normalized_shape)
        return gg.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")

    @classmethod
    def example(cls, rng=None):
        """A LayerNorm(4) with non-trivial γ and β."""
        rng = resolve_rng(rng)
        layer = cls(4)
        with gg.no_grad():
            layer.weight.copy_(rng.uniform(0.5, 1.5, 4))
            layer.bias.copy_(rng.standard_normal(4))
        return layer

    @classmethod
    def example_input(cls, rng=None):
        """A (3, 4) float32 input."""
        return gg.randn(3, 4, rng=rng)


class RMSNorm(Module):
    """Root-mean-square normalization, as ``torch.nn.RMSNorm``.

        y = x / √(mean(x²) + eps) · γ   over the trailing ``normalized_shape`` dims

    ``eps=None`` means the machine epsilon of the input's dtype
    (``np.finfo(x.dtype).eps``, 1.19e-7 for float32), as PyTorch.  No bias.
    """

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, dtype="float32"):
        super().__init__()
        self.normalized_shape = _shape("RMSNorm", normalized_shape)
        if eps is not None and not (isinstance(eps, (int, float)) and eps >= 0):
            raise ValueError(f"RMSNorm: eps must be None or a number >= 0, got {eps!r}")
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        self.weight = (Parameter(np.ones(self.normalized_shape, dtype=dtype))
                       if elementwise_affine else None)

    def forward(self, x):
        _check_trailing("RMSNorm", x, self.normalized_shape)
        return gg.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")

    @classmethod
    def example(cls, rng=None):
        """An RMSNorm(4) with a non-trivial γ."""
        rng = resolve_rng(rng)
        layer = cls(4)
        with gg.no_grad():
            layer.weight.copy_(rng.uniform(0.5, 1.5, 4))
        return layer

    @classmethod
    def example_input(cls, rng=None):
        """A (3, 4) float32 input."""
        return gg.randn(3, 4, rng=rng)


class GroupNorm(Module):
    """Group normalization of (N, C, ...) input, as ``torch.nn.GroupNorm(groups, channels)``.

    The C channels are split into G = ``num_groups`` groups of C/G; per sample
    and group, over (C/G, *spatial): μ, σ² (biased), x̂ = (x − μ)/√(σ² + eps),
    then y = γ_c·x̂ + β_c with per-channel γ (``weight``) and β (``bias``), (C,).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, dtype="float32"):
        super().__init__()
        for name, v in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"GroupNorm: {name} must be an integer >= 1, got {v!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), bool(affine)
        self.weight = Parameter(np.ones(num_channels, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, dtype=dtype)) if affine else None

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, ...) with the "
                             f"channels on axis 1, got shape {tuple(x.shape)}")
        n, g = x.shape[0], self.num_groups
        grouped = x.reshape(n, g, -1)
        mean = grouped.mean(axis=2, keepdims=True)
        centred = grouped - mean
        var = (centred * centred).mean(axis=2, keepdims=True)
        y = (centred / gg.sqrt(var + self.eps)).reshape(*x.shape)
        if self.affine:
            stat = (1, self.num_channels) + (1,) * (x.ndim - 2)
            y = y * self.weight.reshape(stat) + self.bias.reshape(stat)
        return y

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"

    @classmethod
    def example(cls, rng=None):
        """A GroupNorm(2, 4) with non-trivial γ and β."""
        rng = resolve_rng(rng)
        layer = cls(2, 4)
        with gg.no_grad():
            layer.weight.copy_(rng.uniform(0.5, 1.5, 4))
            layer.bias.copy_(rng.standard_normal(4))
        return layer

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 4, 3) float32 input."""
        return gg.randn(2, 4, 3, rng=rng)


def _axis_arg(who: str, axis, dim) -> int:
    if dim is not None:
        if axis != -1 and axis != dim:
            raise TypeError(f"{who}: got axis={axis} and dim={dim}; pass one of them")
        axis = dim
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{who}: axis must be an int, got {axis!r}")
    return int(axis)


class Softmax(Module):
    """softmax along ``axis`` (default the last; ``dim=`` is accepted as PyTorch's name).

    y_i = e^(x_i − max x) / Σ_j e^(x_j − max x), the stable ``gg.softmax`` op.
    """

    def __init__(self, axis: int = -1, dim: int | None = None):
        super().__init__()
        self.axis = _axis_arg("Softmax", axis, dim)

    def forward(self, x):
        return gg.softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    @classmethod
    def example_input(cls, rng=None):
        """A (3, 5) float32 input."""
        return gg.randn(3, 5, rng=rng)


class LogSoftmax(Module):
    """log-softmax along ``axis`` (``dim=`` accepted): x − logsumexp(x) (``gg.log_softmax``)."""

    def __init__(self, axis: int = -1, dim: int | None = None):
        super().__init__()
        self.axis = _axis_arg("LogSoftmax", axis, dim)

    def forward(self, x):
        return gg.log_softmax(x, axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"

    @classmethod
    def example_input(cls, rng=None):
        """A (3, 5) float32 input."""
        return gg.randn(3, 5, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The per-sample normalization layers and the softmax layers."""
    return [LayerNorm, RMSNorm, GroupNorm, Softmax, LogSoftmax]
