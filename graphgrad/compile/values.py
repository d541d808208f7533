"""The Python values a step closes over: snapshot, compare, name what changed.

Like Dynamo's CONSTANT_MATCH guards: when a step is compiled, the closure
cells of ``fn`` and the globals its code names (also in nested functions and
lambdas defined inside it) that hold a scalar (``int``, ``float``, ``bool``,
``str``, ``None``), or a small tuple, list or dict of scalars, are read at
every call into one tuple; a call whose tuple differs from the recorded one
records again.  Anything else the step reads from Python (attributes of
arbitrary objects, large containers) is frozen at recording; ``explain()``
lists the numbers a plan's kernels were given.
"""

from __future__ import annotations

import types

import numpy as np

_SCALARS = (bool, int, float, complex, str, type(None), np.number, np.bool_)
_MAX_ITEMS = 64


def _snap(value):
    """A comparable copy of `value` if it is watched, else a marker that it is not."""
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
            return None
    return None


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
                return f"{name!r} changed from {_show(a)} to {_show(b)}"
        return "a closed-over value changed"


def _show(snap):
    if snap is None:
        return "(unwatched)"
    kind, value = snap
    if kind is dict:
        return repr(dict(value))
    return repr(kind(value)) if kind in (tuple, list) else repr(value)
