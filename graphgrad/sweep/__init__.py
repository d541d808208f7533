"""Hyperparameter sweeps on Ray Tune, from the same TOML config ``graphgrad train`` reads.

``gg.sweep(config, space=..., trials=..., address=None)`` runs a sweep and
returns ``SweepResults``; ``resume(folder)`` continues an interrupted one;
``graphgrad sweep CONFIG.toml`` is the command. The ``[sweep]`` table is read
by ``graphgrad.sweep.space``, the trials run through ``graphgrad.sweep.tune``,
and ``graphgrad.sweep.results`` writes the table, ``results.csv``, the plots,
``best_config.toml`` and ``best_checkpoint.npz``. Needs the ``sweep`` extra
(Ray Tune, optuna); without it the functions raise an ImportError naming it.
Guide: docs/sweeps.md.
"""

from __future__ import annotations

import sys
import types

from graphgrad.sweep.results import SweepResults
from graphgrad.sweep.runner import SweepFailedError, prepare, resume, sweep
from graphgrad.sweep.space import SweepSettings, parse_sweep
from graphgrad.sweep.tune import SweepError

__all__ = ["sweep", "resume", "prepare", "parse_sweep", "SweepResults", "SweepSettings",
           "SweepError", "SweepFailedError"]


class _CallableModule(types.ModuleType):
    """``graphgrad.sweep`` is both this package and the function ``gg.sweep``: importing
    ``graphgrad.sweep.<anything>`` rebinds the attribute ``graphgrad.sweep`` to the
    package, so the package is callable too and ``gg.sweep(...)`` works either way."""

    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
