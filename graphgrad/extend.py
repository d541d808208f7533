"""The plugin API: everything a plugin (built-in or third-party) imports, in one stable module.

A plugin imports this at module level::

    from graphgrad.extend import Module, Parameter, hookimpl

    class Swish(Module): ...

    @hookimpl
    def graphgrad_register_layers():
        return [Swish]

Importing it does not build the plugin manager or load any plugin (that
happens on the first registry use), so a plugin module can import it while
graphgrad is still loading plugins.  The names here keep their meaning across
releases; internal module paths may move (as they did in 0.2).

- models: ``Module``, ``Parameter``, ``Tensor``, ``Function`` (a custom op),
  ``no_grad``, ``enable_grad``;
- losses: ``Loss`` and its helpers ``reduce``, ``check_reduction``,
  ``check_labels``, ``check_same_shape``, ``check_float``, ``as_array``;
- optimizers and schedules: ``Optimizer``, ``Schedule``;
- data transforms: ``Transform``, ``RandomTransform``, ``BatchTransform`` (of
  ``(x, y)``) and the helpers ``require_images``, ``float_output``;
- randomness: ``resolve_rng`` (None -> graphgrad's global generator),
  ``make_rng`` (None -> fresh OS entropy), ``SeedLike``;
- kernels: ``K`` (the active kernel table);
- registration: ``hookimpl``.
"""

from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import enable_grad, no_grad
from graphgrad.autograd.tensor import Tensor
from graphgrad.data.transform import (BatchTransform, RandomTransform, Transform, float_output,
                                      require_images)
from graphgrad.kernels import K
from graphgrad.nn.loss import (
    Loss,
    as_array,
    check_float,
    check_labels,
    check_reduction,
    check_same_shape,
    reduce,
)
from graphgrad.nn.module import Module
from graphgrad.nn.parameter import Parameter
from graphgrad.optim import Optimizer, Schedule
from graphgrad.random import SeedLike, make_rng, resolve_rng
from graphgrad.registry.loader import hookimpl

__all__ = [
    "Function", "Tensor", "no_grad", "enable_grad", "Module", "Parameter",
    "Loss", "reduce", "check_reduction", "check_labels", "check_same_shape", "check_float",
    "as_array", "Optimizer", "Schedule", "Transform", "RandomTransform", "BatchTransform",
    "require_images", "float_output", "resolve_rng", "make_rng", "SeedLike", "K", "hookimpl",
]
