"""graphgrad: reverse-mode autodiff with a plain-Python graph, Numba kernels,
pluggy plugins and Graphviz export.  This module is the public API only."""

from __future__ import annotations

import importlib

from . import check, ops
from .autograd import enable_grad, grad, is_grad_enabled, no_grad
from .function import Function
from .kernels import get_backend, set_backend
from .ops import (
    abs,
    broadcast_to,
    clip,
    concatenate,
    exp,
    getitem,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    relu,
    reshape,
    sigmoid,
    sign,
    softmax,
    softmax_cross_entropy,
    softplus,
    sqrt,
    stack,
    sum,
    swapaxes,
    tanh,
    transpose,
    var,
    where,
)
from .random import manual_seed, rand, randn
from .tensor import Tensor, arange, full, ones, ones_like, tensor, zeros, zeros_like

__version__ = "0.1.0"

# Heavier parts load on first use, so `import graphgrad` stays fast.
_LAZY = {
    "Module": "graphgrad.module",
    "Parameter": "graphgrad.module",
    "Sequential": "graphgrad.module",
    "Network": "graphgrad.network",
    "hookimpl": "graphgrad.registry",
    "to_networkx": "graphgrad.viz",
    "to_dot": "graphgrad.viz",
    "render": "graphgrad.viz",
    "summary": "graphgrad.viz",
    "Trainer": "graphgrad.train",
    "EarlyStopping": "graphgrad.train",
    "History": "graphgrad.train",
}
_LAZY_MODULES = {"data", "regularizers", "viz", "registry", "kernels", "optim", "callbacks"}
_REGISTRIES = ("layers", "losses", "initializers", "optimizers", "schedules", "transforms")


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(f"graphgrad.{name}")
    elif name in _REGISTRIES:
        from .registry import Registry

        value = Registry(name)
    else:
        raise AttributeError(f"module 'graphgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _LAZY_MODULES | set(_REGISTRIES))
