"""Built-in normalization layers, registered exactly as a third-party plugin would."""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Module, Parameter, resolve_rng


class BatchNorm(Module):
    """Batch normalization over the batch (and spatial) axes, per feature/channel.

    For input (N, C) the statistics are per feature over N; for (N, C, H, W)
    (or any (N, C, ...)) per channel over N, H, W.  In training:

        μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ) / √(σ² + eps),  y = γ·x̂ + β

    and the running statistics move towards the batch's:
    r ← (1 − momentum)·r + momentum·s (the running variance uses the unbiased
    σ²·n/(n − 1)).  ``momentum=None`` uses the cumulative average instead.  In
    eval mode μ, σ² are the running statistics, so y does not depend on the
    batch.  ``affine=False`` drops γ (``weight``) and β (``bias``).  Forward and
    backward are one fused op each way (``gg.batch_norm``, as ``F.batch_norm``).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, dtype="float32"):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise TypeError(f"BatchNorm: num_features must be an integer >= 1, got "
                            f"{num_features!r} ({type(num_features).__name__})")
        if num_features < 1:
            raise ValueError(f"BatchNorm: num_features must be >= 1, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm: momentum must be in [0, 1] or None, got {momentum}")
        self.num_features, self.eps = int(num_features), float(eps)
        self.momentum, self.affine = momentum, bool(affine)
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def _check(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm: expected input (N, {self.num_features}) or (N, "
                f"{self.num_features}, ...) with the features/channels on axis 1, got shape "
                f"{tuple(x.shape)}"
            )

    def forward(self, x):
        self._check(x)
        if self.training:  # the running statistics are updated in place by the op
            return gg.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                 training=True, momentum=self.momentum, eps=self.eps,
                                 num_batches_tracked=self.num_batches_tracked)
        # named, so pictures show the running statistics as such (not as data)
        return gg.batch_norm(x, gg.tensor(self.running_mean, name="running_mean"),
                             gg.tensor(self.running_var, name="running_var"), self.weight,
                             self.bias, training=False, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"num_features={self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")

    @classmethod
    def example(cls, rng=None):
        """A BatchNorm(3) with non-trivial γ, β and running statistics."""
        rng = resolve_rng(rng)
        layer = cls(3)
        with gg.no_grad():
            layer.weight.copy_(rng.uniform(0.5, 1.5, 3))
            layer.bias.copy_(rng.standard_normal(3))
        layer.running_mean = rng.standard_normal(3).astype(np.float32)
        layer.running_var = rng.uniform(0.5, 2.0, 3).astype(np.float32)
        return layer

    @classmethod
    def example_input(cls, rng=None):
        """A (6, 3) float32 input."""
        return gg.randn(6, 3, rng=rng)


class BatchNorm2d(BatchNorm):
    """Batch normalization of NCHW input, per channel over (N, H, W), as ``torch.nn.BatchNorm2d``.

    The statistics, running averages and eval mode are BatchNorm's; this class
    only insists on a 4-D input with ``num_features`` channels on axis 1.
    """

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != self.num_features:
            hint = (" (the input looks channels-last: NCHW is expected, move the channels "
                    "with x.transpose((0, 3, 1, 2)))"
                    if x.ndim == 4 and x.shape[-1] == self.num_features else "")
            raise ValueError(f"BatchNorm2d: expected input (N, {self.num_features}, H, W), got "
                             f"shape {tuple(x.shape)}{hint}")

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 3, 2, 2) float32 input."""
        return gg.randn(4, 3, 2, 2, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The built-in normalization layers."""
    return [BatchNorm, BatchNorm2d]
