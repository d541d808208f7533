"""gg.check: gradient checks, component checks, babysitting, the learning-rate finder.

Component checkers, one per kind (each returns a ``CheckReport``): ``module``
(layers), ``loss``, ``optimizer``, ``schedule``, ``initializer``, ``transform``,
``function`` (custom ops), ``findings_rule`` (a findings rule of ``gg.viz``);
``components()`` runs them over the registries.

The gradient checks load with the package; the heavier checkers load on first
use (PEP 562), so ``import graphgrad`` does not pull in training or plotting.
"""

import importlib

from graphgrad.check.gradients import GradcheckError, gradcheck, gradgradcheck, jacobian

# name -> module that defines it (loaded on first use)
_LAZY = {
    "module": "graphgrad.check.module_checks",
    "loss": "graphgrad.check.loss_checks",
    "optimizer": "graphgrad.check.optim_checks",
    "schedule": "graphgrad.check.optim_checks",
    "initializer": "graphgrad.check.init_checks",
    "transform": "graphgrad.check.transform_checks",
    "function": "graphgrad.check.function_checks",
    "findings_rule": "graphgrad.check.rule_checks",
    "components": "graphgrad.check.component_checks",
    "babysit": "graphgrad.check.babysitting",
    "lr_find": "graphgrad.check.lr_finder",
    "shapes": "graphgrad.viz.jacobian_shapes",
}

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "jacobian", *_LAZY]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'graphgrad.check' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
