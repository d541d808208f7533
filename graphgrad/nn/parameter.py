"""Parameter: a Tensor that is a trainable weight, and initializer resolution."""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.tensor import Tensor
from graphgrad.random import resolve_rng


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module: ``requires_grad=True``.

    ``is_parameter`` is True, so graph inspection draws it as a parameter.  Put
    it in a Module attribute (or a list/dict attribute) and the module finds it.
    """

    is_parameter = True

    def __init__(self, data, requires_grad=True, dtype=None, name=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    @classmethod
    def initialized(cls, shape, init="he_normal", rng=None, dtype="float32",
                    name=None) -> Parameter:
        """A Parameter of ``shape`` filled by an initializer.

        ``init`` is a registry name (``"he_normal"``), an initializer class or
        object, or any callable ``init(shape, rng) -> ndarray``; ``rng`` a
        ``numpy.random.Generator``, an int seed, or None for graphgrad's global
        generator (``gg.manual_seed``).
        """
        fn = resolve_initializer(init)
        shape = tuple(int(s) for s in shape)
        arr = np.asarray(fn(shape, resolve_rng(rng)))
        if arr.shape != shape:
            raise ValueError(
                f"initializer {_init_name(fn)} returned an array of shape {arr.shape} for a "
                f"parameter of shape {shape}; an initializer must return exactly `shape`"
            )
        return cls(arr.astype(dtype, copy=False), name=name)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def _init_name(fn) -> str:
    return getattr(fn, "name", None) or getattr(fn, "__name__", None) or type(fn).__name__


def resolve_initializer(init):
    """An initializer callable ``init(shape, rng) -> ndarray`` from a name, class or callable.

    A string is looked up in ``graphgrad.initializers`` (an unknown name lists
    the known ones); a class is instantiated with its defaults; any other
    callable is used as it is.
    """
    if isinstance(init, str):
        from graphgrad.registry import Registry

        init = Registry("initializers").get(init)
    if isinstance(init, type):
        init = init()
    if not callable(init):
        raise TypeError(
            f"init must be an initializer name (e.g. 'he_normal'), an initializer class or "
            f"object, or a callable init(shape, rng) -> ndarray; got {init!r}"
        )
    return init
