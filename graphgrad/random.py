"""graphgrad's global random generator (model construction, dropout, noise).

``gg.manual_seed(n)`` makes everything that draws from it reproducible; any
component that takes ``rng=`` uses that generator instead.
"""

from __future__ import annotations

import numpy as np

_GENERATOR = [np.random.default_rng()]


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (like torch.manual_seed) and return it."""
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
    """Restore a state returned by get_rng_state()."""
    gen = np.random.default_rng()
    gen.bit_generator.state = state
    _GENERATOR[0] = gen


def randn(*shape, dtype="float32", requires_grad=False, rng=None):
    """Standard-normal samples as a Tensor."""
    from .tensor import Tensor

    arr = resolve_rng(rng).standard_normal(shape).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)


def rand(*shape, dtype="float32", requires_grad=False, rng=None):
    """Uniform [0, 1) samples as a Tensor."""
    from .tensor import Tensor

    arr = resolve_rng(rng).random(shape).astype(dtype)
    return Tensor(arr, requires_grad=requires_grad)
