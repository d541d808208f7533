"""One rank's failure ends the whole job, with that rank's traceback.

Without this, a rank that raises exits while the others block in their next
all-reduce, and ``mpiexec`` waits for them forever. ``abort_on_exception``
replaces ``sys.excepthook``: the traceback is printed to stderr with the rank
in front, both streams are flushed, and ``MPI_Abort`` makes ``mpiexec`` kill
every rank and exit non-zero.
"""

from __future__ import annotations

import sys
import traceback

_INSTALLED = [False]


def abort_on_exception() -> None:
    """Install the hook (once): an uncaught exception prints, flushes and aborts the job."""
    if _INSTALLED[0]:
        return
    _INSTALLED[0] = True
    previous = sys.excepthook

    def hook(kind, value, tb):
        from graphgrad.distributed import world

        if kind is KeyboardInterrupt or world.comm() is None:
            previous(kind, value, tb)
            return
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(f"[graphgrad rank {world.rank()} of {world.world_size()}] "
                         f"uncaught exception, aborting the job:\n{text}")
        sys.stderr.flush()
        sys.stdout.flush()
        world.abort(1)

    sys.excepthook = hook
