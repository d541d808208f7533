"""graphgrad: reverse-mode autodiff with a plain-Python graph, Numba kernels,
pluggy plugins and Graphviz export.  This module is the public API only."""

from __future__ import annotations

import importlib

from graphgrad import _legacy, ops
from graphgrad.autograd.engine import grad
from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from graphgrad.autograd.tensor import (
    Tensor,
    arange,
    full,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from graphgrad.kernels import get_backend, set_backend
from graphgrad.ops import *  # noqa: F403 - every op function is public (graphgrad.ops.__all__)
from graphgrad.random import manual_seed, rand, randn

__version__ = "0.2.0"

_legacy.install()  # 0.1 import paths keep working, with a DeprecationWarning


def _load_plugin_kernels() -> None:
    """Build the plugin manager, which installs the plugins' kernels in K: the kernel
    table calls it the first time an op asks for a name it lacks."""
    from graphgrad.registry import current_state

    current_state()


def _wire_plugin_kernels() -> None:
    from graphgrad import kernels

    kernels._LOAD_PLUGINS[0] = _load_plugin_kernels


_wire_plugin_kernels()

# Everything above the core loads on first use, so `import graphgrad` stays fast
# and loads only autograd, ops, the kernel table and the random generator
# (tests/contract/test_lazy_imports.py holds the list).
_LAZY = {
    "Module": "graphgrad.nn",
    "Parameter": "graphgrad.nn",
    "Sequential": "graphgrad.nn",
    "Network": "graphgrad.nn",
    "hookimpl": "graphgrad.registry",
    "to_networkx": "graphgrad.viz",
    "to_dot": "graphgrad.viz",
    "render": "graphgrad.viz",
    "summary": "graphgrad.viz",
    "detect_anomaly": "graphgrad.viz",
    "record_stats": "graphgrad.viz",
    "Trainer": "graphgrad.training",
    "EarlyStopping": "graphgrad.training",
    "History": "graphgrad.training",
    "sweep": "graphgrad.sweep",
    "clip_grad_norm_": "graphgrad.optim",
    "clip_grad_value_": "graphgrad.optim",
}
_LAZY_MODULES = {
    "check": "graphgrad.check",
    "interop": "graphgrad.interop",
    "data": "graphgrad.data",
    "viz": "graphgrad.viz",
    "registry": "graphgrad.registry",
    "kernels": "graphgrad.kernels",
    "optim": "graphgrad.optim",
    "regularizers": "graphgrad.nn.regularizers",
    "callbacks": "graphgrad.training.callbacks",
    "nn": "graphgrad.nn",
    "training": "graphgrad.training",
    "extend": "graphgrad.extend",
    "compile": "graphgrad.compile",  # a callable module: gg.compile(fn)
}
_REGISTRIES = ("layers", "losses", "initializers", "optimizers", "schedules", "transforms")


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    elif name in _REGISTRIES:
        from graphgrad.registry import Registry

        value = Registry(name)
    else:
        raise AttributeError(f"module 'graphgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES) | set(_REGISTRIES))
