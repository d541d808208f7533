"""Grad modes: whether ops record the graph, the running module path, record_grads.

Thread-local state read by every op (`STATE.enabled`) and by graph export
(`STATE.module_scope`, `STATE.record_grads`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager


class _GradMode(threading.local):
    def __init__(self):
        self.enabled = True
        self.module_scope = []  # (dotted path, class name) of the Modules running
        self.running_children = []  # (container, child, name) a Sequential/Network is calling
        self.record_grads = False
        # Observers of every op (see `observe`): empty, so the check costs one
        # attribute read per op when nobody watches.
        self.observers = ()


STATE = _GradMode()


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread."""
    return STATE.enabled


class _GradModeContext:
    _value = True

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self._value
        return self

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Context manager / decorator: ops inside record no graph (thread-local)."""

    _value = False


class enable_grad(_GradModeContext):  # noqa: N801 - PyTorch's name
    """Context manager / decorator: re-enable graph recording inside ``no_grad``."""

    _value = True


class TimeStepEntry(tuple):
    """A module-scope entry ``(path, type_name)`` for one step of a loop over time that a
    layer runs inside its forward (a recurrent layer's steps): the pictures roll
    these calls into one node "× T steps" by default."""

    __slots__ = ()
    time_step = True


class module_scope:  # noqa: N801 - used like a function: `with module_scope(...):`
    """Record the running Module on every node created inside.

    Nodes get ``node.module = (path, type_name)``: the module's dotted path from
    the model that was called (``""`` for that model itself, ``"fc1"``,
    ``"blocks.0.conv"``) and its class name.  Outside any module it is None.
    A plain class rather than a generator context manager: every Module call
    enters one, and a generator-based one costs several times more.
    """

    __slots__ = ("_entry", "_scope")

    def __init__(self, path: str, type_name: str = "", time_step: bool = False):
        self._entry = TimeStepEntry((path, type_name)) if time_step else (path, type_name)

    def __enter__(self):
        self._scope = STATE.module_scope  # this thread's stack
        self._scope.append(self._entry)
        return self

    def __exit__(self, *exc):
        self._scope.pop()
        return False


class running_child:  # noqa: N801 - used like a function: `with running_child(...):`
    """Tell the `child` about to be called by container `parent` its name there (this thread).

    A container that holds one module under several names (a shared layer in a
    ``Network``, the same module twice in a ``Sequential``) says which use is
    running, so the module path recorded on graph nodes names that use.  Kept
    on the thread, not on the container, so two threads running one model
    never see each other's position.
    """

    __slots__ = ("_entry", "_stack")

    def __init__(self, parent, child, name: str):
        self._entry = (parent, child, name)

    def __enter__(self):
        self._stack = STATE.running_children
        self._stack.append(self._entry)
        return self

    def __exit__(self, *exc):
        self._stack.pop()
        return False


def running_child_name(parent, child) -> str | None:
    """The name under which `parent` is calling `child` on this thread, or None."""
    for p, c, name in reversed(STATE.running_children):
        if p is parent:
            return name if c is child else None
    return None


@contextmanager
def record_grads():
    """Keep each node's output gradients (``node.grad_outputs``) after backward.

    Used by graph inspection to show gradient shapes and norms; off by default
    because it keeps every intermediate gradient alive.
    """
    prev, STATE.record_grads = STATE.record_grads, True
    try:
        yield
    finally:
        STATE.record_grads = prev


class observe:  # noqa: N801 - used like a function: `with observe(watcher):`
    """Call `observer` on every op run and every node's backward on this thread.

    `observer` has two methods: ``forward(cls, node, args, outputs)`` after an
    op's forward (`node` is the recorded graph node, None when nothing is
    recorded; `args` the op's arguments; `outputs` the output Tensors as a
    tuple) and ``backward(node, grads, in_grads)`` after a node's backward (its
    output gradients and the input gradients it returned).  Either may raise
    to stop the computation.  This is the hook ``gg.detect_anomaly()`` and
    ``gg.record_stats()`` are built on; with no observer the ops pay one
    attribute read.
    """

    __slots__ = ("_observer", "_prev")

    def __init__(self, observer):
        self._observer = observer

    def __enter__(self):
        self._prev = STATE.observers
        STATE.observers = (*self._prev, self._observer)
        return self._observer

    def __exit__(self, *exc):
        STATE.observers = self._prev
        return False
