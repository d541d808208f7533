"""A small size-class pool of large scratch arrays (column matrices, temporaries).

Why: a fresh ``np.empty`` of more than glibc's mmap threshold (128 KiB by
default, it grows adaptively) is a new mapping, and its first write page-faults
every 4 KiB page in.  The W5 column matrix is 288 × 32768 float32 = 36 MiB:
writing it into a fresh array took 7.7 ms of CPU time against 3.1 ms into a
reused one (``bench/kernels.py --conv``, 2-core EPYC).  A kernel that needs a
scratch array only while it runs (im2col columns before their GEMM, the
GEMM's product before col2im) takes one with :func:`take` and hands it back
with :func:`give` (anything else given, such as a reshape of the caller's
input, is ignored); the next call of the same size class gets the same memory,
already faulted in.

Size classes are powers of two of the byte count (at least :data:`MIN_BYTES`;
smaller requests are plain ``np.empty``, malloc reuses those well), at most
:data:`PER_CLASS` free blocks are kept per class, and the pool never holds more
than :data:`MAX_BYTES` in total: a block that would exceed it is dropped, so
the pool can not grow without bound.  A taken block is a view of a byte buffer,
shaped and typed as asked; it must not be used after :func:`give`.

The pool is per thread (``threading.local``): two threads running kernels never
share a block, and no lock is taken on the hot path.  ``gg.compile`` or the
engine can use the same pool for their large eager temporaries; ``clear()``
frees everything (tests, or a user who wants the memory back).
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

#: Requests below this many bytes are plain np.empty (malloc keeps those warm itself).
MIN_BYTES = 1 << 18
#: Free blocks kept per size class.
PER_CLASS = 4
#: The most bytes the free lists of one thread hold together.
MAX_BYTES = 1 << 28

_local = threading.local()


def _state():
    free = getattr(_local, "free", None)
    if free is None:
        free = _local.free = {}
        # id(block) -> block for the blocks taken and not given back; weak, so a block
        # whose kernel raised before giving it back is simply freed
        _local.lent = weakref.WeakValueDictionary()
        _local.held = 0
    return free


def _size_class(nbytes: int) -> int:
    return 1 << max(int(nbytes - 1).bit_length(), 0)


def take(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array of `shape` and `dtype`, from the pool when large.

    Its contents are whatever the last user left: write every element before reading.
    """
    dtype = np.dtype(dtype)
    count = 1
    for s in shape:
        count *= int(s)
    nbytes = count * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype=dtype)
    size = _size_class(nbytes)
    blocks = _state().get(size)
    if blocks:
        raw = blocks.pop()
        _local.held -= size
    else:
        raw = np.empty(size, dtype=np.uint8)
    _local.lent[id(raw)] = raw
    return raw[:nbytes].view(dtype).reshape(shape)


def give(array: np.ndarray) -> None:
    """Return an array obtained from :func:`take` to the pool (small ones are ignored).

    Only the block is kept; the caller must drop every other reference to it.
    """
    raw = array.base
    while raw is not None and raw.base is not None:
        raw = raw.base
    free = _state()
    if raw is None or _local.lent.pop(id(raw), None) is not raw:
        return  # not a block this thread lent out (a view of user data, a small array)
    size = raw.size
    blocks = free.setdefault(size, [])
    if len(blocks) >= PER_CLASS or _local.held + size > MAX_BYTES:
        return
    blocks.append(raw)
    _local.held += size


def held_bytes() -> int:
    """Bytes held in this thread's free lists."""
    _state()
    return _local.held


def clear() -> None:
    """Drop every free block of this thread (the memory goes back to malloc)."""
    _state().clear()
    _local.held = 0
