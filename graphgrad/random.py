"""Randomness: graphgrad's global generator and the helpers for components' own.

``gg.manual_seed(n)`` makes everything that draws from the global generator
reproducible (model construction, dropout, noise); a component that takes
``rng=`` uses that generator instead.  Two resolvers, on purpose different in
what ``None`` means:

- ``resolve_rng(None)`` is the *global* generator (layers: ``gg.manual_seed``
  makes a model reproducible);
- ``make_rng(None)`` is a *fresh* generator from OS entropy (data pipelines:
  each loader or transform has its own stream, saved in checkpoints).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphgrad.ops import attention as _attention

_GENERATOR = [np.random.default_rng()]
_attention.GENERATOR = _GENERATOR  # the fused attention op's dropout draws from it (rng=None)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (like torch.manual_seed) and return it.

    There is one global generator per process, shared by all threads: code that
    builds models in several threads passes each its own ``rng=`` instead.
    """
    _GENERATOR[0] = np.random.default_rng(seed)
    return _GENERATOR[0]


def default_rng() -> np.random.Generator:
    """The global generator."""
    return _GENERATOR[0]


def resolve_rng(rng=None) -> np.random.Generator:
    """`rng` as a Generator: None → the global one; an int → a new seeded one."""
    if rng is None:
        return _GENERATOR[0]
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def get_rng_state() -> dict:
    """The global generator's state (JSON-able), for checkpoints."""
    return _GENERATOR[0].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by get_rng_state(), in place: a component that
    holds the global generator sees the restored stream too."""
    _GENERATOR[0].bit_generator.state = state


def randn(*shape, dtype="float32", requires_grad=False, rng=None):
    """Standard-normal samples as a Tensor."""
    from graphgrad.autograd.tensor import Tensor

    arr = resolve_rng(rng).standard_normal(shape).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def rand(*shape, dtype="float32", requires_grad=False, rng=None):
    """Uniform [0, 1) samples as a Tensor."""
    from graphgrad.autograd.tensor import Tensor

    arr = resolve_rng(rng).random(shape).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


SeedLike = int | np.random.Generator | None


def make_rng(seed: SeedLike = None) -> np.random.Generator:
    """Return a PCG64 ``Generator``: ``seed`` may be None (fresh OS entropy), an
    int, or an existing Generator (shared, not copied)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be None, an int or a numpy Generator, got {type(seed).__name__}"
        )
    return np.random.default_rng(seed)


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's bit-generator state: a dict of str and int (JSON-able)."""
    return rng.bit_generator.state


def restore_generator(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore a state returned by :func:`generator_state` (also after a JSON round trip)."""
    expected = type(rng.bit_generator).__name__
    if state.get("bit_generator") != expected:
        raise ValueError(
            f"RNG state is for bit generator {state.get('bit_generator')!r}, "
            f"but this generator is {expected!r}; save and load with the same kind"
        )
    rng.bit_generator.state = state


def module_generators(model) -> dict[str, np.random.Generator]:
    """``{"path.attr": generator}`` for every ``numpy.random.Generator`` a module holds."""
    found = {}
    for path, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{path}.{attr}" if path else attr] = value
    return found
