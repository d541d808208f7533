"""``gg.check.initializer(init)``: check a weight initializer ``init(shape, rng)``.

A class is built with ``cls.example()`` if it defines that classmethod, else
``cls()``; an instance or a function is used as it is.  Checks:

- ``shape and dtype``: ``init(shape, rng)`` returns a floating ndarray of
  ``shape`` for a linear ``(5, 3)`` and a convolution ``(4, 3, 2, 2)`` weight;
- ``seeded``: two calls with generators of the same seed give equal arrays;
- ``finite``: no NaN or inf;
- ``fan rule``: if the initializer declares ``variance(shape)`` (the
  documented rule, e.g. 2 / fan_in for He), the empirical variance of a
  400 × 300 draw is within 5 % of it (the standard error of a variance
  estimate from 120 000 values is about 0.4 % for a normal law).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from graphgrad.check.report import FAIL, PASS, SKIP, CheckReport, run_checks

_SHAPES = ((5, 3), (4, 3, 2, 2))
_LARGE = (400, 300)


def build_initializer(init) -> Any:
    """An initializer class built (``cls.example()`` or ``cls()``); others as they are."""
    if not isinstance(init, type):
        return init
    return init.example() if hasattr(init, "example") else init()


def _draw(init, shape, seed):
    return np.asarray(init(shape, np.random.default_rng(seed)))


def _shape_dtype(init) -> tuple[str, str]:
    for shape in _SHAPES:
        w = _draw(init, shape, 0)
        if w.shape != shape:
            return FAIL, f"init({shape}, rng) returned shape {w.shape}"
        if w.dtype.kind != "f":
            return FAIL, f"init({shape}, rng) returned dtype {w.dtype}, not floating point"
    return PASS, " and ".join(str(s) for s in _SHAPES)


def _seeded(init) -> tuple[str, str]:
    for shape in _SHAPES:
        if not np.array_equal(_draw(init, shape, 7), _draw(init, shape, 7)):
            return FAIL, ("two calls with generators of seed 7 differ; draw only from the "
                          "rng argument, never from np.random directly")
    return PASS, "same seed, same weights"


def _finite(init) -> tuple[str, str]:
    for shape in (*_SHAPES, _LARGE):
        w = _draw(init, shape, 0)
        if not np.all(np.isfinite(w)):
            return FAIL, f"init({shape}, rng) has NaN or inf values"
    return PASS, "no NaN or inf"


def _fan_rule(init) -> tuple[str, str]:
    rule = getattr(init, "variance", None)
    if not callable(rule):
        return SKIP, ("declares no variance(shape) (its documented fan rule); add one to "
                      "have it checked")
    expected = float(rule(_LARGE))
    got = float(_draw(init, _LARGE, 0).var())
    if expected == 0.0:
        ok = got == 0.0
    else:
        ok = abs(got - expected) <= 0.05 * expected
    if not ok:
        return FAIL, (f"on a {_LARGE} weight the variance is {got:.6g}, but variance(shape) "
                      f"says {expected:.6g} (fan_in = {_LARGE[0]}, fan_out = {_LARGE[1]})")
    return PASS, f"variance {got:.4g} vs {expected:.4g} on {_LARGE}"


def initializer(init) -> CheckReport:
    """Check an initializer (class, instance or function); returns a ``CheckReport``."""
    name = init.__name__ if inspect.isfunction(init) or isinstance(init, type) \
        else type(init).__name__
    built = build_initializer(init)
    items = run_checks([
        ("shape and dtype", lambda: _shape_dtype(built)),
        ("seeded", lambda: _seeded(built)),
        ("finite", lambda: _finite(built)),
        ("fan rule", lambda: _fan_rule(built)),
    ], getattr(init, "skip_checks", None), gate="shape and dtype")
    return CheckReport(name, items, checker="initializer")
