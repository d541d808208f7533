"""Training metrics: functions of a batch's predictions and targets, averaged over an epoch.

A metric is a callable ``metric(prediction, target) -> float`` on ndarrays that
returns the *mean* over the batch's samples. The trainer weights each batch by
its number of samples, so the epoch value is the mean over all samples, not
over batches. Metrics are named by a string from ``METRICS`` or given as a
callable (named after its ``name`` attribute or ``__name__``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def accuracy(prediction: np.ndarray, target: np.ndarray) -> float:
    """Fraction of samples whose predicted class is the target class.

    ``prediction`` holds scores of shape (N, C) (logits or probabilities; the
    predicted class is ``argmax_c``). ``target`` is integer labels of shape (N,)
    or a one-hot / probability matrix of shape (N, C) (its argmax is the class):

        accuracy = (1/N) · Σᵢ [argmax_c prediction_ic = yᵢ]
    """
    prediction, target = np.asarray(prediction), np.asarray(target)
    if prediction.ndim != 2:
        raise ValueError(
            f"accuracy: expected class scores of shape (N, C), got shape {prediction.shape}; "
            "for other outputs pass your own metric callable to Trainer(metrics=...)"
        )
    if target.shape == prediction.shape:
        target = target.argmax(axis=1)
    elif target.shape != prediction.shape[:1] or target.dtype.kind not in "iub":
        raise ValueError(
            f"accuracy: expected integer labels of shape ({prediction.shape[0]},) or targets of "
            f"the prediction's shape {prediction.shape}, got dtype {target.dtype} of shape "
            f"{target.shape}"
        )
    if len(target) == 0:
        return 0.0
    return float(np.mean(prediction.argmax(axis=1) == target))


METRICS: dict[str, Metric] = {"accuracy": accuracy}


def metric_name(metric: str | Metric) -> str:
    """The history key of a metric: its string, ``name`` attribute or ``__name__``."""
    if isinstance(metric, str):
        return metric
    name = getattr(metric, "name", None) or getattr(metric, "__name__", None)
    if not isinstance(name, str) or not name.isidentifier() or name == "<lambda>":
        raise ValueError(
            f"metric {metric!r} has no usable name; give it a `name` attribute or define it "
            "with def"
        )
    return name


def resolve_metrics(metrics: Iterable[str | Metric]) -> list[tuple[str, Metric]]:
    """``[(name, callable)]`` for names from ``METRICS`` and callables; rejects clashes."""
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    resolved: list[tuple[str, Metric]] = []
    for metric in metrics:
        name = metric_name(metric)
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(
                    f"Trainer: unknown metric {metric!r}; known metrics: {sorted(METRICS)}, "
                    "or pass a callable metric(prediction, target) -> float"
                )
            metric = METRICS[metric]
        elif not callable(metric):
            raise TypeError(f"Trainer: a metric must be a name or a callable, got {metric!r}")
        if name in ("loss", "lr", "time", "epoch") or name.startswith("val_"):
            raise ValueError(f"Trainer: metric name {name!r} is reserved; rename the metric")
        if name in (n for n, _ in resolved):
            raise ValueError(f"Trainer: two metrics are named {name!r}")
        resolved.append((name, metric))
    return resolved


class Averager:
    """Sample-weighted running means: ``add(name, batch_mean, n)`` then ``means()``.

    mean = Σ_b n_b · m_b / Σ_b n_b over the batches b added so far.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, value: float, n: int) -> None:
        """Add one batch's mean ``value`` over ``n`` samples."""
        self.totals[name] = self.totals.get(name, 0.0) + float(value) * n
        self.counts[name] = self.counts.get(name, 0) + n

    def means(self, prefix: str = "") -> dict[str, float]:
        """The averages, with ``prefix`` before each name."""
        return {
            prefix + name: self.totals[name] / self.counts[name] if self.counts[name] else 0.0
            for name in self.totals
        }
