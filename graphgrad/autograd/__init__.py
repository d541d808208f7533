"""The core: Tensor, the graph node (Function), the backward engine, grad modes.

Import order matters once: `tensor` binds `ops` and `engine` at its bottom
(the documented Tensor <-> ops/engine cycle); nothing else here imports `ops`.
"""

from graphgrad.autograd.engine import backward, grad, run_backward, topological_order
from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import (
    STATE,
    enable_grad,
    is_grad_enabled,
    module_scope,
    no_grad,
    observe,
    record_grads,
)
from graphgrad.autograd.tensor import Tensor

__all__ = [
    "STATE", "Function", "Tensor", "backward", "enable_grad", "grad", "is_grad_enabled",
    "module_scope", "no_grad", "observe", "record_grads", "run_backward", "topological_order",
]
