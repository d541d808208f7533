"""Data-parallel training over MPI (``mpiexec -n N``).

mpi4py is imported lazily, on the first call that needs a communicator:
``import graphgrad`` never imports it.  Without mpi4py, or in a process not
started by ``mpiexec`` (world size 1), every function here behaves as a world
of one: ``rank() == 0``, ``world_size() == 1``, reductions are identities.

Gradient averaging: with ``W`` ranks, rank ``r`` holding the gradient ``g_r``
of the mean loss over its ``n_r`` samples of a global batch of ``B``, the step
uses ``g = sum_r (n_r / B) g_r = (1/B) sum_i grad l_i`` — exactly the gradient
of the mean loss over the global batch, whatever ``B % W``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

_COMM: list[Any] = []


def _mpi_env() -> bool:
    return any(k in os.environ for k in ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE",
                                         "PMIX_RANK", "MPI_LOCALNRANKS"))


def init() -> Any:
    """The world communicator (mpi4py ``COMM_WORLD``), or None for a world of one.

    Imports mpi4py only when the process was started by an MPI launcher."""
    if _COMM:
        return _COMM[0]
    comm = None
    if _mpi_env():
        try:
            from mpi4py import MPI
        except ImportError:
            comm = None
        else:
            comm = MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None
    _COMM.append(comm)
    return comm


def rank() -> int:
    """This process's rank in ``0 .. world_size()-1``."""
    comm = init()
    return 0 if comm is None else comm.Get_rank()


def world_size() -> int:
    """Number of processes in the job (1 outside ``mpiexec``)."""
    comm = init()
    return 1 if comm is None else comm.Get_size()


def is_main() -> bool:
    """True on rank 0, the rank that logs and writes checkpoints."""
    return rank() == 0


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


def broadcast_parameters(params: Iterable[Any], root: int = 0) -> None:
    """Overwrite every parameter's data in place with rank ``root``'s values."""
    comm = init()
    if comm is None:
        return
    for p in params:
        buf = np.ascontiguousarray(p.data)
        comm.Bcast(buf, root=root)
        if buf is not p.data:
            p.data[...] = buf


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Rank ``root``'s ``obj`` on every rank (JSON-able data: optimizer state,
    sampler state).  Serialised as JSON, not pickle."""
    comm = init()
    if comm is None:
        return obj
    import json
    text = json.dumps(obj) if comm.Get_rank() == root else None
    return json.loads(comm.bcast(text, root=root))


def broadcast_optimizer_state(optimizer: Any, root: int = 0) -> None:
    """Make every rank's optimizer state rank ``root``'s (arrays in the state
    are broadcast buffer by buffer, in ``state_dict`` order)."""
    comm = init()
    if comm is None:
        return
    state = optimizer.state_dict()
    for arr in _arrays(state):
        comm.Bcast(arr, root=root)
    optimizer.load_state_dict(state)


def _arrays(obj: Any) -> Iterator[np.ndarray]:
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _arrays(obj[k])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _arrays(v)


def average_metrics(metrics: dict[str, float], weight: float = 1.0) -> dict[str, float]:
    """Weighted mean over ranks: ``sum_r w_r m_r / sum_r w_r`` for every key
    (``weight`` is e.g. this rank's sample count)."""
    comm = init()
    if comm is None:
        return dict(metrics)
    from mpi4py import MPI
    keys = sorted(metrics)
    buf = np.array([float(metrics[k]) * weight for k in keys] + [float(weight)], dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    return {k: float(buf[i] / buf[-1]) for i, k in enumerate(keys)}


def sum_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """``sum_r values_r[k]`` for every key ``k`` (every rank passes the same keys);
    ints stay ints.  Used for the running sums of the epoch metrics."""
    comm = init()
    if comm is None:
        return dict(values)
    from mpi4py import MPI
    keys = sorted(values)
    buf = np.array([float(values[k]) for k in keys], dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    return {k: int(v) if isinstance(values[k], (int, np.integer)) else float(v)
            for k, v in zip(keys, buf)}


def allgather_int(value: int) -> list[int]:
    """Every rank's ``value``, in rank order (``[value]`` in a world of one)."""
    comm = init()
    if comm is None:
        return [int(value)]
    out = np.empty(comm.Get_size(), dtype=np.int64)
    comm.Allgather(np.array([value], dtype=np.int64), out)
    return [int(v) for v in out]


def barrier() -> None:
    """Wait until every rank reaches this point."""
    comm = init()
    if comm is not None:
        comm.Barrier()


def abort_on_error(exc: BaseException, code: int = 1) -> None:
    """Print this rank's traceback to stderr and end the whole job
    (``comm.Abort``), so one failing rank does not leave the others hanging."""
    comm = init()
    sys.stderr.write(f"[graphgrad rank {rank()}/{world_size()}] fatal error:\n")
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    sys.stderr.flush()
    if comm is not None:
        comm.Abort(code)


def save_on_main(save, *args: Any, **kwargs: Any) -> None:
    """Call ``save(*args, **kwargs)`` (an atomic checkpoint writer) on rank 0
    only, then barrier, so every rank may read the file afterwards."""
    if is_main():
        save(*args, **kwargs)
    barrier()


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
