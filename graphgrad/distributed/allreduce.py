"""Gradient averaging over one flat buffer per dtype, and sums of metrics.

Data parallelism with ``W`` ranks: rank ``r`` computes the gradient ``g_r`` of
the mean loss over its ``n_r`` samples of a global batch of ``N = Σ n_r``.
The gradient of the mean loss over the whole batch is

    g = (1/N) Σ_i ∇ℓ_i = Σ_r (n_r / N) g_r,

so every rank scales its gradient by its weight ``w_r = n_r / N`` and one
all-reduce (sum) gives every rank ``g``; with equal shares ``w_r = 1/W`` and this
is the plain average. All gradients of one dtype are packed into one flat
buffer (the *arena*), so one ``MPI_Allreduce`` call moves them all, as DDP's
buckets do. The reduction is not overlapped with the backward pass: the engine
hands gradients over only when backward has finished (docs/training.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.compile.recorder import replayed_as_segment
from graphgrad.distributed import world


def _sum_in_place(buffer: np.ndarray) -> None:
    comm = world.comm()
    if comm is not None and buffer.size:
        from mpi4py import MPI

        comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)


class GradientAllReduce:
    """Averages the gradients of ``params`` across ranks, in place, with one
    all-reduce per dtype.

    ``weight`` is this rank's share ``n_r / N`` of the global batch (default
    ``1 / world_size()``), read at every call. A parameter without a gradient
    on this rank contributes zeros and receives the averaged gradient. Under
    ``gg.compile`` a call is one ``allreduce`` entry of the plan: the same
    arena (the plan's gradient buffers, packed) goes over the wire at every
    replay.
    """

    plan_entry_kind = "allreduce"

    def __init__(self, params, weight: float | None = None):
        self.params = [p for p in params]
        seen, unique = set(), []
        for p in self.params:
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        self.params = unique
        self.weight = 1.0 / world.world_size() if weight is None else float(weight)
        self.arenas: dict[str, tuple[np.ndarray, list[tuple[Any, slice]]]] = {}
        for p in self.params:
            key = np.dtype(p.data.dtype).str
            self.arenas.setdefault(key, (None, []))[1].append(p)
        for key, (_, ps) in list(self.arenas.items()):
            total, layout = 0, []
            for p in ps:
                layout.append((p, slice(total, total + p.data.size)))
                total += p.data.size
            self.arenas[key] = (np.zeros(total, dtype=np.dtype(key)), layout)

    @property
    def nbytes(self) -> int:
        """Bytes sent per call (the arenas' sizes)."""
        return sum(a.nbytes for a, _ in self.arenas.values())

    @replayed_as_segment("allreduce(gradients)")
    def reduce(self) -> None:
        """``p.grad ← Σ_r w_r p.grad_r`` for every parameter, identical on every rank."""
        w = self.weight
        for arena, layout in self.arenas.values():
            for p, where in layout:
                part = arena[where]
                if p.grad is None:
                    part[...] = 0
                else:
                    np.multiply(p.grad.data.reshape(-1), w, out=part, casting="same_kind")
            _sum_in_place(arena)
            for p, where in layout:
                averaged = arena[where].reshape(p.data.shape)
                g = None if p.grad is None else p.grad.data
                if g is not None and g.flags.writeable and g.shape == averaged.shape:
                    np.copyto(g, averaged)
                else:
                    p.grad = Tensor._wrap(averaged.copy())


def allreduce_gradients(params, weight: float | None = None) -> None:
    """Average the gradients of ``params`` across ranks in place (see GradientAllReduce).

    For repeated calls build one ``GradientAllReduce(params)`` and call its
    ``reduce()``: it keeps its flat buffers.
    """
    GradientAllReduce(params, weight).reduce()


def allreduce_sum(values) -> np.ndarray:
    """``Σ_r values_r`` elementwise over ranks, as a float64 array (a copy)."""
    buffer = np.array(values, dtype=np.float64).reshape(-1)
    _sum_in_place(buffer)
    return buffer


def average_metrics(totals: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """Sample-weighted means over all ranks: ``Σ_r total_r / Σ_r count_r`` per key
    (every rank must pass the same keys)."""
    keys = sorted(totals)
    summed = allreduce_sum([totals[k] for k in keys] + [counts[k] for k in keys])
    n = len(keys)
    return {k: float(summed[i] / summed[n + i]) for i, k in enumerate(keys)}
