"""Import paths of graphgrad 0.1 that moved in 0.2, kept working for this release.

``import graphgrad.module`` (and every other path the 0.1 docs named) still
works: the finder below answers for the old name with a module that holds the
new home's names, and raises a ``DeprecationWarning`` that names the new home.
A plugin should import from ``graphgrad.extend`` instead.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

#: old module -> its new home(s); names are taken from each, in order.
MOVED = {
    "graphgrad.tensor": ("graphgrad.autograd.tensor",),
    "graphgrad.function": ("graphgrad.autograd.function",),
    "graphgrad.module": ("graphgrad.nn.module", "graphgrad.nn"),
    "graphgrad.parameter": ("graphgrad.nn.parameter",),
    "graphgrad.sequential": ("graphgrad.nn.sequential",),
    "graphgrad.network": ("graphgrad.nn.network",),
    "graphgrad.losses_base": ("graphgrad.nn.loss",),
    "graphgrad.regularizers": ("graphgrad.nn.regularizers",),
    "graphgrad.train": ("graphgrad.training.trainer",),
    "graphgrad.callbacks": ("graphgrad.training.callbacks",),
    "graphgrad.history": ("graphgrad.training.history",),
    "graphgrad.metrics": ("graphgrad.training.metrics",),
    "graphgrad.checkpoint": ("graphgrad.training.checkpoint",),
    "graphgrad.module_check": ("graphgrad.check.module_checks",),
    "graphgrad.babysit": ("graphgrad.check.babysitting",),
    "graphgrad.babysit_report": ("graphgrad.check.babysit_report",),
    "graphgrad.lr_find": ("graphgrad.check.lr_finder",),
    "graphgrad.experiment": ("graphgrad.check.experiment",),
    "graphgrad.shapes": ("graphgrad.viz.jacobian_shapes",),
    "graphgrad.viz_graph": ("graphgrad.viz.graph",),
    "graphgrad.viz_collapse": ("graphgrad.viz.collapse",),
    "graphgrad.viz_dot": ("graphgrad.viz.dot",),
    "graphgrad.viz_network": ("graphgrad.viz.network",),
    "graphgrad.viz_summary": ("graphgrad.viz.model_summary",),
    "graphgrad.viz_table": ("graphgrad.viz.text",),
    "graphgrad.hookspecs": ("graphgrad.registry.hookspecs",),
    "graphgrad.plugin_loader": ("graphgrad.registry.loader",),
    "graphgrad.config_parts": ("graphgrad.config.parts",),
    "graphgrad.config_data": ("graphgrad.config.data",),
    "graphgrad.runs": ("graphgrad.config.runs",),
    "graphgrad.cli_render": ("graphgrad.cli.render",),
    "graphgrad.cli_train": ("graphgrad.cli.train",),
    "graphgrad.demo": ("graphgrad.cli.demo",),
    "graphgrad.kernels._jit": ("graphgrad.kernels.numba_backend._jit",),
    "graphgrad.kernels._reductions": ("graphgrad.kernels.numba_backend.reductions",),
    "graphgrad.kernels._updates": ("graphgrad.kernels.numba_backend.updates",),
    "graphgrad.kernels.approx": ("graphgrad.kernels.numba_backend.loops.approx",),
    "graphgrad.kernels.scatter": ("graphgrad.kernels.numba_backend.loops.scatter",),
    "graphgrad.kernels.softmax": ("graphgrad.kernels.numba_backend.loops.softmax",),
}


class _CallableModule(types.ModuleType):
    """An old module whose name is also a function of its parent package
    (``graphgrad.tensor``): importing it makes Python set ``graphgrad.tensor``
    to the module, so the module answers calls as the function did."""

    def __call__(self, *args, **kwargs):
        return self.__dict__["_shadowed_function"](*args, **kwargs)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers for the names in ``MOVED`` only; every other import is untouched."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        homes = MOVED[module.__name__]
        warnings.warn(
            f"{module.__name__} moved to {homes[0]} in graphgrad 0.2; import it from there "
            "(plugins: from graphgrad.extend); the old path goes away in the next release",
            DeprecationWarning, stacklevel=2,
        )
        for home in reversed(homes):
            target = importlib.import_module(home)
            module.__dict__.update(
                {k: v for k, v in vars(target).items() if not k.startswith("__")})
        module.__doc__ = f"Deprecated alias of {homes[0]}."
        parent, _, leaf = module.__name__.rpartition(".")
        shadowed = getattr(sys.modules[parent], leaf, None)
        if callable(shadowed) and not isinstance(shadowed, types.ModuleType):
            module.__class__ = _CallableModule
            module._shadowed_function = shadowed


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
