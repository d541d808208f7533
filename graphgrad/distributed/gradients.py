"""The weighted gradient all-reduce over one flat buffer per dtype.

Gradient averaging: with ``W`` ranks, rank ``r`` holding the gradient ``g_r``
of the mean loss over its ``n_r`` samples of a global batch of ``B``, the step
uses ``g = sum_r (n_r / B) g_r = (1/B) sum_i grad l_i`` — exactly the gradient
of the mean loss over the global batch, whatever ``B % W``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from .world import init


class GradientAllReduce:
    """The weighted sum of every rank's gradients, in one flat buffer per dtype.

    With ``W`` ranks, rank ``r`` holding the gradient ``g_r`` of its shard's
    loss and the weight ``w_r`` (:attr:`weight`), every rank ends with

        g = sum_r w_r g_r

    written back into its gradient arrays in place.  ``weight=None`` means
    ``1/W`` (the plain mean); the Trainer sets ``w_r = n_r / B`` for a mean
    loss (``n_r`` samples of the global batch of ``B``), which makes ``g``
    exactly the gradient of the global batch's mean loss also when ``B % W != 0``.

    The flat buffers (the gradient arena: the gradients laid end to end) are
    kept between calls, one per dtype and layout, so a step allocates nothing;
    each is reduced by a single in-place ``Allreduce(SUM)``.  Under
    ``gg.compile`` the call is one ``allreduce`` entry of the plan, run live at
    every replay over the plan's gradient buffers (the weight read then).
    """

    plan_label = "allreduce_gradients"

    def __init__(self, weight: float | None = None):
        self.weight = weight
        self._arenas: dict[tuple, np.ndarray] = {}
        self.seconds = 0.0  # time spent in reduce_arrays (bench/distributed.py reads it)

    def __call__(self, params: Iterable[Any]) -> None:
        """Reduce the gradients of ``params`` that have one (every rank must pass the same
        parameters and have run the same backward).

        The MPI calls are those of :meth:`reduce_arrays` only, eager or replayed by
        gg.compile, so a rank replaying a plan and one running eagerly stay paired."""
        if init() is None:
            return
        arrays = [p.grad.data for p in params if getattr(p, "grad", None) is not None]
        recorder = sys.modules.get("graphgrad.compile.recorder")
        if recorder is not None:  # a gg.compile recording keeps this call as a plan entry
            recorder.live_call("allreduce", self.plan_label, self.reduce_arrays, arrays)
        else:
            self.reduce_arrays(arrays)

    def reduce_arrays(self, arrays: list[np.ndarray]) -> None:
        """``a <- sum_r w_r a_r`` for every array, in place (the arrays of one rank are
        matched with the other ranks' by position).

        First a check that every rank reduces the same layout (number of arrays and of
        elements: one small ``Allreduce(MAX)``), so a rank whose backward reached other
        parameters fails with an error instead of summing unrelated numbers."""
        comm = init()
        if comm is None:
            return
        import time

        from mpi4py import MPI
        start = time.perf_counter()
        mine = np.array([len(arrays), sum(a.size for a in arrays)], dtype=np.int64)
        both = np.concatenate([mine, -mine])
        comm.Allreduce(MPI.IN_PLACE, both, op=MPI.MAX)
        if not (np.array_equal(both[:2], mine) and np.array_equal(-both[2:], mine)):
            raise RuntimeError(
                f"allreduce_gradients (rank {comm.Get_rank()}): this rank has {mine[0]} "
                f"gradients of {mine[1]} elements, other ranks between {-both[2]} and "
                f"{both[0]} gradients ({-both[3]} to {both[1]} elements); every rank must "
                "run the same backward (the same parameters must get a gradient)")
        w = 1.0 / comm.Get_size() if self.weight is None else float(self.weight)
        groups: dict[np.dtype, list[np.ndarray]] = {}
        for a in arrays:
            groups.setdefault(a.dtype, []).append(a)
        for dtype, group in groups.items():
            key = (dtype.str,) + tuple(a.size for a in group)
            flat = self._arenas.get(key)
            if flat is None:
                flat = self._arenas[key] = np.empty(sum(a.size for a in group), dtype=dtype)
            off = 0
            for a in group:
                np.multiply(a.reshape(-1), w, out=flat[off:off + a.size])
                off += a.size
            comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
            off = 0
            for a in group:
                np.copyto(a, flat[off:off + a.size].reshape(a.shape))
                off += a.size
        self.seconds += time.perf_counter() - start


def allreduce_gradients(params: Iterable[Any], weight: float | None = None) -> None:
    """Replace every ``p.grad`` in place by ``sum_r w_r p.grad_r`` over the ranks
    (``weight`` is this rank's ``w_r``; None: ``1/W``, the mean).  One flat buffer
    per dtype, one ``Allreduce``; see :class:`GradientAllReduce`."""
    GradientAllReduce(weight)(params)
