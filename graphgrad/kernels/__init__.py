"""The kernel table and the backend switch.

Ops never call NumPy or Numba directly: they call ``K.<name>(...)`` where ``K``
is this module's table.  ``set_backend("numpy")`` fills the table with the
pure-NumPy reference kernels; ``set_backend("numba")`` overlays the Numba
kernels on top of them (a kernel Numba does not provide falls back to its
reference twin).  ``GRAPHGRAD_BACKEND`` picks the backend at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from graphgrad.kernels import reference

BACKENDS = ("numba", "numpy")
# Which module overlays the reference table for each backend.
_OVERLAYS = {"numpy": None, "numba": "graphgrad.kernels.numba_backend"}


class KernelTable:
    """A namespace of kernels; attribute lookup is the hot path, so it is plain."""

    def __repr__(self) -> str:
        return f"<graphgrad kernel table: backend={_current[0]!r}, {len(vars(self))} kernels>"


K = KernelTable()
_current = [None]


def set_backend(name: str) -> None:
    """Select the kernel backend for every op: ``"numba"`` (default) or ``"numpy"``."""
    if name not in BACKENDS:
        raise ValueError(
            f"graphgrad.set_backend: unknown backend {name!r}; choose one of {BACKENDS}"
        )
    table = dict(reference.KERNELS)
    overlay = _OVERLAYS[name]
    if overlay is not None:
        try:
            table.update(importlib.import_module(overlay).KERNELS)
        except ModuleNotFoundError as exc:
            if exc.name != overlay:
                raise
            raise RuntimeError(
                f"graphgrad.set_backend: the {name!r} backend is not available "
                f"({exc}); use set_backend('numpy')"
            ) from exc
    # Update rather than clear-and-refill: an op running on another thread always
    # finds every kernel (each backend's table has every reference name).
    vars(K).update(table)
    _current[0] = name


def get_backend() -> str:
    """The name of the active kernel backend."""
    return _current[0]


def _default_backend() -> str:
    name = os.environ.get("GRAPHGRAD_BACKEND", "").strip().lower()
    if name:
        return name
    # The overlay module itself never imports numba (it loads lazily), so ask for numba.
    return "numba" if importlib.util.find_spec("numba") is not None else "numpy"


set_backend(_default_backend())
