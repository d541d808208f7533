"""What models are made of: Module, Parameter, Sequential, Network, Loss, regularizers.

Tools that watch models read the module-call context and the structure epoch
through ``running_modules``, ``current_module``, ``log_calls`` and ``structure_epoch``
(graphgrad/nn/context.py), never Module internals.

``Network`` (a networkx DAG) and ``regularizers`` load on first use.
"""

import importlib

from graphgrad.nn.context import current_module, log_calls, running_modules, structure_epoch
from graphgrad.nn.loss import Loss
from graphgrad.nn.module import Module
from graphgrad.nn.parameter import Parameter
from graphgrad.nn.sequential import Sequential

_LAZY = {"Network": "graphgrad.nn.network"}
_LAZY_MODULES = {"regularizers": "graphgrad.nn.regularizers"}

__all__ = ["Loss", "Module", "Parameter", "Sequential", "Network", "regularizers",
           "current_module", "log_calls", "running_modules", "structure_epoch"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _LAZY_MODULES:
        value = importlib.import_module(_LAZY_MODULES[name])
    else:
        raise AttributeError(f"module 'graphgrad.nn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_LAZY_MODULES))
