"""Loss: the base class of every loss (reduction handling and target validation).

A loss is called as ``loss(prediction, target)``.  A subclass implements
``forward(prediction, target)`` returning the *unreduced* loss — one value per
sample (shape ``(N,)``) or per element (the prediction's shape), as it
documents — and the base class applies ``reduction``:

* ``"mean"``: the mean of those values (per-sample losses: over the batch;
  elementwise losses: over every element, as in PyTorch);
* ``"sum"``: their sum;
* ``"none"``: the values themselves.

The ``check_*`` helpers give every loss the same error messages: they name
the loss, the expected and the given shapes, dtypes or values.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.tensor import Tensor

__all__ = ["Loss", "REDUCTIONS", "reduce", "check_reduction", "check_labels",
           "check_same_shape", "check_float", "as_array"]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(who: str, reduction: str) -> str:
    """Raise ValueError unless reduction is "mean", "sum" or "none"."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def reduce(values: Tensor, reduction: str) -> Tensor:
    """mean(values), sum(values), or values themselves for "none"."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def as_array(x) -> np.ndarray:
    """The ndarray inside a Tensor, or np.asarray of anything else."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def check_float(who: str, what: str, x) -> None:
    """Raise TypeError unless x has a floating-point dtype."""
    dtype = as_array(x).dtype
    if dtype.kind != "f":
        raise TypeError(f"{who}: {what} must be floating point, got dtype {dtype}")


def check_labels(who: str, labels, n: int, n_classes: int) -> np.ndarray:
    """Integer class labels of shape (n,) in [0, n_classes), as an intp ndarray."""
    arr = as_array(labels)
    if arr.dtype.kind not in "iu":
        raise TypeError(
            f"{who}: class indices must be integers; got {arr.dtype} labels of shape "
            f"{arr.shape} (expected ({n},)); use labels.astype(int)"
        )
    if arr.shape != (n,):
        raise ValueError(
            f"{who}: expected labels of shape ({n},) (one per row of the prediction), got "
            f"shape {arr.shape}"
        )
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = arr[(arr < 0) | (arr >= n_classes)]
        raise ValueError(
            f"{who}: labels must lie in [0, {n_classes}) for {n_classes} classes, got "
            f"{bad.size} out of range (e.g. {bad[0]})"
        )
    return arr.astype(np.intp, copy=False)


def check_same_shape(who: str, prediction, target) -> None:
    """Raise ValueError unless prediction and target have equal shapes."""
    ps, ts = as_array(prediction).shape, as_array(target).shape
    if ps != ts:
        raise ValueError(
            f"{who}: expected a target of the prediction's shape {ps}, got shape {ts}"
        )


class Loss:
    """Base class: ``loss(prediction, target)`` = reduce(forward(prediction, target)).

    ``reduction`` is ``"mean"`` (default), ``"sum"`` or ``"none"``; see the
    module docstring for what ``"mean"`` averages over.
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = check_reduction(type(self).__name__, reduction)

    def forward(self, prediction: Tensor, target) -> Tensor:
        """The unreduced loss (per sample or per element)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(prediction, "
                                  "target)")

    def __call__(self, prediction, target) -> Tensor:
        if not isinstance(prediction, Tensor):
            prediction = Tensor(prediction)
        check_float(type(self).__name__, "the prediction", prediction)
        return self.reduce(self.forward(prediction, target))

    def reduce(self, values: Tensor) -> Tensor:
        """Apply ``self.reduction`` to unreduced loss values."""
        return reduce(values, self.reduction)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"
