"""The Python values a step closes over: snapshot, compare, name what changed.

Like Dynamo's CONSTANT_MATCH and ID_MATCH guards: when a step is compiled,
the closure cells of ``fn`` and the globals its code names (also in nested
functions and lambdas defined inside it) are read at every call into one
tuple.  A scalar (``int``, ``float``, ``bool``, ``str``, ``None``) or a small
tuple, list or dict of scalars is compared by value; any other object (a
model, an optimizer, a tensor, a function) by identity, so rebinding the name
to another object is seen; Python modules are not watched.  A call whose tuple
differs from the recorded one records again.  What the step reads *through*
an object (attributes of your own objects, a list's items) is frozen at
recording, unless graphgrad owns it (module attributes, optimizer state,
parameters: guards.py); ``explain()`` lists the numbers a plan's kernels were
given.
"""

from __future__ import annotations

import types

import numpy as np

_SCALARS = (bool, int, float, complex, str, type(None), np.number, np.bool_)
_MAX_ITEMS = 64


class _Same:
    """An object a step closes over, equal only to itself (an identity guard)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return type(other) is _Same and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


def _snap(value):
    """A comparable copy of `value` (by value or by identity), or None: not watched."""
    if isinstance(value, types.ModuleType):
        return None
    if isinstance(value, _SCALARS):
        return (type(value), value)
    if isinstance(value, (tuple, list)) and len(value) <= _MAX_ITEMS and all(
            isinstance(v, _SCALARS) for v in value):
        return (type(value), tuple(value))
    if isinstance(value, dict) and len(value) <= _MAX_ITEMS and all(
            isinstance(v, _SCALARS) for v in value.values()):
        try:
            return (dict, tuple(value.items()))
        except TypeError:
            pass
    return (_Same, _Same(value))


def _codes(code):
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _codes(c)


class ValueWatch:
    """The watched closure cells and globals of a step function; ``read()`` snapshots them."""

    def __init__(self, fn):
        fn = getattr(fn, "__func__", fn)  # a bound method: its function
        self.names, self._sources = [], []
        code = getattr(fn, "__code__", None)
        if code is None:
            return
        cells = fn.__closure__ or ()
        for name, cell in zip(code.co_freevars, cells):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell (assigned later)
                continue
            if _snap(value) is not None:
                self.names.append(name)
                self._sources.append(("cell", cell))
        glob = getattr(fn, "__globals__", {})
        seen = set()
        for c in _codes(code):
            for name in c.co_names:
                if name in seen or name not in glob:
                    continue
                seen.add(name)
                if _snap(glob[name]) is not None:
                    self.names.append(name)
                    self._sources.append(("global", (glob, name)))

    def read(self) -> tuple:
        """One tuple of the watched values (compared with ``==``, one per call)."""
        out = []
        for kind, src in self._sources:
            if kind == "cell":
                try:
                    out.append(_snap(src.cell_contents))
                except ValueError:
                    out.append(None)
            else:
                out.append(_snap(src[0].get(src[1])))
        return tuple(out)

    def changed(self, old: tuple, new: tuple) -> str:
        """Which watched value differs between two snapshots, for a warning."""
        for name, a, b in zip(self.names, old, new):
            if a != b:
                if a is not None and b is not None and a[0] is _Same and b[0] is _Same:
                    return f"{name!r} now names another {type(b[1].obj).__name__}"
                return f"{name!r} changed from {_show(a)} to {_show(b)}"
        return "a closed-over value changed"


def _show(snap):
    if snap is None:
        return "(unwatched)"
    kind, value = snap
    if kind is _Same:
        return f"a {type(value.obj).__name__}"
    if kind is dict:
        return repr(dict(value))
    return repr(kind(value)) if kind in (tuple, list) else repr(value)
