"""Built-in losses, registered exactly as a third-party plugin would.

Every loss is called as ``loss(prediction, target)`` and has
``reduction="mean" | "sum" | "none"`` (see ``graphgrad.nn.loss``).
Classification: ``cross_entropy``, ``nll``, ``bce_with_logits``, ``bce``,
``multiclass_hinge``, ``squared_hinge``, ``multilabel_hinge``; regression:
``sse``, ``mse``, ``l1`` (``smooth_l1``, ``huber``, ``kl_div`` and
``cosine_embedding`` live in ``graphgrad_plugins.distance_losses``).
``hierarchical_softmax`` (many classes) lives in
``graphgrad_plugins.hierarchical_softmax``.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import (
    K,
    Loss,
    Tensor,
    as_array,
    check_float,
    check_labels,
    check_same_shape,
)


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


def _class_last(who: str, logits: Tensor, labels) -> tuple[Tensor, np.ndarray]:
    """Logits (N, C), (N, C, d1, ...) or (C,) as rows (M, C), and their labels (M,).

    The class axis is axis 1 (axis 0 for a single (C,) sample), as in PyTorch;
    labels have the logits' shape without the class axis.
    """
    if logits.ndim == 0:
        raise ValueError(f"{who}: expected logits of shape (N, C), (N, C, d1, ...) or (C,), "
                         "got a scalar")
    labels = as_array(labels)
    expected = () if logits.ndim == 1 else (logits.shape[0],) + logits.shape[2:]
    if labels.shape != expected:
        raise ValueError(f"{who}: expected labels of shape {expected} for logits of shape "
                         f"{logits.shape}, got shape {labels.shape}")
    if logits.ndim == 1:
        return logits.reshape(1, -1), labels.reshape(1)
    if logits.ndim > 2:
        logits = gg.movedim(logits, 1, -1)
    return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)


class _WeightedMean(Loss):
    """A loss whose "mean" divides by a total weight that forward computes (PyTorch's
    weighted mean over the samples that are not ignored)."""

    _denominator = None

    def reduce(self, values: Tensor) -> Tensor:
        """sum / total weight for "mean" when forward set one; else as any loss."""
        if self.reduction == "mean" and self._denominator is not None:
            return values.sum() / self._denominator
        return super().reduce(values)


class CrossEntropy(_WeightedMean):
    """Cross-entropy of logits z against class labels or class probabilities.

    Shapes as PyTorch: logits (N, C) with labels (N,), (N, C, d1, ...) with
    labels (N, d1, ...), or (C,) with one label; or probabilities of the
    logits' shape.  With log pᵢ = log_softmax(zᵢ), class weights w (default 1),
    smoothing ε and C classes, for labels:

        ℓᵢ = −w_{yᵢ}·(1 − ε)·log p_{i,yᵢ} − (ε/C)·Σ_c w_c·log p_{i,c}

    and ℓᵢ = 0 where yᵢ = ignore_index; "mean" is Σᵢ ℓᵢ / Σᵢ w_{yᵢ} over the
    samples not ignored.  For probabilities t: ℓᵢ = −Σ_c w_c·t'_{ic}·log p_{ic}
    with t' = (1 − ε)·t + ε/C, and "mean" averages over the samples.  The
    plain case (labels, no options) runs one fused, stable kernel.
    """

    def __init__(self, weight=None, ignore_index: int = -100, label_smoothing: float = 0.0,
                 reduction: str = "mean", class_axis: int | None = None):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropy: label_smoothing must lie in [0, 1], got "
                             f"{label_smoothing}")
        if class_axis is not None and (isinstance(class_axis, bool)
                                       or not isinstance(class_axis, (int, np.integer))):
            raise TypeError(f"{type(self).__name__}: class_axis must be None (PyTorch's "
                            f"layout: axis 1, or 0 for (C,)) or an int, got {class_axis!r}")
        self.weight = None if weight is None else as_array(weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)
        self.class_axis = None if class_axis is None else int(class_axis)

    def __call__(self, prediction, target):
        if self.class_axis is None:
            return super().__call__(prediction, target)
        if not isinstance(prediction, Tensor):
            prediction = Tensor(prediction)
        check_float(type(self).__name__, "the prediction", prediction)
        rows, flat, shape = self._classes_last(prediction, target)
        if rows is prediction:
            return super().__call__(prediction, target)
        values = self.forward(rows, flat)
        return self.reduce(values.reshape(shape) if self.reduction == "none" else values)

    def _classes_last(self, prediction, target):
        """(rows (M, C), targets of the rows, the unreduced loss's shape) for ``class_axis``.

        The class axis moves last (a view when it already is, as for (N, T, C)
        sequence logits) and the other axes flatten into M rows; integer labels
        have the logits' shape without the class axis, probabilities the
        logits' shape.  ``rows is prediction`` when the layout is PyTorch's already.
        """
        who, ndim = type(self).__name__, prediction.ndim
        if ndim == 0:  # the default path names the problem (a scalar is no logits)
            return prediction, target, None
        if not -max(ndim, 1) <= self.class_axis < max(ndim, 1):
            raise ValueError(f"{who}: class_axis={self.class_axis} is out of range for logits "
                             f"of shape {prediction.shape}")
        axis = self.class_axis % ndim
        if axis == (1 if ndim > 1 else 0):
            return prediction, target, None
        shape = prediction.shape[:axis] + prediction.shape[axis + 1:]
        rows = gg.moveaxis(prediction, axis, -1) if axis != ndim - 1 else prediction
        rows = rows.reshape(-1, prediction.shape[axis])
        if as_array(target).dtype.kind == "f" and as_array(target).shape == prediction.shape:
            t = gg.moveaxis(target, axis, -1) if isinstance(target, Tensor) else np.moveaxis(
                as_array(target), axis, -1)
            return rows, t.reshape(-1, prediction.shape[axis]), shape
        labels = as_array(target)
        if labels.shape != shape:
            raise ValueError(f"{who}: expected labels of shape {shape} for logits of shape "
                             f"{prediction.shape} with class_axis={self.class_axis}, got "
                             f"shape {labels.shape}")
        return rows, labels.reshape(-1), shape

    @classmethod
    def example_input(cls, rng):
        """Scores (4, 3) and integer labels (4,), for ``gg.check.loss``."""
        return _scores_and_labels(rng)

    def chance_loss(self, n_classes: int) -> float | None:
        """log C: the loss of uniform predictions over C classes (babysit's chance level)."""
        return math.log(n_classes) if n_classes > 1 else None

    def forward(self, prediction, target):
        self._denominator = None
        kind = as_array(target).dtype.kind
        if kind == "f" and prediction.ndim == 2 and as_array(target).ndim == 1:
            # float labels of shape (N,) are class indices of the wrong dtype, not
            # probabilities: check_labels says so (use labels.astype(int))
            check_labels("CrossEntropy", target, *prediction.shape)
        plain = self.weight is None and self.label_smoothing == 0.0
        if kind in "iu" and plain and prediction.ndim == 2 and \
                not np.any(as_array(target) == self.ignore_index):
            labels = check_labels("CrossEntropy", target, *prediction.shape)
            return gg.softmax_cross_entropy(prediction, labels)
        if kind in "iu":
            return self._from_labels(prediction, target)
        if kind == "f":
            return self._from_probabilities(prediction, target)
        raise TypeError(
            f"CrossEntropy: the target must be integer labels or class probabilities of "
            f"shape {prediction.shape}, got dtype {as_array(target).dtype} of shape "
            f"{as_array(target).shape}"
        )

    def _weights(self, n_classes: int, dtype) -> np.ndarray:
        if self.weight is None:
            return np.ones(n_classes, dtype=dtype)
        if self.weight.shape != (n_classes,):
            raise ValueError(f"{type(self).__name__}: weight must have one entry per class, "
                             f"shape ({n_classes},), got shape {self.weight.shape}")
        return self.weight.astype(dtype)

    def _from_labels(self, prediction, target, log_probs=False):
        who = type(self).__name__
        rows, labels = _class_last(who, prediction, target)
        n_classes = rows.shape[1]
        keep = labels != self.ignore_index
        if np.any((labels[keep] < 0) | (labels[keep] >= n_classes)):
            bad = labels[keep][(labels[keep] < 0) | (labels[keep] >= n_classes)]
            raise ValueError(f"{who}: labels must lie in [0, {n_classes}) (or equal "
                             f"ignore_index={self.ignore_index}), got e.g. {bad[0]}")
        w = self._weights(n_classes, prediction.dtype)
        # the label arithmetic goes through kernels: under gg.compile the labels are an
        # input of the replay, and so are the weights and the total they give
        keep = K.not_equal(labels, self.ignore_index)
        safe = K.cast(K.where(keep, labels, 0), np.intp)
        logp = rows if log_probs else gg.log_softmax(rows, axis=1)
        w_y = K.where(keep, K.getitem(w, safe), 0.0)
        eps = getattr(self, "label_smoothing", 0.0)
        loss = -_pick(logp, safe) * (K.mul(w_y, 1.0 - eps) if eps else w_y)
        if eps:
            loss = loss - (logp * w).sum(axis=1) * K.where(keep, eps / n_classes, 0.0)
        self._denominator = K.sum(w_y)
        return loss.reshape(as_array(target).shape)

    def _from_probabilities(self, prediction, target):
        if prediction.ndim < 1:
            raise ValueError("CrossEntropy: expected logits of shape (N, C, ...) or (C,)")
        target = _target_like("CrossEntropy", prediction, target)
        axis = 0 if prediction.ndim == 1 else 1
        n_classes = prediction.shape[axis]
        w = self._weights(n_classes, prediction.dtype)
        w = w.reshape((-1,) + (1,) * (prediction.ndim - axis - 1))
        if self.label_smoothing:
            target = target * (1 - self.label_smoothing) + self.label_smoothing / n_classes
        return -(target * gg.log_softmax(prediction, axis=axis) * w).sum(axis=axis)


class NLL(CrossEntropy):
    """Negative log-likelihood of log-probabilities (N, C), (N, C, d1, ...) or (C,):

        ℓᵢ = −w_{yᵢ}·log p_{i,yᵢ}  (0 where yᵢ = ignore_index);

    "mean" is Σᵢ ℓᵢ / Σᵢ w_{yᵢ} over the samples not ignored (PyTorch's NLLLoss).
    Pair it with ``log_softmax`` (together they are ``cross_entropy``).
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 class_axis: int | None = None):
        super().__init__(weight, ignore_index, 0.0, reduction, class_axis)

    @classmethod
    def example_input(cls, rng):
        """Log-probabilities (4, 3) and integer labels (4,), for ``gg.check.loss``."""
        scores, labels = _scores_and_labels(rng)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True)), labels

    def forward(self, prediction, target):
        self._denominator = None
        labels = as_array(target)
        if labels.dtype.kind not in "iu":
            raise TypeError(f"NLL: expected integer class labels, got dtype {labels.dtype}; "
                            "convert with labels.astype(int)")
        return self._from_labels(prediction, labels, log_probs=True)


class _BCEWithLogits(gg.Function):
    """max(z, 0) − z·y + log(1 + e^−|z|), stable for any z;  ∂/∂z = σ(z) − y,  ∂/∂y = −z."""

    @classmethod
    def example_input(cls, rng):
        """Logits (4, 3) and targets in [0, 1], for ``gg.check.function``."""
        return rng.normal(size=(4, 3)), rng.uniform(size=(4, 3))

    @staticmethod
    def forward(ctx, z, y):
        ctx.save_for_backward(z, y)
        # max(z, 0) − z·y + log1p(e^−|z|), through the kernel table (gg.compile replays it)
        return K.add(K.sub(K.relu(z), K.mul(z, y)), K.softplus(K.neg(K.abs(z))))

    @staticmethod
    def backward(ctx, g):
        z, y = ctx.saved_tensors
        dz = g * (gg.sigmoid(z) - y) if ctx.needs_input_grad[0] else None
        dy = -g * z if ctx.needs_input_grad[1] else None
        return dz, dy


class BCEWithLogits(Loss):
    """Binary cross-entropy of logits z against targets y ∈ [0, 1] of the same shape.

    ℓ = −w·[p·y·log σ(z) + (1−y)·log(1 − σ(z))], with per-element weight w
    (``weight``, broadcast) and positive-class weight p (``pos_weight``,
    broadcast along the last axis, one per class).  Without p it is
    max(z, 0) − z·y + log(1 + e^−|z|), exact for |z| in the thousands; with p
    it is −p·y·logsigmoid(z) − (1−y)·logsigmoid(−z).  One value per element
    (multi-label: one binary problem per column); "mean" averages over all.
    """

    def __init__(self, weight=None, pos_weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = None if weight is None else as_array(weight)
        self.pos_weight = None if pos_weight is None else as_array(pos_weight)

    @classmethod
    def example_input(cls, rng):
        """Logits (4, 3) and targets in [0, 1], for ``gg.check.loss``."""
        return rng.normal(size=(4, 3)), rng.uniform(size=(4, 3))

    def chance_loss(self, n_classes: int) -> float:
        """log 2: the loss of logits 0 (babysit's chance level)."""
        return math.log(2.0)

    def forward(self, prediction, target):
        target = _target_like("BCEWithLogits", prediction, target)
        _check_unit_interval("BCEWithLogits", target.data)
        if self.pos_weight is None:
            loss = _BCEWithLogits.apply(prediction, target)
        else:
            p = self.pos_weight.astype(prediction.dtype)
            loss = -(p * target * gg.logsigmoid(prediction)
                     + (1 - target) * gg.logsigmoid(-prediction))
        return loss if self.weight is None else loss * self.weight.astype(prediction.dtype)


def _check_unit_interval(who: str, t: np.ndarray) -> None:
    if t.size and (t.min() < 0 or t.max() > 1):
        raise ValueError(f"{who}: targets must lie in [0, 1], got values from {t.min()} to "
                         f"{t.max()}")


_LOG_FLOOR = math.exp(-100)  # PyTorch clamps BCE's logs at −100


class BCE(Loss):
    """Binary cross-entropy of probabilities p ∈ [0, 1] against targets y of the same shape:

    ℓ = −w·[y·log p + (1 − y)·log(1 − p)], each log clamped at −100 as in
    PyTorch's BCELoss (so p = 0 or 1 gives a finite loss).  Prefer
    ``bce_with_logits`` on logits: it is exact where σ saturates.
    """

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = None if weight is None else as_array(weight)

    @classmethod
    def example_input(cls, rng):
        """Probabilities in (0.05, 0.95) (4, 3) and targets in [0, 1], for ``gg.check.loss``."""
        return rng.uniform(0.05, 0.95, size=(4, 3)), rng.uniform(size=(4, 3))

    def chance_loss(self, n_classes: int) -> float:
        """log 2: the loss of p = 1/2 (babysit's chance level)."""
        return math.log(2.0)

    def forward(self, prediction, target):
        target = _target_like("BCE", prediction, target)
        _check_unit_interval("BCE", target.data)
        p = prediction.data
        if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
            raise ValueError(f"BCE: predictions must be probabilities in [0, 1], got values "
                             f"from {p.min()} to {p.max()}; use bce_with_logits on logits")
        log_p = gg.log(gg.clip(prediction, _LOG_FLOOR, None))
        log_q = gg.log(gg.clip(1 - prediction, _LOG_FLOOR, None))
        loss = -(target * log_p + (1 - target) * log_q)
        return loss if self.weight is None else loss * self.weight.astype(prediction.dtype)


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
        n = len(labels)  # others = 1 − onehot(labels), made by kernels (gg.compile replays it)
        onehot = K.index_add(prediction.shape, (np.arange(n), labels),
                             np.ones(n, dtype=prediction.dtype))
        others = K.sub(np.ones((), dtype=prediction.dtype), onehot)
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
        if y.dtype != prediction.dtype:
            y = K.cast(y, prediction.dtype)
        if values <= {0, 1}:
            signs = K.sub(K.mul(y, 2.0), 1.0)
        elif values <= {-1, 1}:
            signs = y
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
    return [CrossEntropy, NLL, BCEWithLogits, BCE, MulticlassHinge, SquaredHinge,
            MultilabelHinge, SSE, MSE, L1]
