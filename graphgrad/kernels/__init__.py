"""The kernel table and the backend switch.

Ops never call NumPy or Numba directly: they call ``K.<name>(...)`` where ``K``
is this module's table.  ``set_backend("numpy")`` fills the table with the
pure-NumPy reference kernels; ``set_backend("numba")`` overlays the Numba
kernels on top of them (a kernel Numba does not provide falls back to its
reference twin).  ``GRAPHGRAD_BACKEND`` picks the backend at import time.

Importing the table also tunes glibc's allocator so that a step's large
temporaries stay in the process instead of being re-faulted every step
(:mod:`graphgrad.kernels.malloc`; ``GRAPHGRAD_MALLOC_TUNING=0`` disables it).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from graphgrad.kernels import malloc, reference

BACKENDS = ("numba", "numpy")
# Which module overlays the reference table for each backend.
_OVERLAYS = {"numpy": None, "numba": "graphgrad.kernels.numba_backend"}


class KernelTable:
    """A namespace of kernels; attribute lookup is the hot path, so it is plain.

    Assigning a kernel graphgrad itself provides (``K.matmul = ...``) is refused:
    it would replace that kernel for every op of every program.  A plugin adds
    kernels of its own through the ``graphgrad_register_kernels`` hook (with a
    NumPy twin); the table then looks them up when first asked for.
    """

    def __repr__(self) -> str:
        return f"<graphgrad kernel table: backend={_current[0]!r}, {len(vars(self))} kernels>"

    def __setattr__(self, name, value) -> None:
        if name in reference.KERNELS:
            raise AttributeError(
                f"graphgrad.kernels.K.{name} is a built-in kernel: replacing it would change "
                "every op that uses it, in every program. Give your kernel its own name and "
                "register it with the graphgrad_register_kernels hook (docs/plugins.md)")
        object.__setattr__(self, name, value)

    def __delattr__(self, name) -> None:
        if name in reference.KERNELS:
            raise AttributeError(f"graphgrad.kernels.K.{name} is a built-in kernel")
        object.__delattr__(self, name)

    def __getattr__(self, name):
        # Only for a name the table lacks (the hot path never gets here): plugin kernels
        # are installed when the plugin manager is built, so build it once and retry.
        if not name.startswith("_") and _LOAD_PLUGINS[0] is not None and name not in _asked:
            _asked.add(name)
            try:
                _LOAD_PLUGINS[0]()
            finally:
                _asked.discard(name)
            if name in vars(self):
                return vars(self)[name]
        raise AttributeError(
            f"graphgrad.kernels.K has no kernel {name!r}; a plugin's kernel must be "
            "returned by its graphgrad_register_kernels hook")


K = KernelTable()
_current = [None]
#: Builds the plugin manager (which installs plugin kernels); set by graphgrad.registry.
_LOAD_PLUGINS = [None]
_asked: set = set()
#: name -> (NumPy twin, fast kernel or None): the kernels plugins registered.
_plugin_kernels: dict = {}


def install_plugin_kernels(kernels: dict) -> None:
    """Replace the plugin kernels in the table by ``kernels`` ({name: (twin, fast)}).

    The registry calls it when it builds the plugin manager; built-in names are
    refused before this point.  Under the NumPy backend the twin runs, under
    Numba the fast kernel (the twin if there is none).
    """
    for name in _plugin_kernels:
        vars(K).pop(name, None)
    _plugin_kernels.clear()
    _plugin_kernels.update(kernels)
    _apply_plugin_kernels()


def _apply_plugin_kernels() -> None:
    for name, (twin, fast) in _plugin_kernels.items():
        vars(K)[name] = twin if _current[0] == "numpy" or fast is None else fast


def plugin_kernel_names() -> list[str]:
    """The kernels plugins registered, sorted."""
    return sorted(_plugin_kernels)


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
    _apply_plugin_kernels()


def get_backend() -> str:
    """The name of the active kernel backend."""
    return _current[0]


def _default_backend() -> str:
    name = os.environ.get("GRAPHGRAD_BACKEND", "").strip().lower()
    if name:
        if name not in BACKENDS:
            raise ValueError(
                f"graphgrad: the environment variable GRAPHGRAD_BACKEND={name!r} names no "
                f"kernel backend; set it to one of {', '.join(BACKENDS)} (or unset it "
                "for the default)"
            )
        return name
    # The overlay module itself never imports numba (it loads lazily), so ask for numba.
    return "numba" if importlib.util.find_spec("numba") is not None else "numpy"


malloc.tune()
set_backend(_default_backend())
