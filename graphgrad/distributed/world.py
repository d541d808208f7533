"""The MPI world: the communicator (mpi4py imported lazily), rank, size, barrier,
rank-0-only saving and aborting the whole job on one rank's error.

Without mpi4py, or in a process not started by ``mpiexec``, the world has one
rank: ``rank() == 0``, ``world_size() == 1``.
"""

from __future__ import annotations

import os
import sys
import traceback
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
