"""Hierarchical softmax: a softmax layer and its loss for very many classes.

Registered as the loss ``hierarchical_softmax``, exactly as a third-party
plugin would register one.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import (
    K,
    check_float,
    check_labels,
    check_reduction,
    reduce,
    resolve_rng,
)

# Added to the logits of the padding slots of the last cluster: e^(-1e30) = 0.
_MASKED = -1e30


class HierarchicalSoftmax(gg.Module):
    """Two-level softmax over C classes: p(c | x) = p(k | x) · p(c | k, x).

    The classes are split into K ≈ √C clusters of S = ⌈C/K⌉ consecutive classes
    (class c is slot c mod S of cluster ⌊c/S⌋).  From features x (N, D):

        p(k | x)    = softmax(x·U + b)_k                     U: (D, K)
        p(c | k, x) = softmax(x·W_k + b_k)_{c mod S}         W_k: (D, S), one per cluster

    The loss of a sample with label y in cluster k is
    ℓ = −log p(k | x) − log p(y | k, x): it touches K + S ≈ 2√C output units
    instead of C, so training costs O(D·√C) per sample.  Because each level is
    a softmax, Σ_c p(c | x) = 1 exactly.  ``predict_proba`` and ``predict``
    need every class and cost O(D·C) per sample.

    ``hs(x, labels)`` returns the loss with ``reduction`` "mean" (over the
    samples), "sum" or "none" (per sample, (N,)).  Its parameters (``parameters()``)
    train together with the model that produces x.
    """

    @classmethod
    def example(cls, rng=None):
        """A small one (3 features, 5 classes in 3 clusters), for ``gg.check.loss``."""
        return cls(3, 5, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """Features (4, 3) and labels (4,) in [0, 5), for ``gg.check.loss``."""
        rng = resolve_rng(rng)
        return rng.normal(size=(4, 3)), rng.integers(0, 5, size=4)

    def __init__(self, in_features, n_classes, n_clusters=None, reduction="mean", rng=None,
                 dtype="float32"):
        super().__init__()
        if not (isinstance(in_features, int) and in_features >= 1):
            raise ValueError(f"HierarchicalSoftmax: in_features must be an integer >= 1, got "
                             f"{in_features!r}")
        if not (isinstance(n_classes, int) and n_classes >= 2):
            raise ValueError(f"HierarchicalSoftmax: n_classes must be an integer >= 2, got "
                             f"{n_classes!r}")
        if n_clusters is None:
            n_clusters = math.ceil(math.sqrt(n_classes))
        if not (isinstance(n_clusters, int) and 1 <= n_clusters <= n_classes):
            raise ValueError(f"HierarchicalSoftmax: n_clusters must be an integer in [1, "
                             f"{n_classes}], got {n_clusters!r}")
        self.reduction = check_reduction("HierarchicalSoftmax", reduction)
        self.in_features, self.n_classes = in_features, n_classes
        self.cluster_size = math.ceil(n_classes / n_clusters)
        self.n_clusters = math.ceil(n_classes / self.cluster_size)  # no empty cluster
        k, s, d = self.n_clusters, self.cluster_size, in_features
        gen = resolve_rng(rng)
        scale = 1.0 / math.sqrt(d)  # logits of unit variance for unit-variance features
        self.cluster_weight = gg.Parameter(gen.normal(0, scale, (d, k)).astype(dtype))
        self.cluster_bias = gg.Parameter(np.zeros(k, dtype))
        self.class_weight = gg.Parameter(gen.normal(0, scale, (k, d, s)).astype(dtype))
        self.class_bias = gg.Parameter(np.zeros((k, s), dtype))
        mask = np.zeros((k, s), dtype)
        mask.reshape(-1)[n_classes:] = _MASKED  # the unused tail of the last cluster
        self.register_buffer("mask", mask)

    def _features(self, x):
        x = x if isinstance(x, gg.Tensor) else gg.tensor(x)
        check_float("HierarchicalSoftmax", "the features", x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"HierarchicalSoftmax: expected features of shape (N, "
                             f"{self.in_features}), got shape {x.shape}")
        return x

    def forward(self, x, labels):
        """The loss −log p(label | x), reduced by ``self.reduction``."""
        x = self._features(x)
        n = x.shape[0]
        labels = check_labels("HierarchicalSoftmax", labels, n, self.n_classes)
        # through kernels, so that under gg.compile the labels are an input of the replay
        cluster = K.floor_divide(labels, self.cluster_size)
        slot = K.remainder(labels, self.cluster_size)
        rows = np.arange(n)
        log_pk = gg.log_softmax(x @ self.cluster_weight + self.cluster_bias, axis=1)
        w = self.class_weight[cluster]  # (N, D, S): only each sample's own cluster
        within = (x.reshape(n, 1, -1) @ w).reshape(n, -1)
        within = within + self.class_bias[cluster] + K.getitem(self.mask, cluster)
        log_pc = gg.log_softmax(within, axis=1)
        return self.reduce(-(log_pk[rows, cluster] + log_pc[rows, slot]))

    def reduce(self, values):
        """Apply ``self.reduction`` to per-sample losses (as ``Loss.reduce`` does)."""
        return reduce(values, self.reduction)

    def log_proba(self, x):
        """log p(c | x) for every class: a (N, C) Tensor (O(D·C) per sample)."""
        x = self._features(x)
        n = x.shape[0]
        log_pk = gg.log_softmax(x @ self.cluster_weight + self.cluster_bias, axis=1)
        within = (x.reshape(1, n, -1) @ self.class_weight).transpose(1, 0, 2)  # (N, K, S)
        log_pc = gg.log_softmax(within + self.class_bias + self.mask, axis=2)
        joint = log_pk.reshape(n, -1, 1) + log_pc
        return joint.reshape(n, -1)[:, : self.n_classes]

    def predict_proba(self, x):
        """p(c | x) for every class, (N, C); each row sums to 1."""
        return gg.exp(self.log_proba(x))

    def predict(self, x) -> np.ndarray:
        """The most probable class of each sample, an integer array (N,)."""
        with gg.no_grad():
            return np.argmax(self.log_proba(x).data, axis=1)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, n_classes={self.n_classes}, "
                f"n_clusters={self.n_clusters}, cluster_size={self.cluster_size}, "
                f"reduction={self.reduction!r}")


@gg.hookimpl
def graphgrad_register_losses():
    """The hierarchical softmax loss."""
    return [HierarchicalSoftmax]
