"""Sharding data by rank: the DistributedSampler and a global batch's slice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .world import rank, world_size


class DistributedSampler:
    """Shards each epoch's order of ``0..n-1`` across ``num_replicas`` ranks.

    Every rank draws the same permutation from ``seed + epoch`` (call
    :meth:`set_epoch` before each epoch) and keeps positions
    ``rank, rank + W, rank + 2W, ...``.  Padding policy when ``n % W != 0``:
    none — no sample is dropped or duplicated, so the first ``n % W`` ranks get
    one sample more than the rest (``len`` differs by at most one between ranks).
    """

    yields_batches = False

    def __init__(self, n: int, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0):
        num_replicas = world_size() if num_replicas is None else int(num_replicas)
        rank_ = globals()["rank"]() if rank is None else int(rank)
        if n < 0 or num_replicas < 1 or not 0 <= rank_ < num_replicas:
            raise ValueError(f"DistributedSampler: need n >= 0, num_replicas >= 1 and "
                             f"0 <= rank < num_replicas, got n={n}, num_replicas={num_replicas}, "
                             f"rank={rank_}")
        self.n, self.num_replicas, self.rank = int(n), num_replicas, rank_
        self.shuffle, self.seed, self.epoch = bool(shuffle), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Select epoch ``epoch``'s permutation (same on every rank)."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """The global order of this epoch, identical on every rank."""
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __iter__(self) -> Iterator[int]:
        return iter(int(i) for i in self.order()[self.rank::self.num_replicas])

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.num_replicas))

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def shard_batch(batch: tuple, rank_: int | None = None, world: int | None = None) -> tuple:
    """This rank's contiguous slice of a global batch: rows
    ``[floor(r*B/W), floor((r+1)*B/W))`` of every array (nothing dropped or repeated)."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    out = []
    for a in batch:
        b = len(a)
        out.append(a[(r * b) // w:((r + 1) * b) // w])
    return tuple(out)
