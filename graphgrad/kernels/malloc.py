"""Keep freed memory in the process: glibc ``mallopt`` tuning, applied at kernel-table import.

A training step allocates the same large temporaries every iteration (column
matrices, activations, gradients).  glibc serves a request of at least
``M_MMAP_THRESHOLD`` bytes (128 KiB by default, raised dynamically up to
32 MiB on 64-bit after the first such block is freed) with its own ``mmap`` and
gives it back to the OS with ``munmap`` on ``free``; the heap's top is also
trimmed once ``M_TRIM_THRESHOLD`` bytes are free there.  Either way the next
step's array of the same size is fresh memory, and every 4 KiB page of it is a
minor page fault on first touch (zeroed by the kernel).  A process that has
run long enough usually has its dynamic threshold raised; a fresh one (a
benchmark worker, a short training script) faults for its whole life on the
arrays it allocates before any large block has been freed, and always on those
above the dynamic ceiling.  docs/performance.md ("Page faults") has the
measurement: W4's layers step in a fresh process took 160-220 minor faults
per step before this tuning and none after.

:func:`tune` sets fixed thresholds once::

    M_MMAP_THRESHOLD = 32 MiB   (blocks below it come from the heap and are reused)
    M_TRIM_THRESHOLD = 64 MiB   (free heap top kept up to this much)

Setting them explicitly also switches glibc's dynamic threshold off, so the
behaviour is the same from the first step on.  The cost is memory, and it is
process-wide (graphgrad's import sets it for every library in the process):
blocks under 32 MiB now come from the heap, where a freed block below the
heap's top is reused but never returned to the OS, and each malloc arena
(one per thread that allocates, up to 8 per core) keeps up to 64 MiB of free
top.  A long-lived process that once held a large working set keeps most of
it mapped; set ``GRAPHGRAD_MALLOC_TUNING=0`` where that matters more than the
page faults.

``GRAPHGRAD_MALLOC_TUNING=0`` (or ``false``/``no``/``off``) leaves the allocator
alone; so does a threshold the user set for glibc itself
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, or ``malloc.mmap_threshold``
/ ``malloc.trim_threshold`` in ``GLIBC_TUNABLES``); off glibc (macOS, Windows,
musl) :func:`tune` does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: mallopt parameter numbers from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: The values :func:`tune` sets (bytes).
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20

#: What the last :func:`tune` did: None before it ran, else a dict
#: {"applied": bool, "reason": str, "results": {name: mallopt's return}}.
STATE: dict | None = None

_OFF = ("0", "false", "no", "off")


def _glibc():
    """The C library as a ctypes handle if it is glibc (it has ``mallopt`` and
    ``gnu_get_libc_version``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def tune(environ=None) -> dict:
    """Set glibc's mmap and trim thresholds (see the module docstring) unless
    ``GRAPHGRAD_MALLOC_TUNING`` is 0; return and record what was done.

    ``mallopt`` returns 1 on success and 0 on failure; both results are kept in
    ``STATE["results"]``.  Calling it again sets the same values again.
    """
    global STATE
    environ = os.environ if environ is None else environ
    if environ.get("GRAPHGRAD_MALLOC_TUNING", "").strip().lower() in _OFF:
        STATE = {"applied": False, "reason": "GRAPHGRAD_MALLOC_TUNING=0", "results": {}}
        return STATE
    user = [v for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_") if v in environ]
    tunables = environ.get("GLIBC_TUNABLES", "")
    user += [t for t in ("malloc.mmap_threshold", "malloc.trim_threshold") if t in tunables]
    if user:
        STATE = {"applied": False, "reason": f"{user[0]} set by the user", "results": {}}
        return STATE
    libc = _glibc()
    if libc is None:
        STATE = {"applied": False, "reason": "not glibc", "results": {}}
        return STATE
    results = {"M_MMAP_THRESHOLD": libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD),
               "M_TRIM_THRESHOLD": libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)}
    STATE = {"applied": all(r == 1 for r in results.values()),
             "reason": "glibc mallopt", "results": results}
    return STATE
