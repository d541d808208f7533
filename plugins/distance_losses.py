"""Built-in distance and divergence losses: smooth_l1, huber, kl_div and
cosine_embedding, registered exactly as a third-party plugin would.

Each is built from graphgrad ops, so it is differentiable (twice where the
maths allows); the formulas are PyTorch's (SmoothL1Loss, HuberLoss,
KLDivLoss, CosineEmbeddingLoss).
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Loss, Tensor, as_array, check_float, check_same_shape


def _target_like(who: str, prediction: Tensor, target) -> Tensor:
    check_float(who, "the target", target)
    check_same_shape(who, prediction, target)
    if isinstance(target, Tensor):
        return target.astype(prediction.dtype)
    return Tensor._wrap(np.asarray(target, dtype=prediction.dtype))


class SmoothL1(Loss):
    """Smooth L1 per element, d = prediction − target:

        ℓ = ½·d²/β  where |d| < β,  |d| − ½·β elsewhere  (β > 0; β = 0 is L1);

    "mean" averages over all elements.
    """

    def __init__(self, beta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1: beta must be >= 0, got {beta}")
        self.beta = float(beta)

    @classmethod
    def example_input(cls, rng):
        """Predictions and targets (4, 3), for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def forward(self, prediction, target):
        d = prediction - _target_like(type(self).__name__, prediction, target)
        if self.beta == 0:
            return gg.abs(d)
        small = gg.abs(d) < self.beta
        return gg.where(small, 0.5 * d * d / self.beta, gg.abs(d) - 0.5 * self.beta)

    def __repr__(self):
        return f"{type(self).__name__}(beta={self.beta}, reduction={self.reduction!r})"


class Huber(Loss):
    """Huber loss per element, d = prediction − target:

        ℓ = ½·d²  where |d| ≤ δ,  δ·(|d| − ½·δ) elsewhere  (= δ·smooth_l1 with β = δ);

    "mean" averages over all elements.
    """

    def __init__(self, delta: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if delta <= 0:
            raise ValueError(f"Huber: delta must be > 0, got {delta}")
        self.delta = float(delta)

    @classmethod
    def example_input(cls, rng):
        """Predictions and targets (4, 3), for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def forward(self, prediction, target):
        d = prediction - _target_like("Huber", prediction, target)
        small = gg.abs(d) <= self.delta
        return gg.where(small, 0.5 * d * d, self.delta * (gg.abs(d) - 0.5 * self.delta))

    def __repr__(self):
        return f"Huber(delta={self.delta}, reduction={self.reduction!r})"


class KLDiv(Loss):
    """Kullback–Leibler divergence KL(t ‖ q) with log-probabilities log q as the prediction:

        ℓ = t·(log t − log q)  (0 where t = 0),  or with ``log_target=True``
        (targets given as log t) ℓ = e^(log t)·(log t − log q);

    one value per element.  reduction "batchmean" (the true KL per sample,
    PyTorch's recommendation) is the sum divided by N; "mean" averages over
    all elements, as PyTorch's KLDivLoss.
    """

    def __init__(self, reduction: str = "mean", log_target: bool = False):
        if reduction == "batchmean":
            super().__init__("sum")
            self.reduction = "batchmean"
        else:
            super().__init__(reduction)
        self.log_target = bool(log_target)

    @classmethod
    def example_input(cls, rng):
        """Log-probabilities and probabilities (4, 3), for ``gg.check.loss``."""
        logits, target = rng.normal(size=(4, 3)), rng.uniform(0.1, 1.0, size=(4, 3))
        logq = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logq, target / target.sum(axis=1, keepdims=True)

    def forward(self, prediction, target):
        target = _target_like("KLDiv", prediction, target)
        if self.log_target:
            return gg.exp(target) * (target - prediction)
        positive = target > 0.0
        log_t = gg.log(gg.where(positive, target, 1.0))
        return gg.where(positive, target * (log_t - prediction), 0.0)

    def reduce(self, values: Tensor) -> Tensor:
        """"batchmean": sum / N; otherwise as any loss."""
        if self.reduction == "batchmean":
            return values.sum() / (values.shape[0] if values.ndim else 1)
        return super().reduce(values)


class CosineEmbedding(Loss):
    """Cosine embedding loss of input pairs (x1, x2), each (N, D) (or (D,)), with labels
    y ∈ {1, −1} (N,), called as ``loss(x1, x2, y)`` (PyTorch's) or with the pair
    stacked, ``loss(stack([x1, x2]), y)`` (the ``loss(prediction, target)`` form):

        ℓᵢ = 1 − cos(x1ᵢ, x2ᵢ)               where yᵢ = 1,
        ℓᵢ = max(0, cos(x1ᵢ, x2ᵢ) − margin)  where yᵢ = −1,

    cos(a, b) = a·b / √((‖a‖² + ε)(‖b‖² + ε)), ε = 1e-12 as PyTorch.
    """

    def __init__(self, margin: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.margin = float(margin)

    @classmethod
    def example_input(cls, rng):
        """A stacked pair (2, 4, 3) and labels ±1 (4,), for ``gg.check.loss``."""
        return rng.normal(size=(2, 4, 3)), np.array([1, -1, 1, -1])

    def __call__(self, input1, input2, target=None) -> Tensor:
        if target is None:  # loss(stack([x1, x2]), y)
            pair = input1 if isinstance(input1, Tensor) else Tensor(input1)
            if pair.ndim < 2 or pair.shape[0] != 2:
                raise ValueError(f"CosineEmbedding: a stacked pair must have shape (2, N, D) "
                                 f"or (2, D), got {pair.shape}")
            input1, input2, target = pair[0], pair[1], input2
        x1 = input1 if isinstance(input1, Tensor) else Tensor(input1)
        x2 = input2 if isinstance(input2, Tensor) else Tensor(input2)
        check_float("CosineEmbedding", "input1", x1)
        check_same_shape("CosineEmbedding", x1, x2)
        return self.reduce(self.forward(x1, x2, target))

    def forward(self, x1, x2, target):
        """The per-pair losses (N,) (a scalar for (D,) inputs)."""
        if x1.ndim not in (1, 2):
            raise ValueError(f"CosineEmbedding: inputs must be (N, D) or (D,), got {x1.shape}")
        y = as_array(target)
        if y.shape != x1.shape[:-1] or not np.all(np.isin(y, (-1, 1))):
            raise ValueError(f"CosineEmbedding: target must be ±1 of shape {x1.shape[:-1]}, "
                             f"got shape {y.shape} with values {np.unique(y)[:5].tolist()}")
        dot = (x1 * x2).sum(axis=-1)
        norms = ((x1 * x1).sum(axis=-1) + 1e-12) * ((x2 * x2).sum(axis=-1) + 1e-12)
        cos = dot / gg.sqrt(norms)
        return gg.where(y == 1, 1 - cos, gg.relu(cos - self.margin))

    def __repr__(self):
        return f"CosineEmbedding(margin={self.margin}, reduction={self.reduction!r})"


@gg.hookimpl
def graphgrad_register_losses():
    """The distance and divergence losses."""
    return [SmoothL1, Huber, KLDiv, CosineEmbedding]
