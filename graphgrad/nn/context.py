"""Who is running and what changed: the module-call context and the structure epoch.

The public seam for tools that watch a step (``gg.compile``, debuggers): they
read which modules are being called in this thread and whether any module's
structure or hyperparameters changed since they last looked, without reaching
into ``Module``'s internals.
"""

from __future__ import annotations

import contextlib
import threading

_LOCAL = threading.local()

# Bumped by every change to any Module's structure or hyperparameters (see
# Module.structure_version): a watcher that saw the same epoch knows, with one
# int compare, that no module it depends on changed.
_EPOCH = [0]


def call_stack() -> list:
    """This thread's stack of (module, dotted path) being called; owned by ``Module.__call__``."""
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    return stack


def call_log() -> dict | None:
    """The dict :func:`log_calls` is filling in this thread, or None (``Module.__call__``)."""
    return getattr(_LOCAL, "log", None)


@contextlib.contextmanager
def log_calls(modules: dict):
    """While active, every Module called in this thread is added to `modules` (id → module),
    also one whose ``forward`` computes nothing (``Dropout(p=0)`` returning its input), so
    a watcher can guard each module that ran, not only those that recorded an op."""
    previous = call_log()
    _LOCAL.log = modules
    try:
        yield modules
    finally:
        _LOCAL.log = previous


def running_modules() -> list:
    """(module, dotted path) of the modules being called in this thread, outermost first.

    The innermost entry ``running_modules()[-1]`` is the module whose ``forward``
    is executing; an empty list means no module is being called.  A read-only
    view: do not modify it.
    """
    return call_stack()


def current_module():
    """(module, dotted path) of the innermost module being called, or None outside any."""
    stack = call_stack()
    return stack[-1] if stack else None


def structure_epoch() -> int:
    """A counter that moves whenever any Module's structure or hyperparameters change.

    Equal epochs at two moments mean no module changed in between (one int
    compare); a moved epoch means some module did — compare the
    ``Module.structure_version`` of the ones you depend on to know which.
    """
    return _EPOCH[0]


def note_structure_change() -> None:
    """Move the epoch; called by ``Module.bump_version`` (every structure edit)."""
    _EPOCH[0] += 1
