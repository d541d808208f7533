"""``gg.check.transform(cls)``: check a data transform class on its example batch.

The batch comes from ``cls.example_input(rng)``; an instance is built with
``cls.example(seed)`` if the class defines that classmethod, else
``cls(seed=seed)`` when the constructor takes a ``seed``, else ``cls()``, and
is fitted on the batch (``fit``) before use.  Checks:

- ``seed``: a transform that draws random numbers (a ``RandomTransform``)
  takes a ``seed`` in its constructor, so configs can make runs reproducible;
- ``deterministic``: two instances built with the same seed give identical
  outputs in training mode;
- ``shape and dtype``: a float32 batch gives a float32 batch of the same
  shape (declare ``keeps_shape = False`` if the transform changes it);
- ``train/eval``: ``train()``/``eval()`` return the transform and set
  ``training``; in evaluation mode two calls give equal outputs; a random
  transform built with two different seeds gives different training outputs.

A batch transform (``takes_labels``: mixup, CutMix) gets ``(x, y)`` from
``example_input`` and is called as ``t(x, y)``; the checks above then cover
both outputs, and ``labels`` checks that its labels are one probability row
per sample (each row sums to 1).

Skip a check with ``skip_checks = {"name": "why"}`` on the class.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from graphgrad import random as _random
from graphgrad.check.report import FAIL, PASS, SKIP, CheckReport, run_checks
from graphgrad.data.transform import RandomTransform


def takes_seed(cls) -> bool:
    """True if ``cls(...)`` accepts a ``seed`` keyword."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return "seed" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def build_transform(cls, seed: int) -> Any:
    """``cls.example(seed)``, ``cls(seed=seed)`` or ``cls()``."""
    if hasattr(cls, "example"):
        return cls.example(seed)
    return cls(seed=seed) if takes_seed(cls) else cls()


def _random_kind(cls) -> bool:
    return isinstance(cls, type) and issubclass(cls, RandomTransform)


def _fitted(cls, seed, x) -> Any:
    t = build_transform(cls, seed)
    t.fit(x)
    return t


def _seed(cls) -> tuple[str, str]:
    if takes_seed(cls):
        return PASS, "the constructor takes seed"
    if _random_kind(cls):
        return FAIL, (f"{cls.__name__} is a RandomTransform but its constructor takes no "
                      "seed, so configs cannot seed it; add seed=None to __init__ and pass "
                      "it on: super().__init__(seed)")
    return PASS, "deterministic (not a RandomTransform): no seed needed"


def _run(t, batch) -> tuple[np.ndarray, ...]:
    """The transform's outputs as a tuple of arrays: ``t(x)`` or, for a batch transform,
    ``t(x, y)``."""
    if getattr(t, "takes_labels", False):
        return tuple(np.asarray(o) for o in t(*batch))
    return (np.asarray(t(batch)),)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def _features(batch):
    return batch[0] if isinstance(batch, tuple) else batch


def _deterministic(cls, x) -> tuple[str, str]:
    a = _run(_fitted(cls, 0, _features(x)).train(), x)
    b = _run(_fitted(cls, 0, _features(x)).train(), x)
    if not _same(a, b):
        return FAIL, ("two instances built with seed 0 gave different outputs; draw random "
                      "numbers from self.rng (from the seed), never from np.random directly")
    return PASS, "same seed, same output"


def _shape_dtype(cls, x) -> tuple[str, str]:
    x32 = ((x[0].astype(np.float32), *x[1:]) if isinstance(x, tuple)
           else x.astype(np.float32))
    y = _run(_fitted(cls, 0, _features(x32)).train(), x32)[0]
    if y.dtype != np.float32:
        return FAIL, f"a float32 batch gave a {y.dtype} batch; keep the input's dtype"
    shape = _features(x).shape
    if getattr(cls, "keeps_shape", True) and y.shape != shape:
        return FAIL, (f"a batch of shape {shape} gave shape {y.shape}; declare keeps_shape "
                      "= False if that is intended")
    return PASS, f"{y.shape} float32"


def _labels(cls, x) -> tuple[str, str]:
    t = build_transform(cls, 0)
    if not getattr(t, "takes_labels", False):
        return SKIP, "not a batch transform (it does not see the labels)"
    if not isinstance(x, tuple) or len(x) != 2:
        return FAIL, "a batch transform's example_input(rng) must return (x, y)"
    t.fit(x[0])
    features, labels = _run(t.train(), x)
    if len(labels) != len(features):
        return FAIL, f"{len(features)} samples but {len(labels)} labels came out"
    if labels.ndim == 2 and labels.dtype.kind == "f":
        sums = labels.sum(axis=1)
        if not np.allclose(sums, 1.0, atol=1e-5):
            return FAIL, (f"mixed label rows must sum to 1 (probabilities), got sums from "
                          f"{sums.min():.6g} to {sums.max():.6g}")
        return PASS, f"labels {labels.shape}, each row sums to 1"
    return PASS, f"labels {labels.shape} {labels.dtype}"


def _modes(cls, x) -> tuple[str, str]:
    t = _fitted(cls, 0, _features(x))
    if t.eval() is not t or t.training:
        return FAIL, "eval() must return the transform and set training = False"
    e1, e2 = _run(t, x), _run(t, x)
    if not _same(e1, e2):
        return FAIL, "evaluation mode: two calls on the same batch gave different outputs"
    if t.train() is not t or not t.training:
        return FAIL, "train() must return the transform and set training = True"
    if not _random_kind(cls):
        return PASS, "train and eval modes switch"
    if not takes_seed(cls) and not hasattr(cls, "example"):
        return SKIP, "takes no seed (see the seed check)"
    a = _run(_fitted(cls, 0, _features(x)).train(), x)
    b = _run(_fitted(cls, 1, _features(x)).train(), x)
    if _same(a, b):
        return FAIL, "seeds 0 and 1 gave identical training outputs; is the seed used?"
    return PASS, "eval deterministic; train random, driven by the seed"


def transform(cls, example_input=None, *, rng=0) -> CheckReport:
    """Check the transform class ``cls`` on ``example_input`` (an ndarray batch);
    if omitted, ``cls.example_input(rng)`` provides it.  Returns a ``CheckReport``."""
    name = getattr(cls, "__name__", repr(cls))
    if example_input is None:
        if not hasattr(cls, "example_input"):
            raise TypeError(f"check.transform: pass example_input, or give {name} a "
                            "classmethod example_input(rng) returning a small batch")
        example_input = cls.example_input(_random.resolve_rng(rng))
    x = (tuple(np.asarray(e) for e in example_input) if isinstance(example_input, tuple)
         else np.asarray(example_input))
    items = run_checks([
        ("seed", lambda: _seed(cls)),
        ("deterministic", lambda: _deterministic(cls, x)),
        ("shape and dtype", lambda: _shape_dtype(cls, x)),
        ("train/eval", lambda: _modes(cls, x)),
        ("labels", lambda: _labels(cls, x)),
    ], getattr(cls, "skip_checks", None))
    return CheckReport(name, items, checker="transform")
