"""The MPI world: which process this is and how many take part.

``init()`` imports ``mpi4py`` lazily (graphgrad never imports it at import
time) and reads ``MPI.COMM_WORLD``: under ``mpiexec -n N`` that is a world of
``N`` ranks; started plainly, or without ``mpi4py`` installed, it is a world
of one process (rank 0 of 1), in which every collective below is the identity.
"""

from __future__ import annotations

from typing import Any

_WORLD: dict[str, Any] = {"comm": None, "rank": 0, "size": 1, "initialized": False}


def init() -> int:
    """Join the MPI world (idempotent); returns ``world_size()``.

    With ``mpi4py`` installed, ``MPI.COMM_WORLD`` decides: its size is the
    number of processes ``mpiexec`` started (1 outside ``mpiexec``). Without
    ``mpi4py`` the world is this process alone. In a world of more than one,
    an uncaught exception on any rank prints that rank's traceback and aborts
    the whole job (``graphgrad.distributed.faults``), so no rank waits forever
    in a collective for a rank that died.
    """
    if _WORLD["initialized"]:
        return _WORLD["size"]
    try:
        from mpi4py import MPI
    except ImportError:
        comm = None
    else:
        comm = MPI.COMM_WORLD
    _WORLD["initialized"] = True
    if comm is not None and comm.Get_size() > 1:
        _WORLD.update(comm=comm, rank=comm.Get_rank(), size=comm.Get_size())
        from graphgrad.distributed.faults import abort_on_exception

        abort_on_exception()
    return _WORLD["size"]


def rank() -> int:
    """This process's rank in ``0 .. world_size() - 1`` (0 in a world of one)."""
    init()
    return _WORLD["rank"]


def world_size() -> int:
    """The number of processes training together (1 outside ``mpiexec``)."""
    return init()


def is_main() -> bool:
    """True on rank 0, the rank that prints, logs and writes files."""
    return rank() == 0


def comm():
    """The ``mpi4py`` communicator of the world, or None in a world of one."""
    init()
    return _WORLD["comm"]


def barrier() -> None:
    """Wait until every rank has arrived here (nothing in a world of one)."""
    c = comm()
    if c is not None:
        c.Barrier()


def abort(code: int = 1) -> None:
    """End every rank of the job now (``MPI_Abort``); in a world of one, exit the process."""
    c = comm()
    if c is None:
        raise SystemExit(code)
    c.Abort(code)
