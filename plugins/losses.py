"""Built-in losses, registered exactly as a third-party plugin would.

Every loss is called as ``loss(prediction, target)`` and has
``reduction="mean" | "sum" | "none"`` (see ``graphgrad.nn.loss``).
Classification: ``cross_entropy``, ``nll``, ``bce_with_logits``,
``multiclass_hinge``, ``squared_hinge``, ``multilabel_hinge``; regression:
``sse``, ``mse``, ``l1``.  ``hierarchical_softmax`` (many classes) lives in
``graphgrad_plugins.hierarchical_softmax``.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import Loss, Tensor, as_array, check_float, check_labels, check_same_shape


def _scores(who: str, prediction: Tensor, what: str = "scores") -> None:
    if prediction.ndim != 2:
        raise ValueError(f"{who}: expected {what} of shape (N, C), got shape {prediction.shape}")


def _target_like(who: str, prediction: Tensor, target) -> Tensor:
    """A float target of the prediction's shape and dtype (float64 targets must not turn a
    float32 model's loss and whole backward pass into float64)."""
    check_float(who, "the target", target)
    check_same_shape(who, prediction, target)
    if isinstance(target, Tensor):
        return target.astype(prediction.dtype)  # differentiable; a no-op when dtypes agree
    return Tensor._wrap(np.asarray(target, dtype=prediction.dtype))


def _scores_and_labels(rng, n: int = 4, c: int = 3):
    """A small (scores (N, C), integer labels (N,)) pair: the example for ``gg.check.loss``."""
    return rng.normal(size=(n, c)), rng.integers(0, c, size=n)


def _pick(values: Tensor, labels: np.ndarray) -> Tensor:
    """values[i, labels[i]] for every row i, as an (N,) Tensor."""
    return values[np.arange(len(labels)), labels]


class CrossEntropy(Loss):
    """Cross-entropy of logits z (N, C) against a target distribution.

    Integer labels y (N,):  ℓᵢ = −log softmax(zᵢ)_{yᵢ} = logsumexp(zᵢ) − z_{i,yᵢ},
    computed by the fused, stable kernel ``gg.softmax_cross_entropy``.
    Class probabilities t (N, C) (soft targets):  ℓᵢ = −Σ_c t_{ic} · log_softmax(zᵢ)_c.
    Per sample; "mean" averages over the N samples.
    """

    @classmethod
    def example_input(cls, rng):
        """Scores (4, 3) and integer labels (4,), for ``gg.check.loss``."""
        return _scores_and_labels(rng)

    def chance_loss(self, n_classes: int) -> float | None:
        """log C: the loss of uniform predictions over C classes (babysit's chance level)."""
        return math.log(n_classes) if n_classes > 1 else None

    def forward(self, prediction, target):
        _scores("CrossEntropy", prediction, "logits")
        kind = as_array(target).dtype.kind
        if kind in "iu":
            labels = check_labels("CrossEntropy", target, *prediction.shape)
            return gg.softmax_cross_entropy(prediction, labels)
        if kind == "f":
            target = _target_like("CrossEntropy", prediction, target)
            return -(target * gg.log_softmax(prediction, axis=1)).sum(axis=1)
        raise TypeError(
            f"CrossEntropy: the target must be integer labels of shape ({prediction.shape[0]},) "
            f"or class probabilities of shape {prediction.shape}, got dtype "
            f"{as_array(target).dtype} of shape {as_array(target).shape}"
        )


class NLL(Loss):
    """Negative log-likelihood of log-probabilities (N, C):  ℓᵢ = −log p_{i,yᵢ}.

    Pair it with ``log_softmax`` (together they are ``cross_entropy``).
    Per sample; "mean" averages over the N samples.
    """

    @classmethod
    def example_input(cls, rng):
        """Log-probabilities (4, 3) and integer labels (4,), for ``gg.check.loss``."""
        scores, labels = _scores_and_labels(rng)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True)), labels

    chance_loss = CrossEntropy.chance_loss

    def forward(self, prediction, target):
        _scores("NLL", prediction, "log-probabilities")
        labels = check_labels("NLL", target, *prediction.shape)
        return -_pick(prediction, labels)


class _BCEWithLogits(gg.Function):
    """max(z, 0) − z·y + log(1 + e^−|z|), stable for any z;  ∂/∂z = σ(z) − y,  ∂/∂y = −z."""

    @classmethod
    def example_input(cls, rng):
        """Logits (4, 3) and targets in [0, 1], for ``gg.check.function``."""
        return rng.normal(size=(4, 3)), rng.uniform(size=(4, 3))

    @staticmethod
    def forward(ctx, z, y):
        ctx.save_for_backward(z, y)
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))

    @staticmethod
    def backward(ctx, g):
        z, y = ctx.saved_tensors
        dz = g * (gg.sigmoid(z) - y) if ctx.needs_input_grad[0] else None
        dy = -g * z if ctx.needs_input_grad[1] else None
        return dz, dy


class BCEWithLogits(Loss):
    """Binary cross-entropy of logits z against targets y ∈ [0, 1] of the same shape.

    ℓ = −y·log σ(z) − (1−y)·log(1 − σ(z)) = max(z, 0) − z·y + log(1 + e^−|z|),
    the last form exact for |z| in the thousands.  One value per element (multi-
    label: one binary problem per column); "mean" averages over all elements.
    """

    @classmethod
    def example_input(cls, rng):
        """Logits (4, 3) and targets in [0, 1], for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.uniform(size=(4, 3))

    def chance_loss(self, n_classes: int) -> float:
        """log 2: the loss of logits 0 (babysit's chance level)."""
        return math.log(2.0)

    def forward(self, prediction, target):
        target = _target_like("BCEWithLogits", prediction, target)
        t = target.data
        if t.size and (t.min() < 0 or t.max() > 1):
            raise ValueError(
                f"BCEWithLogits: targets must lie in [0, 1], got values from {t.min()} to {t.max()}"
            )
        return _BCEWithLogits.apply(prediction, target)


class MulticlassHinge(Loss):
    """Multiclass (Weston-Watkins) hinge loss on scores a (N, C) with labels y (N,):

    ℓᵢ = Σ_{c≠yᵢ} max(0, a_{ic} − a_{iyᵢ} + margin).
    Per sample; "mean" averages over the N samples.
    """

    @classmethod
    def example_input(cls, rng):
        """Scores (4, 3) and integer labels (4,), for ``gg.check.loss``."""
        return _scores_and_labels(rng)

    power = 1

    def __init__(self, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = float(margin)

    def chance_loss(self, n_classes: int) -> float | None:
        """(C − 1)·marginᵖ: the loss when all scores are equal (babysit's chance level)."""
        return (n_classes - 1) * self.margin**self.power if n_classes > 1 else None

    def forward(self, prediction, target):
        who = type(self).__name__
        _scores(who, prediction)
        labels = check_labels(who, target, *prediction.shape)
        others = np.ones(prediction.shape, dtype=prediction.dtype)
        others[np.arange(len(labels)), labels] = 0
        correct = _pick(prediction, labels).reshape(-1, 1)
        violation = gg.relu(prediction - correct + self.margin) * others
        if self.power == 2:
            violation = violation * violation
        return violation.sum(axis=1)

    def __repr__(self):
        return f"{type(self).__name__}(margin={self.margin}, reduction={self.reduction!r})"


class SquaredHinge(MulticlassHinge):
    """Squared multiclass hinge (the L2-SVM loss) on scores (N, C) with labels (N,):

    ℓᵢ = Σ_{c≠yᵢ} max(0, a_{ic} − a_{iyᵢ} + margin)²  — smooth, and it punishes
    large violations more.  Per sample; "mean" averages over the N samples.
    """

    power = 2


class MultilabelHinge(Loss):
    """One binary hinge per label, on scores a (N, C) and targets (N, C):

    ℓᵢ = Σ_c max(0, margin − t_{ic}·a_{ic}),  t = ±1 (targets in {0, 1} are mapped
    to t = 2y − 1; targets in {−1, +1} are used as they are).
    Per sample; "mean" averages over the N samples.
    """

    @classmethod
    def example_input(cls, rng):
        """Scores (4, 3) and 0/1 targets (4, 3), for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.integers(0, 2, size=(4, 3))

    def __init__(self, margin=1.0, reduction="mean"):
        super().__init__(reduction)
        self.margin = float(margin)

    def forward(self, prediction, target):
        _scores("MultilabelHinge", prediction)
        check_same_shape("MultilabelHinge", prediction, target)
        y = as_array(target)
        values = set(np.unique(y).tolist())
        if values <= {0, 1}:
            signs = 2 * y.astype(prediction.dtype) - 1
        elif values <= {-1, 1}:
            signs = y.astype(prediction.dtype)
        else:
            raise ValueError(
                "MultilabelHinge: targets must be all in {0, 1} or all in {-1, +1}, got "
                f"values {sorted(values)[:5]}"
            )
        return gg.relu(self.margin - signs * prediction).sum(axis=1)

    def __repr__(self):
        return f"MultilabelHinge(margin={self.margin}, reduction={self.reduction!r})"


def _per_sample_sum(x: Tensor) -> Tensor:
    return x if x.ndim == 1 else x.reshape(x.shape[0], -1).sum(axis=1)


class SSE(Loss):
    """Sum of squared errors, ℓᵢ = ½‖yᵢ − aᵢ‖² summed over each sample's features.

    Prediction and target of one shape (N, ...); one value per sample (N,).
    "mean" averages over the N samples (not over the features), "sum" is
    ½‖Y − A‖² over the whole batch.  The ½ makes ∂ℓ/∂a = a − y.
    """

    @classmethod
    def example_input(cls, rng):
        """Prediction and target (4, 3), for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def forward(self, prediction, target):
        if prediction.ndim == 0:
            raise ValueError("SSE: expected a prediction of shape (N, ...), got a scalar")
        diff = prediction - _target_like("SSE", prediction, target)
        return 0.5 * _per_sample_sum(diff * diff)


class MSE(Loss):
    """Mean squared error: (y − a)² per element; "mean" averages over all elements."""

    @classmethod
    def example_input(cls, rng):
        """Prediction and target (4, 3), for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def forward(self, prediction, target):
        diff = prediction - _target_like("MSE", prediction, target)
        return diff * diff


class L1(Loss):
    """Mean absolute error: |y − a| per element; "mean" averages over all elements."""

    @classmethod
    def example_input(cls, rng):
        """Prediction and target (4, 3), for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))

    def forward(self, prediction, target):
        return gg.abs(prediction - _target_like("L1", prediction, target))


@gg.hookimpl
def graphgrad_register_losses():
    """The built-in losses (hierarchical_softmax registers from its own module)."""
    return [CrossEntropy, NLL, BCEWithLogits, MulticlassHinge, SquaredHinge, MultilabelHinge,
            SSE, MSE, L1]
