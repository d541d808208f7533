"""Built-in data transforms, registered exactly as a third-party plugin would.

Preprocessing (fitted on the training data only, statistics in ``state_dict``):
``standardize``, ``pca_whiten``. Augmentation (random, training mode only, NCHW
images): ``random_flip``, ``random_crop``, ``contrast``, ``tint``. Chaining:
``compose``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import graphgrad as gg
from graphgrad.extend import RandomTransform, SeedLike, Transform, float_output, require_images


def _with_dtype_of(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` in the dtype of ``x`` when ``x`` is floating point (float64 stays float64)."""
    return y.astype(float_output(x).dtype, copy=False)


def _range(
    value: float | Sequence[float], centre: float, who: str, label: str
) -> tuple[float, float]:
    """``(lo, hi)`` from a pair, or ``(centre - v, centre + v)`` from a number ``v``."""
    if np.isscalar(value):
        lo, hi = centre - float(value), centre + float(value)
    else:
        lo, hi = (float(v) for v in value)
    if not lo <= hi:
        raise ValueError(f"{who}: {label} must be a range (lo, hi) with lo <= hi, got {value!r}")
    return lo, hi


def _images(rng) -> np.ndarray:
    """A small NCHW batch (6, 3, 5, 5): the example input of ``gg.check.transform``."""
    return rng.normal(size=(6, 3, 5, 5))


class Standardize(Transform):
    """``y = (x - mu) / sigma`` with statistics of the training data.

    ``mode`` chooses what shares a statistic: ``"global"`` one mean and std for
    all values; ``"per_feature"`` one per feature (over axis 0, any trailing
    shape: ``(N, D)`` features, or a mean image for NCHW); ``"per_channel"`` one
    per channel of an ``(N, C, ...)`` batch (over every axis but 1). ``sigma`` is
    the population std (ddof 0); where it is ``<= eps`` (a constant feature) it
    is replaced by 1, so such values are only centred.
    """

    @classmethod
    def example_input(cls, rng):
        """A small NCHW image batch, for ``gg.check.transform``."""
        return _images(rng)

    name = "standardize"
    config = ("mode",)
    stats = ("mean", "scale")
    modes = ("global", "per_feature", "per_channel")

    def __init__(self, mode: str = "per_feature", eps: float = 1e-8):
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f"Standardize: mode must be one of {self.modes}, got {mode!r}")
        self.mode, self.eps = mode, float(eps)
        self.mean = self.scale = None

    def _axes(self, x: np.ndarray) -> tuple[int, ...]:
        if self.mode == "global":
            return tuple(range(x.ndim))
        if self.mode == "per_feature":
            if x.ndim < 2:
                raise ValueError(
                    f"Standardize(mode='per_feature'): expected a batch of shape (N, D, ...), got "
                    f"shape {x.shape}; use x.reshape(-1, 1) for a single feature"
                )
            return (0,)
        if x.ndim < 3:
            raise ValueError(
                f"Standardize(mode='per_channel'): expected images (N, C, H, W), got shape "
                f"{x.shape}; use mode='per_feature' for (N, D) feature arrays"
            )
        return (0, *range(2, x.ndim))

    def fit(self, x) -> Standardize:
        """Learn ``mu`` and ``sigma`` from training data ``x``."""
        x = np.asarray(x)
        axes = self._axes(x)
        if x.shape[0] == 0:
            raise ValueError(f"Standardize: cannot fit on an empty batch of shape {x.shape}")
        self.mean = x.mean(axis=axes, dtype=np.float64)
        std = x.std(axis=axes, dtype=np.float64)
        self.scale = np.where(std > self.eps, std, 1.0)
        return self

    def apply(self, x: np.ndarray) -> np.ndarray:
        self.check_fitted()
        self._axes(x)
        mean, scale = self.mean, self.scale
        if self.mode == "per_feature" and x.shape[1:] != mean.shape:
            raise ValueError(
                f"Standardize(mode='per_feature') was fitted on samples of shape {mean.shape} "
                f"but got a batch of shape {x.shape}; apply it to data with the features it was "
                "fitted on, or fit it again"
            )
        if self.mode == "per_channel":
            if x.shape[1] != mean.shape[0]:
                raise ValueError(
                    f"Standardize(mode='per_channel') was fitted on {mean.shape[0]} channels but "
                    f"got a batch of shape {x.shape} ({x.shape[1]} channels); fit it again on "
                    "such data"
                )
            mean = mean.reshape(-1, *(1,) * (x.ndim - 2))
            scale = scale.reshape(mean.shape)
        return _with_dtype_of((x - mean) / scale, x)


class PCAWhiten(Transform):
    """PCA or ZCA whitening from the SVD of the training covariance.

    With ``mu`` the training mean, ``Sigma = (X - mu)^T (X - mu) / N = U S U^T``
    (SVD of the covariance; columns of ``U`` sorted by decreasing variance) and
    ``U_k`` its first ``k = n_components`` columns (all by default):

    * PCA: ``y = (x - mu) U_k diag(1 / sqrt(S_k + eps))``, shape ``(N, k)``;
    * ZCA (``zca=True``): ``y = (x - mu) U_k diag(1 / sqrt(S_k + eps)) U_k^T``,
      rotated back to the input space and shape (the matrix is symmetric).

    On the training data the output covariance is ``diag(S_k / (S_k + eps))``,
    the identity up to ``eps`` (which keeps near-zero variance directions from
    blowing up). Samples of any trailing shape are flattened to ``D`` features.
    """

    @classmethod
    def example_input(cls, rng):
        """16 samples of 4 correlated features, for ``gg.check.transform``."""
        return rng.normal(size=(16, 4)) @ rng.normal(size=(4, 4))

    name = "pca_whiten"
    config = ("zca",)
    stats = ("mean", "matrix", "sample_shape")

    def __init__(self, n_components: int | None = None, eps: float = 1e-5, zca: bool = False):
        super().__init__()
        if n_components is not None and (
            not isinstance(n_components, (int, np.integer)) or n_components < 1
        ):
            raise ValueError(
                f"PCAWhiten: n_components must be a positive int or None, got {n_components!r}"
            )
        if not eps >= 0:
            raise ValueError(f"PCAWhiten: eps must be >= 0, got {eps}")
        self.n_components, self.eps, self.zca = n_components, float(eps), bool(zca)
        self.mean = self.matrix = self.sample_shape = None

    def fit(self, x) -> PCAWhiten:
        """Learn ``mu`` and the whitening matrix from training data ``x``."""
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] < 2:
            raise ValueError(
                "PCAWhiten: expected training data of shape (N, D) with N >= 2, got shape "
                f"{x.shape}"
            )
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        dim = flat.shape[1]
        k = dim if self.n_components is None else int(self.n_components)
        if k > dim:
            raise ValueError(
                f"PCAWhiten: n_components={k} exceeds the {dim} features of data of shape {x.shape}"
            )
        mean = flat.mean(axis=0)
        centred = flat - mean
        u, s, _ = np.linalg.svd(centred.T @ centred / flat.shape[0], hermitian=True)
        flat_directions = int(np.sum(s[:k] + self.eps <= 1e-12 * max(s[0], 1e-300)))
        if flat_directions:
            raise ValueError(
                f"PCAWhiten: the training data of shape {x.shape} has (almost) no variance along "
                f"{flat_directions} of the {k} kept directions, so whitening would divide by "
                f"zero; use eps > 0 or n_components <= {k - flat_directions}"
            )
        matrix = u[:, :k] / np.sqrt(s[:k] + self.eps)
        if self.zca:
            matrix = matrix @ u[:, :k].T
        self.mean, self.matrix, self.sample_shape = mean, matrix, np.array(x.shape[1:])
        return self

    def apply(self, x: np.ndarray) -> np.ndarray:
        self.check_fitted()
        shape = tuple(int(d) for d in self.sample_shape)
        if x.ndim < 2 or x.shape[1:] != shape:
            raise ValueError(
                f"PCAWhiten was fitted on samples of shape {shape} but got a batch of shape "
                f"{x.shape}; apply it to data of the fitted shape, or fit it again"
            )
        y = (x.reshape(x.shape[0], -1) - self.mean) @ self.matrix
        if self.zca:
            y = y.reshape(x.shape)
        return _with_dtype_of(y, x)


class RandomFlip(RandomTransform):
    """Horizontal flip: each image of an NCHW batch is mirrored along its width,
    ``y[n, c, h, w] = x[n, c, h, W - 1 - w]``, independently with probability ``p``."""

    @classmethod
    def example_input(cls, rng):
        """A small NCHW image batch, for ``gg.check.transform``."""
        return _images(rng)

    name = "random_flip"

    def __init__(self, p: float = 0.5, seed: SeedLike = None):
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def apply(self, x: np.ndarray) -> np.ndarray:
        require_images(x, "RandomFlip")
        flip = self.rng.random(x.shape[0]) < self.p
        y = x.copy()
        y[flip] = x[flip, :, :, ::-1]
        return y


class RandomCrop(RandomTransform):
    """Random crop of ``size = (h, w)`` (an int means square) from each NCHW image
    zero-padded by ``padding`` pixels on every side.

    With ``P`` the padded image, offsets ``i ~ U{0..H + 2p - h}`` and
    ``j ~ U{0..W + 2p - w}`` per sample: ``y[n] = P[n, :, i:i+h, j:j+w]``, so the
    content shifts by up to ``padding`` pixels. In evaluation mode the centre
    crop of the padded image is taken (the identity when the size equals the
    input size), so shapes agree between training and evaluation.
    """

    @classmethod
    def example(cls, seed=None):
        """A 5 x 5 crop with padding 1 (the size of the example images)."""
        return cls(5, padding=1, seed=seed)

    @classmethod
    def example_input(cls, rng):
        """A small NCHW image batch, for ``gg.check.transform``."""
        return _images(rng)

    name = "random_crop"

    def __init__(self, size: int | tuple[int, int], padding: int = 0, seed: SeedLike = None):
        super().__init__(seed)
        h, w = (size, size) if np.isscalar(size) else size
        if min(h, w) < 1 or padding < 0:
            raise ValueError(
                f"RandomCrop: need size >= 1 and padding >= 0, got size={size!r}, "
                f"padding={padding!r}"
            )
        self.size, self.padding = (int(h), int(w)), int(padding)

    def _spare(self, x: np.ndarray) -> tuple[int, int]:
        """Room for the crop offset along height and width of the padded images."""
        _, _, height, width = require_images(x, "RandomCrop")
        spare_h = height + 2 * self.padding - self.size[0]
        spare_w = width + 2 * self.padding - self.size[1]
        if min(spare_h, spare_w) < 0:
            raise ValueError(
                f"RandomCrop: crop size {self.size} is larger than the padded images "
                f"({height + 2 * self.padding}, {width + 2 * self.padding}) of a batch of shape "
                f"{x.shape}; use a smaller size or more padding"
            )
        return spare_h, spare_w

    def _crop(self, x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``y[n] = P[n, :, rows[n]:rows[n]+h, cols[n]:cols[n]+w]`` in one gather."""
        p, (h, w) = self.padding, self.size
        n, channels, height, width = x.shape
        # np.pad's result without its per-axis Python: 2.6 µs instead of 63 for a digits batch
        padded = np.zeros((n, channels, height + 2 * p, width + 2 * p), x.dtype)
        padded[:, :, p:p + height, p:p + width] = x
        r = rows[:, None, None] + np.arange(h)[None, :, None]
        c = cols[:, None, None] + np.arange(w)[None, None, :]
        picked = padded[np.arange(x.shape[0])[:, None, None], :, r, c]  # (N, h, w, C)
        return np.ascontiguousarray(picked.transpose(0, 3, 1, 2))

    def apply(self, x: np.ndarray) -> np.ndarray:
        spare_h, spare_w = self._spare(x)
        rows = self.rng.integers(0, spare_h + 1, size=x.shape[0])
        cols = self.rng.integers(0, spare_w + 1, size=x.shape[0])
        return self._crop(x, rows, cols)

    def apply_eval(self, x: np.ndarray) -> np.ndarray:
        spare_h, spare_w = self._spare(x)
        return self._crop(x, np.full(len(x), spare_h // 2), np.full(len(x), spare_w // 2))


class Contrast(RandomTransform):
    """Random contrast: ``y[n] = m_n + a_n (x[n] - m_n)`` with ``m_n`` the mean of
    image ``n`` (over C, H, W) and ``a_n ~ U[lo, hi]`` per image.

    ``factor`` is the range ``(lo, hi)``, or ``s`` for ``(max(0, 1 - s), 1 + s)``.
    """

    @classmethod
    def example_input(cls, rng):
        """A small NCHW image batch, for ``gg.check.transform``."""
        return _images(rng)

    name = "contrast"

    def __init__(self, factor: float | tuple[float, float] = (0.8, 1.2), seed: SeedLike = None):
        super().__init__(seed)
        lo, hi = _range(factor, 1.0, "Contrast", "factor")
        self.factor = (max(lo, 0.0), hi)

    def apply(self, x: np.ndarray) -> np.ndarray:
        n = require_images(x, "Contrast")[0]
        a = self.rng.uniform(*self.factor, size=(n, 1, 1, 1))
        m = x.mean(axis=(1, 2, 3), keepdims=True, dtype=np.float64)
        return _with_dtype_of(m + a * (x - m), x)


class Tint(RandomTransform):
    """Random colour shift: ``y[n, c] = x[n, c] + d[n, c]`` with
    ``d[n, c] ~ U[lo, hi]`` per image and channel.

    ``shift`` is the range ``(lo, hi)``, or ``s`` for ``(-s, s)``.
    """

    @classmethod
    def example_input(cls, rng):
        """A small NCHW image batch, for ``gg.check.transform``."""
        return _images(rng)

    name = "tint"

    def __init__(self, shift: float | tuple[float, float] = 0.1, seed: SeedLike = None):
        super().__init__(seed)
        self.shift = _range(shift, 0.0, "Tint", "shift")

    def apply(self, x: np.ndarray) -> np.ndarray:
        n, c, _, _ = require_images(x, "Tint")
        d = self.rng.uniform(*self.shift, size=(n, c, 1, 1))
        return _with_dtype_of(x + d, x)


class Compose(Transform):
    """``T_k(...T_2(T_1(x)))``: apply ``transforms`` in order.

    ``fit(x)`` fits each transform in sequence on the progressively transformed
    data: ``T_1.fit(x)``, then ``T_2.fit(T_1(x))``, and so on, with random
    transforms in evaluation mode while fitting (so statistics are learnt on
    the un-augmented data). With a batch transform among the members
    (``mixup``, ``cutmix``) the chain is called as ``T(x, y)`` and returns
    ``(x', y')``. ``train()``/``eval()`` reach every member; the state
    dict is flat with keys ``"<position>.<key>"``.
    """

    @classmethod
    def example(cls, seed=None):
        """Standardize then RandomFlip(seed=seed), for ``gg.check.transform``."""
        return cls([Standardize(), RandomFlip(seed=seed)])

    @classmethod
    def example_input(cls, rng):
        """A small NCHW image batch, for ``gg.check.transform``."""
        return _images(rng)

    name = "compose"

    def __init__(self, transforms: Sequence[Callable[[np.ndarray], np.ndarray]]):
        super().__init__()
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(
                    f"Compose: item {i} is a {type(t).__name__}, not a callable transform"
                )

    def _members(self) -> list[tuple[int, Transform]]:
        return [(i, t) for i, t in enumerate(self.transforms) if isinstance(t, Transform)]

    def fit(self, x) -> Compose:
        """Fit each transform on the output of the ones before it."""
        x = np.asarray(x)
        for t in self.transforms:
            if getattr(t, "takes_labels", False):
                continue  # a batch transform learns nothing, and is the identity in eval
            if hasattr(t, "fit"):
                t.fit(x)
            if isinstance(t, Transform):
                was = t.training
                x = t.eval()(x)
                t.train(was)
            else:
                x = np.asarray(t(x))
        return self

    @property
    def takes_labels(self) -> bool:
        """True when a member is a batch transform: the chain is then called as ``T(x, y)``."""
        return any(getattr(t, "takes_labels", False) for t in self.transforms)

    def __call__(self, x, y=None):
        """``T(x)``, or ``T(x, y) -> (x', y')`` with the labels passed through (and mixed by
        the batch transforms among the members)."""
        x = np.asarray(x)
        for t in self.transforms:
            if getattr(t, "takes_labels", False):
                if y is None:
                    raise TypeError(f"Compose: {type(t).__name__} mixes labels; call the chain "
                                    "as t(x, y) (a DataLoader given it as transform= does)")
                x, y = t(x, y)
            else:
                x = np.asarray(t(x))
        return x if y is None else (x, y)

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self(x)

    def train(self, mode: bool = True) -> Compose:
        super().train(mode)
        for _, t in self._members():
            t.train(mode)
        return self

    @property
    def fitted(self) -> bool:
        return all(t.fitted for _, t in self._members())

    def state_dict(self) -> dict[str, Any]:
        return {f"{i}.{k}": v for i, t in self._members() for k, v in t.state_dict().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        parts: dict[int, dict[str, Any]] = {i: {} for i, _ in self._members()}
        for key, value in state.items():
            head, _, rest = key.partition(".")
            if not head.isdigit() or int(head) not in parts:
                raise KeyError(
                    f"Compose.load_state_dict: unexpected key {key!r}; keys are '<position>.<key>' "
                    f"for the transforms at positions {sorted(parts)}"
                )
            parts[int(head)][rest] = value
        for i, t in self._members():
            t.load_state_dict(parts[i])

    def rng_state(self) -> list[Any]:
        return [t.rng_state() if isinstance(t, Transform) else None for t in self.transforms]

    def set_rng_state(self, state: list[Any]) -> None:
        if len(state) != len(self.transforms):
            raise ValueError(
                f"Compose.set_rng_state: got {len(state)} states for {len(self.transforms)} "
                "transforms"
            )
        for t, s in zip(self.transforms, state, strict=True):
            if isinstance(t, Transform):
                t.set_rng_state(s)

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


@gg.hookimpl
def graphgrad_register_transforms():
    """The built-in transforms."""
    return [Standardize, PCAWhiten, RandomFlip, RandomCrop, Contrast, Tint, Compose]
