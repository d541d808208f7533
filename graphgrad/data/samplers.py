"""Samplers: the order in which a DataLoader visits a map-style dataset.

Two kinds exist, and the DataLoader tells them apart by one class attribute:

* an *index sampler* (``yields_batches = False``, the default) yields single
  dataset indices; the loader groups them into mini-batches of ``batch_size``
  (``RandomSampler``, ``SequentialSampler``, ``HardExampleSampler``);
* a *batch sampler* (``yields_batches = True``) yields whole mini-batches as
  integer arrays; the loader uses them as they are and ignores its own
  ``batch_size`` and ``drop_last`` (``StratifiedSampler``).

Every sampler that draws random numbers owns a ``numpy.random.Generator`` and
has ``state_dict()`` / ``load_state_dict()`` returning plain JSON-able data, so
a checkpoint written between epochs resumes the exact same sequence of epochs.
Each ``iter()`` is one epoch and advances the generator: no ``set_epoch`` call
is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from graphgrad.random import SeedLike, generator_state, make_rng, restore_generator


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_n(n: int, who: str) -> int:
    if not _is_int(n) or n < 0:
        raise ValueError(f"{who}: n must be a non-negative int (the dataset size), got {n!r}")
    return int(n)


class Sampler:
    """Base class: an iterable of dataset indices (or of index batches when
    ``yields_batches`` is True), one pass per ``iter()``."""

    yields_batches = False

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state; empty for samplers without randomness."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., n-1`` in order, every epoch."""

    def __init__(self, n: int):
        self.n = _check_n(n, "SequentialSampler")

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


class RandomSampler(Sampler):
    """A fresh uniform random permutation of ``0..n-1`` every epoch.

    Each ``iter()`` draws ``pi ~ Uniform(S_n)`` from the sampler's generator, so
    consecutive epochs differ and the whole sequence repeats with ``seed``.
    """

    def __init__(self, n: int, seed: SeedLike = None):
        self.n = _check_n(n, "RandomSampler")
        self.rng = make_rng(seed)

    def __iter__(self) -> Iterator[int]:
        return iter(self.rng.permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n

    def state_dict(self) -> dict[str, Any]:
        return {"rng": generator_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_generator(self.rng, state["rng"])


def largest_remainder(quotas: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Round non-negative real ``quotas`` (summing to ``total``) to integers with
    the same sum (Hamilton's method): take ``floor(q)``, then give the remaining
    units to the largest fractional parts, breaking ties at random."""
    base = np.floor(quotas).astype(np.int64)
    left = total - int(base.sum())
    if left > 0:
        frac = quotas - base
        order = np.lexsort((rng.random(len(quotas)), -frac))
        base[order[:left]] += 1
    return base


class StratifiedSampler(Sampler):
    """Batch sampler whose every mini-batch is as class-diverse as the class
    counts allow (proportional allocation).

    Each epoch shuffles every class's indices into a queue. With ``r_c`` indices
    left in class ``c`` and ``R = sum_c r_c``, the next batch of size
    ``b' = min(b, R)`` takes ``k_c`` indices from queue ``c``, where ``k_c`` is
    ``b' * r_c / R`` rounded by the largest-remainder method (so ``sum k_c = b'``
    and ``|k_c - b' r_c / R| < 1``). Allocating from what is *left* keeps the
    proportions right to the last batch: 3 classes of 40/40/20 with ``b = 10``
    give exactly 4/4/2 in every batch. Batches are shuffled internally.

    Yields integer arrays (``yields_batches = True``): pass it to
    ``DataLoader(sampler=...)``, which then uses these batches as they are.
    """

    yields_batches = True

    def __init__(self, labels, batch_size: int, seed: SeedLike = None, drop_last: bool = False):
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(
                f"StratifiedSampler: labels must be a 1-D array of class labels, got shape "
                f"{labels.shape}; for one-hot targets pass labels.argmax(axis=1)"
            )
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(
                f"StratifiedSampler: batch_size must be a positive int, got {batch_size!r}"
            )
        self.labels = labels
        self.batch_size = int(batch_size)
        self.drop_last = bool(drop_last)
        self.rng = make_rng(seed)
        self.classes, inverse = np.unique(labels, return_inverse=True)
        self._members = [np.flatnonzero(inverse == k) for k in range(len(self.classes))]

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        queues = [self.rng.permutation(m) for m in self._members]
        heads = np.zeros(len(queues), dtype=np.int64)
        remaining = np.array([len(q) for q in queues], dtype=np.int64)
        batches = []
        for _ in range(len(self)):
            size = min(self.batch_size, int(remaining.sum()))
            take = largest_remainder(size * remaining / remaining.sum(), size, self.rng)
            parts = [q[h : h + k] for q, h, k in zip(queues, heads, take, strict=True)]
            heads += take
            remaining -= take
            batches.append(self.rng.permutation(np.concatenate(parts)))
        return iter(batches)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": generator_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        restore_generator(self.rng, state["rng"])


def capped_probabilities(scores: np.ndarray, floor: float, cap: float) -> np.ndarray:
    """Mix normalised ``scores`` with a uniform floor, then cap.

    ``p_i = floor / n + (1 - floor) * s_i / sum(s)`` (uniform if ``sum(s) = 0``),
    then water-filling: any ``p_i > cap / n`` is set to ``cap / n`` and the
    excess is shared among the uncapped samples in proportion to their ``p_i``,
    repeated until none exceeds the cap. Sharing only raises uncapped entries, so
    ``floor / n <= p_i <= cap / n`` and ``sum p = 1`` (needs ``cap >= 1``).
    """
    n = len(scores)
    total = scores.sum()
    mix = scores / total if total > 0 else np.full(n, 1.0 / n)
    p = floor / n + (1.0 - floor) * mix
    limit = cap / n
    capped = np.zeros(n, dtype=bool)
    while True:
        over = (p > limit * (1 + 1e-12)) & ~capped
        if not over.any():
            break
        capped |= over
        free = 1.0 - limit * capped.sum()
        rest = p[~capped]
        p[capped] = limit
        if rest.size:
            p[~capped] = rest * (free / rest.sum())
    return p / p.sum()


class HardExampleSampler(Sampler):
    """Index sampler that favours samples with a high recent loss.

    Feed it per-sample losses with :meth:`update`; the score of sample ``i`` is
    ``s_i = max(loss_i, 0) ** power`` (``power = 0`` is uniform, larger is
    greedier); a sample never seen yet gets the largest score seen so far, so
    new samples are visited early. The probabilities are
    :func:`capped_probabilities` of the scores: at least ``floor / n`` (every
    sample keeps being revisited) and at most ``cap / n`` (one outlier, e.g. a
    mislabelled sample, cannot take over the epoch).

    Each epoch (``iter()``) draws ``num_samples`` indices (default ``n``) with
    replacement from the probabilities as they are at the start of the epoch;
    losses fed during an epoch take effect from the next one.

    Drawing hard samples more often biases the gradient towards them; weighting
    the loss of sample ``i`` by ``w_i = 1 / (n p_i)`` (:meth:`importance_weights`,
    with the ``p`` the epoch was drawn from) removes the bias:
    ``E[w_i ∇ℓ_i] = Σ_i p_i ∇ℓ_i / (n p_i) = (1/n) Σ_i ∇ℓ_i``, the full-batch
    gradient.  ``gg.Trainer`` applies the weights itself.
    """

    def __init__(
        self,
        n: int,
        num_samples: int | None = None,
        floor: float = 0.1,
        cap: float = 10.0,
        power: float = 1.0,
        seed: SeedLike = None,
    ):
        self.n = _check_n(n, "HardExampleSampler")
        if self.n == 0:
            raise ValueError("HardExampleSampler: n must be at least 1")
        if not 0.0 <= floor <= 1.0:
            raise ValueError(f"HardExampleSampler: floor must be in [0, 1], got {floor}")
        if not cap >= 1.0:
            raise ValueError(
                "HardExampleSampler: cap must be >= 1 (it is a multiple of the uniform "
                f"probability 1/n), got {cap}"
            )
        if not power >= 0.0:
            raise ValueError(f"HardExampleSampler: power must be >= 0, got {power}")
        self.num_samples = self.n if num_samples is None else int(num_samples)
        if self.num_samples < 1:
            raise ValueError(f"HardExampleSampler: num_samples must be >= 1, got {num_samples}")
        self.floor, self.cap, self.power = float(floor), float(cap), float(power)
        self.rng = make_rng(seed)
        self.losses = np.zeros(self.n)
        self.seen = np.zeros(self.n, dtype=bool)
        self.epoch_probabilities = None  # the p the current epoch is drawn from

    def update(self, indices, losses) -> None:
        """Record the most recent loss of each sample in ``indices``."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        losses = np.asarray(losses, dtype=np.float64).reshape(-1)
        if indices.shape != losses.shape:
            raise ValueError(
                f"HardExampleSampler.update: got {indices.size} indices but {losses.size} losses; "
                "pass one loss per sample (a loss with reduction='none')"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= self.n):
            raise IndexError(f"HardExampleSampler.update: indices must be in [0, {self.n}), got "
                             f"range [{indices.min()}, {indices.max()}]")
        if not np.all(np.isfinite(losses)):
            raise ValueError("HardExampleSampler.update: losses must be finite (got NaN or inf)")
        self.losses[indices] = losses
        self.seen[indices] = True

    def probabilities(self) -> np.ndarray:
        """The current sampling probability of every sample (sums to 1)."""
        scores = np.maximum(self.losses, 0.0) ** self.power
        if self.seen.any():
            scores[~self.seen] = scores[self.seen].max()
        else:
            scores[:] = 1.0
        return capped_probabilities(scores, self.floor, self.cap)

    def importance_weights(self, indices) -> np.ndarray:
        """``w_i = 1 / (n p_i)`` with the probabilities the current epoch was drawn
        from (the current ones before the first epoch): multiply per-sample losses
        by these to keep the expected gradient equal to the uniform-sampling one."""
        p = self.epoch_probabilities
        if p is None:
            p = self.probabilities()
        return 1.0 / (self.n * p[np.asarray(indices, dtype=np.int64)])

    def __iter__(self) -> Iterator[int]:
        p = self.probabilities()
        self.epoch_probabilities = p
        draws = self.rng.choice(self.n, size=self.num_samples, replace=True, p=p)
        return iter(draws.tolist())

    def __len__(self) -> int:
        return self.num_samples

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": generator_state(self.rng),
            "losses": self.losses.tolist(),
            "seen": self.seen.tolist(),
            "epoch_probabilities": (None if self.epoch_probabilities is None
                                    else self.epoch_probabilities.tolist()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        losses = np.asarray(state["losses"], dtype=np.float64)
        if losses.shape != (self.n,):
            raise ValueError(
                f"HardExampleSampler.load_state_dict: state holds {losses.size} losses but the "
                f"sampler has n={self.n}; load a state saved for the same dataset"
            )
        restore_generator(self.rng, state["rng"])
        self.losses = losses
        self.seen = np.asarray(state["seen"], dtype=bool)
        epoch_p = state.get("epoch_probabilities")
        self.epoch_probabilities = None if epoch_p is None else np.asarray(epoch_p, np.float64)
