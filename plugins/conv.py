"""Built-in convolution and pooling layers, registered exactly as a third-party plugin would.

``conv1d``, ``conv2d``, ``conv_transpose2d``, ``max_pool2d``, ``avg_pool2d``,
``adaptive_avg_pool2d`` and ``dropout2d`` (``batch_norm2d`` lives with the
other normalization layers).  Inputs are NCHW (channels on axis 1) and weights
use PyTorch's layouts, so fan-in and fan-out of the initializers include the
receptive field: a Conv2d weight (out, in/groups, kh, kw) has
fan_in = in/groups·kh·kw and fan_out = out·kh·kw (``compute_fans``).
"""

from __future__ import annotations

import graphgrad as gg
from graphgrad.extend import Module, Parameter, resolve_rng


def _tuple(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class _ConvNd(Module):
    """Shared constructor of Conv1d and Conv2d: weight (out, in/groups, *kernel) and bias (out,)."""

    spatial = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, init="he_normal",
                 bias_init="zeros", rng=None, dtype="float32"):
        super().__init__()
        name = type(self).__name__
        if in_channels < 1 or out_channels < 1 or groups < 1:
            raise ValueError(f"{name}: in_channels, out_channels and groups must be >= 1, got "
                             f"({in_channels}, {out_channels}, {groups})")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} and out_channels="
                             f"{out_channels} must both be divisible by groups={groups}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _tuple(kernel_size, self.spatial)
        self.stride, self.dilation = _tuple(stride, self.spatial), _tuple(dilation, self.spatial)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, self.spatial)
        self.groups = int(groups)
        rng = resolve_rng(rng)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter.initialized(shape, init, rng, dtype)
        self.bias = (Parameter.initialized((self.out_channels,), bias_init, rng, dtype)
                     if bias else None)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")
        if any(d != 1 for d in self.dilation):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) of NCHW input, as ``torch.nn.Conv2d``:

    y[n, o] = b[o] + Σ_c w[o, c] ⋆ x[n, c],  output (N, out_channels, Ho, Wo) with
    Ho = ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1 (``padding="same"`` keeps H).
    Parameters: out·in/groups·kh·kw + out.
    """

    def forward(self, x):
        return gg.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)

    @classmethod
    def example(cls, rng=None):
        """A Conv2d(2, 4, 3, padding=1, stride=2)."""
        return cls(2, 4, 3, stride=2, padding=1, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 2, 5, 5) float32 input."""
        return gg.randn(2, 2, 5, 5, rng=rng)


class Conv1d(_ConvNd):
    """1-D convolution of (N, C, L) input, as ``torch.nn.Conv1d``; weight (out, in/groups, k)."""

    spatial = 1

    def forward(self, x):
        return gg.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)

    @classmethod
    def example(cls, rng=None):
        """A Conv1d(2, 3, 3, padding=1)."""
        return cls(2, 3, 3, padding=1, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 2, 6) float32 input."""
        return gg.randn(2, 2, 6, rng=rng)


class ConvTranspose2d(Module):
    """Transposed 2-D convolution, as ``torch.nn.ConvTranspose2d`` (the gradient of a conv).

    Weight (in, out/groups, kh, kw) (PyTorch's layout, so fan_in is computed
    from out/groups·kh·kw, as PyTorch does); output size per axis
    (H − 1)·s − 2p + d(k − 1) + output_padding + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 init="he_normal", bias_init="zeros", rng=None, dtype="float32"):
        super().__init__()
        if in_channels < 1 or out_channels < 1 or groups < 1:
            raise ValueError(f"ConvTranspose2d: in_channels, out_channels and groups must be "
                             f">= 1, got ({in_channels}, {out_channels}, {groups})")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: in_channels={in_channels} and out_channels="
                             f"{out_channels} must both be divisible by groups={groups}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _tuple(kernel_size, 2)
        self.stride, self.padding = _tuple(stride, 2), _tuple(padding, 2)
        self.output_padding, self.dilation = _tuple(output_padding, 2), _tuple(dilation, 2)
        self.groups = int(groups)
        rng = resolve_rng(rng)
        shape = (self.in_channels, self.out_channels // self.groups) + self.kernel_size
        self.weight = Parameter.initialized(shape, init, rng, dtype)
        self.bias = (Parameter.initialized((self.out_channels,), bias_init, rng, dtype)
                     if bias else None)

    def forward(self, x):
        return gg.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}")

    @classmethod
    def example(cls, rng=None):
        """A ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)."""
        return cls(3, 2, 3, stride=2, padding=1, output_padding=1, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 3, 3) float32 input."""
        return gg.randn(2, 3, 3, 3, rng=rng)


class MaxPool2d(Module):
    """Max over k×k windows of NCHW input, as ``torch.nn.MaxPool2d`` (stride defaults to k)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.padding = _tuple(kernel_size, 2), _tuple(padding, 2)
        self.stride = self.kernel_size if stride is None else _tuple(stride, 2)
        self.dilation, self.ceil_mode = _tuple(dilation, 2), bool(ceil_mode)

    def forward(self, x):
        return gg.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                             self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}" + (", ceil_mode=True" if self.ceil_mode else ""))

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 4, 4) float32 input."""
        return gg.randn(2, 3, 4, 4, rng=rng)

    @classmethod
    def example(cls, rng=None):
        """A MaxPool2d(2)."""
        return cls(2)


class AvgPool2d(Module):
    """Mean over k×k windows of NCHW input, as ``torch.nn.AvgPool2d`` (padding counted by
    default: ``count_include_pad=True``)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.padding = _tuple(kernel_size, 2), _tuple(padding, 2)
        self.stride = self.kernel_size if stride is None else _tuple(stride, 2)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        return gg.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    @classmethod
    def example(cls, rng=None):
        """An AvgPool2d(3, stride=2, padding=1)."""
        return cls(3, stride=2, padding=1)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 5, 5) float32 input."""
        return gg.randn(2, 3, 5, 5, rng=rng)


class AdaptiveAvgPool2d(Module):
    """Average-pool NCHW input to a fixed ``output_size`` (Ho, Wo), as PyTorch; (1, 1) is
    global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = _tuple(output_size, 2)

    def forward(self, x):
        return gg.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

    @classmethod
    def example(cls, rng=None):
        """An AdaptiveAvgPool2d((2, 3))."""
        return cls((2, 3))

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 5, 7) float32 input."""
        return gg.randn(2, 3, 5, 7, rng=rng)


class Dropout2d(Module):
    """Channel dropout, as ``torch.nn.Dropout2d``: in training each channel map is zeroed
    with probability p and the others scaled by 1/(1 − p); identity in eval mode."""

    stochastic = True

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout2d: p is a drop probability in [0, 1], got {p}")
        self.p = float(p)
        self.rng = None if rng is None else resolve_rng(rng)

    def forward(self, x):
        return gg.dropout2d(x, self.p, self.training, resolve_rng(self.rng))

    def extra_repr(self) -> str:
        return f"p={self.p}"

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 4, 4) float32 input."""
        return gg.randn(2, 3, 4, 4, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The built-in convolution and pooling layers."""
    return [Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
            Dropout2d]
