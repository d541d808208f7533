"""Base classes of preprocessing and augmentation transforms.

A transform maps a batch ``x`` (an ndarray: ``(N, D)`` features or ``(N, C, H,
W)`` images) to a new batch. Preprocessing transforms learn statistics with
``fit(x_train)`` on the training data only and then apply the same affine map
to every split; augmentations (:class:`RandomTransform`) draw random
parameters per sample and are active only in training mode.

Fitted statistics travel as ``state_dict()``: a flat ``{str: ndarray | int |
float | str | bool}`` dict, so it can be stored next to the model weights with
``numpy.savez`` (e.g. under a ``"transform."`` key prefix) and restored with
``load_state_dict`` on a freshly built transform of the same configuration.
Values read back from an ``.npz`` file (0-d arrays) are accepted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphgrad.random import SeedLike, generator_state, make_rng, restore_generator


def plain(value: Any) -> Any:
    """A 0-d array (as read back from ``.npz``) becomes its Python scalar."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value


class Transform:
    """A callable on an ndarray batch: ``y = T(x)``.

    Subclasses implement :meth:`apply`; those that learn statistics override
    :meth:`fit` and list the attribute names of the statistics in ``stats``
    (saved by :meth:`state_dict`) and of the settings that must match when the
    statistics are loaded in ``config``.
    """

    stats: tuple[str, ...] = ()
    config: tuple[str, ...] = ()
    training = True
    #: True for a transform of the whole labelled batch, called as ``T(x, y)``
    #: (see :class:`BatchTransform`); a DataLoader then passes the labels too.
    takes_labels = False

    def __init__(self) -> None:
        self.training = True

    # -- the map ---------------------------------------------------------------
    def __call__(self, x) -> np.ndarray:
        """Apply the transform to the batch ``x`` (converted with ``np.asarray``)."""
        return self.apply(np.asarray(x))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The map itself, on an ndarray; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} must implement apply(x)")

    def fit(self, x) -> Transform:
        """Learn statistics from training data; a no-op for stateless transforms."""
        return self

    def fit_transform(self, x) -> np.ndarray:
        """``fit(x)`` then apply the fitted transform to ``x``."""
        return self.fit(x)(x)

    # -- training / evaluation mode ---------------------------------------------
    def train(self, mode: bool = True) -> Transform:
        """Set training mode (random augmentations active); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Transform:
        """Set evaluation mode (random augmentations off); returns self."""
        return self.train(False)

    # -- fitted statistics ------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """True when every statistic in ``stats`` has been learnt (or loaded)."""
        return all(getattr(self, k, None) is not None for k in self.stats)

    def check_fitted(self) -> None:
        """Raise a RuntimeError naming the transform if it has not been fitted."""
        if not self.fitted:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted: call .fit(x_train) on the training data "
                "(or .load_state_dict(saved)) before applying it"
            )

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted statistics as plain arrays and scalars."""
        if self.stats:
            self.check_fitted()
        state: dict[str, Any] = {k: getattr(self, k) for k in self.config}
        state.update({k: np.array(getattr(self, k)) for k in self.stats})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore statistics saved by :meth:`state_dict`; the settings listed in
        ``config`` must match this transform's."""
        name = type(self).__name__
        missing = [k for k in (*self.config, *self.stats) if k not in state]
        unknown = [k for k in state if k not in (*self.config, *self.stats)]
        if missing or unknown:
            raise KeyError(
                f"{name}.load_state_dict: missing keys {missing}, unexpected keys {unknown}; "
                f"expected {list(self.config) + list(self.stats)}"
            )
        for k in self.config:
            saved, mine = plain(state[k]), getattr(self, k)
            if saved != mine:
                raise ValueError(
                    f"{name}.load_state_dict: saved {k}={saved!r} but this transform has "
                    f"{k}={mine!r}; build the transform with the same settings"
                )
        for k in self.stats:
            setattr(self, k, np.asarray(state[k]))

    # -- random state (for exact resume) ----------------------------------------
    def rng_state(self) -> Any:
        """JSON-able random state; None for deterministic transforms."""
        return None

    def set_rng_state(self, state: Any) -> None:
        """Restore what :meth:`rng_state` returned."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.config)
        return f"{type(self).__name__}({args})"


class RandomTransform(Transform):
    """An augmentation: random parameters per sample, drawn from ``self.rng``.

    In training mode ``T(x) = apply(x)``; in evaluation mode ``T(x) =
    apply_eval(x)``, the deterministic counterpart, which is the identity unless
    a subclass needs otherwise (e.g. a centre crop keeps the output size).
    ``seed`` may be None, an int or a shared ``numpy.random.Generator``.
    """

    def __init__(self, seed: SeedLike = None) -> None:
        super().__init__()
        self.rng = make_rng(seed)

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x)
        return self.apply(x) if self.training else self.apply_eval(x)

    def apply_eval(self, x: np.ndarray) -> np.ndarray:
        """The map in evaluation mode: the identity by default."""
        return x

    def rng_state(self) -> Any:
        return generator_state(self.rng)

    def set_rng_state(self, state: Any) -> None:
        restore_generator(self.rng, state)


class BatchTransform(RandomTransform):
    """An augmentation of a whole labelled batch: ``(x', y') = T(x, y)`` (mixup, CutMix).

    Such a transform mixes samples *and* their labels, so it needs both: a
    ``DataLoader`` (or ``Compose``) given one calls it with the batch's first
    two fields, the features and the labels.  In training mode it returns
    ``apply(x, y)``, in evaluation mode ``apply_eval(x, y)``, the identity.
    Subclasses implement :meth:`apply`; random numbers come from ``self.rng``.
    """

    takes_labels = True

    def __call__(self, x, y=None) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise TypeError(f"{type(self).__name__} mixes labels: call it as t(x, y) with the "
                            "batch's labels (a DataLoader given it as transform= does)")
        x, y = np.asarray(x), np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"{type(self).__name__}: {len(x)} samples but {len(y)} labels "
                             f"(x {x.shape}, y {y.shape}); pass the labels of this batch")
        return self.apply(x, y) if self.training else self.apply_eval(x, y)

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The map in training mode; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} must implement apply(x, y)")

    def apply_eval(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The map in evaluation mode: the identity."""
        return x, y


def require_images(x: np.ndarray, who: str) -> tuple[int, int, int, int]:
    """Check that ``x`` is an NCHW image batch and return its shape."""
    if x.ndim != 4:
        raise ValueError(
            f"{who}: expected an NCHW image batch (a 4-D array), got shape {x.shape}; "
            "reshape images to (N, C, H, W), e.g. x.reshape(N, 1, H, W) for grey images"
        )
    return x.shape


def float_output(x: np.ndarray) -> np.ndarray:
    """``x`` itself if it is floating point, else ``x`` as float64."""
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
