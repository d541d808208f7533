"""A rank's slice of a global batch.

The Trainer shards the ordinary DataLoader it is given: every rank iterates
the same loader with the same generator state, so all ranks see the same
global batches, and rank ``r`` of ``W`` keeps rows ``[start_r, stop_r)`` of
each, the contiguous split of ``np.array_split``: the first ``N mod W`` ranks
get ``⌊N/W⌋ + 1`` rows, the others ``⌊N/W⌋``.
"""

from __future__ import annotations


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``(start, stop)`` of rank ``rank``'s rows of a batch of ``n`` rows."""
    q, extra = divmod(int(n), int(world_size))
    start = rank * q + min(rank, extra)
    return start, start + q + (1 if rank < extra else 0)


def shard_batch(batch, rank: int, world_size: int):
    """The same tuple of fields with each field cut to this rank's rows."""
    start, stop = shard_bounds(len(batch[0]), rank, world_size)
    return type(batch)(field[start:stop] for field in batch) if isinstance(batch, tuple) \
        else [field[start:stop] for field in batch]
