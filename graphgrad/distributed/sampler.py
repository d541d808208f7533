"""DistributedSampler: each rank's share of one shuffled order per epoch.

Every rank draws the same permutation ``π`` of ``0..n-1`` for epoch ``e`` (from
``seed`` and ``e``, never from a rank's own generator) and rank ``r`` of ``W``
takes ``π[r], π[r+W], π[r+2W], ...``. So the shards of one epoch are disjoint
and their union is ``0..n-1``: nothing is dropped or duplicated.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from graphgrad.data.samplers import Sampler
from graphgrad.distributed import world


class DistributedSampler(Sampler):
    """PyTorch's ``DistributedSampler`` for graphgrad's DataLoader (an index sampler).

    ``num_replicas`` and ``rank`` default to ``world_size()`` and ``rank()``.
    Padding policy: by default (``pad=False``) nothing is repeated, so when
    ``W`` does not divide ``n`` the first ``n mod W`` ranks hold one sample more
    than the others. ``pad=True`` is PyTorch's default: the order is extended by
    its own first samples to a multiple of ``W`` (every rank gets
    ``ceil(n / W)``; up to ``W - 1`` samples are seen twice). ``drop_last=True``
    instead cuts the order to a multiple of ``W`` (up to ``W - 1`` left out).

    Epochs: as in PyTorch, ``set_epoch(e)`` chooses the permutation; unlike
    PyTorch, the epoch also advances by one after every ``iter()`` (as every
    graphgrad sampler's generator does), so a loop that never calls
    ``set_epoch`` still gets a new order per epoch, the same on every rank.
    """

    def __init__(self, n: int, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False,
                 pad: bool = False):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"DistributedSampler: n must be a non-negative int (the dataset "
                             f"size), got {n!r}")
        self.num_replicas = world.world_size() if num_replicas is None else int(num_replicas)
        self.rank = world.rank() if rank is None else int(rank)
        if self.num_replicas < 1 or not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in 0..num_replicas-1, got "
                             f"rank={self.rank}, num_replicas={self.num_replicas}")
        if drop_last and pad:
            raise ValueError("DistributedSampler: choose drop_last=True or pad=True, not both")
        self.n, self.shuffle, self.seed = int(n), bool(shuffle), int(seed)
        self.drop_last, self.pad = bool(drop_last), bool(pad)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation at the next ``iter()``."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """The global order of the current epoch (the same on every rank), after padding
        or cutting."""
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        w = self.num_replicas
        if self.drop_last:
            return order[: self.n - self.n % w]
        if self.pad and self.n % w:
            extra = w - self.n % w
            order = np.concatenate([order, np.resize(order, extra)]) if self.n else order
        return order

    def __iter__(self) -> Iterator[int]:
        shard = self.order()[self.rank :: self.num_replicas]
        self.epoch += 1
        return iter(shard.tolist())

    def __len__(self) -> int:
        w, n = self.num_replicas, self.n
        if self.drop_last:
            return n // w
        if self.pad:
            return -(-n // w)
        return n // w + (1 if self.rank < n % w else 0)

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch": e}``: the epoch the next ``iter()`` uses."""
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.epoch = int(state["epoch"])
