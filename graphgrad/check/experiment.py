"""Helpers for short experiments on a user's model (``babysit``, ``lr_find``).

``borrowed(model)`` lends the model to an experiment and gives it back exactly
as it was: parameter values, dtypes and array objects, buffers, gradients,
train/eval modes, graphgrad's global random state and the generators modules
hold. ``sample_arrays`` turns the many ways of passing data into a seeded
subset ``(x, y)`` of ndarrays; ``make_optimizer`` builds an optimizer from a
registry name or a factory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from graphgrad import random as gg_random
from graphgrad.autograd.tensor import Tensor
from graphgrad.random import module_generators
from graphgrad.training.modes import restore_transform_mode, set_transform_mode


@contextmanager
def borrowed(model) -> Iterator[dict[str, np.ndarray]]:
    """Context manager: experiment freely on ``model``; on exit it is restored bit for bit.

    Yields the model's ``state_dict()`` at entry (copies), handy for resetting
    the weights between runs with ``model.load_state_dict(state)``. Casting the
    model (``model.double()``) inside is fine: parameters get their original
    arrays back, buffers their original values and dtypes.
    """
    state = model.state_dict()
    named = list(model.named_parameters())
    arrays = [(p, p.data, p.grad) for _, p in named]
    modes = [(m, m.training) for _, m in model.named_modules()]
    global_rng = gg_random.get_rng_state()
    generators = {k: g.bit_generator.state for k, g in module_generators(model).items()}
    try:
        yield state
    finally:
        for (name, p), (_, data, grad) in zip(named, arrays, strict=True):
            p.data = data
            np.copyto(data, state[name])
            p.grad = grad
            p._bump_version()
        modules = dict(model.named_modules())
        for name, _ in list(model.named_buffers()):
            path, _, attr = name.rpartition(".")
            setattr(modules[path], attr, state[name].copy())
        for module, training in modes:
            module.training = training
        gg_random.set_rng_state(global_rng)
        for key, generator in module_generators(model).items():
            if key in generators:
                generator.bit_generator.state = generators[key]


def _plain(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


def sample_arrays(data, n: int | None, seed: int, who: str) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of at most ``n`` samples as ``(x, y)`` ndarrays.

    ``data`` is ``(x, y)`` (ndarrays or Tensors), an ``ArrayDataset``, or a
    ``DataLoader`` over one (its transform is applied in evaluation mode, so
    preprocessing is included and augmentation is not).
    """
    loader = None
    if hasattr(data, "dataset") and hasattr(data, "batch_size"):  # a DataLoader
        loader, data = data, data.dataset
    if hasattr(data, "arrays"):  # an ArrayDataset
        data = data.arrays
    if not isinstance(data, (tuple, list)) or len(data) < 2:
        raise TypeError(
            f"{who}: data must be (x, y) arrays, an ArrayDataset or a DataLoader over one, got "
            f"{type(data).__name__}; a stream cannot be sampled, pass arrays instead"
        )
    x, y = _plain(data[0]), _plain(data[1])
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{who}: x and y must hold the same positive number of samples, got "
                         f"{len(x)} and {len(y)}")
    order = np.random.default_rng(seed).permutation(len(x))
    idx = np.sort(order[: len(x) if n is None else min(int(n), len(x))])
    x, y = x[idx], y[idx]
    if loader is not None and getattr(loader, "transform", None) is not None:
        was = set_transform_mode(loader, False)
        try:
            x = np.asarray(loader.transform(x))
        finally:
            restore_transform_mode(loader, was)
    return x, y


def make_optimizer(spec: str | Callable, params: list, lr: float,
                   kwargs: dict[str, Any] | None, who: str):
    """``spec`` (a registry name such as ``"sgd"``, or a factory ``f(params, lr=..., **kw)``)
    built on ``params`` with learning rate ``lr``."""
    if isinstance(spec, str):
        from graphgrad.registry import Registry

        spec = Registry("optimizers").get(spec)
    if not callable(spec):
        raise TypeError(f"{who}: optimizer must be a registry name (e.g. 'sgd') or a callable "
                        f"optimizer(params, lr=...), got {spec!r}")
    return spec(params, lr=lr, **(kwargs or {}))


def loss_value(model, loss, x: Tensor, y: Tensor) -> float:
    """The loss of the model on (x, y) as a float, without recording a graph."""
    from graphgrad.autograd import no_grad

    with no_grad(), np.errstate(all="ignore"):
        return float(np.mean(loss(model(x), y).data))
