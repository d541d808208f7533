"""Label-mixing batch augmentations, ``mixup`` and ``cutmix``, as torchvision's v2 ``MixUp``
and ``CutMix`` define them.

Both see the whole labelled batch ``(x, y)`` (they are ``BatchTransform``\\ s):
each sample is mixed with its neighbour in the batch rolled by one,
``x̃ = roll(x, 1, axis=0)``, with one ratio λ ~ Beta(α, α) per batch, and the
labels are mixed by the same ratio.  Integer labels (N,) become probabilities
(N, ``num_classes``) (one-hot before mixing); probability labels (N, C) are
mixed as they are.  ``CrossEntropy`` takes such probability targets, and
``accuracy`` scores them by their argmax.  In evaluation mode both are the
identity.
"""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg
from graphgrad.extend import BatchTransform, SeedLike, float_output, require_images


def _check_alpha(who: str, alpha) -> float:
    alpha = float(alpha)
    if not (alpha > 0.0 and math.isfinite(alpha)):
        raise ValueError(f"{who}: alpha must be a positive number (the Beta(α, α) "
                         f"parameter), got {alpha}")
    return alpha


def _probabilities(who: str, y: np.ndarray, num_classes, dtype) -> np.ndarray:
    """Labels as an (N, C) probability matrix in ``dtype`` (integer labels one-hot encoded)."""
    if y.ndim == 2 and y.dtype.kind == "f":
        if num_classes is not None and y.shape[1] != num_classes:
            raise ValueError(f"{who}: probability labels of shape {y.shape} but "
                             f"num_classes={num_classes}")
        return y.astype(dtype, copy=False)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"{who}: labels must be integer classes (N,) or probabilities (N, C), "
                         f"got shape {y.shape} dtype {y.dtype}")
    if num_classes is None:
        raise ValueError(f"{who}: integer labels need num_classes to be one-hot encoded; "
                         f"build it as {who}(num_classes=C)")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{who}: labels must lie in [0, {num_classes}), got values from "
                         f"{y.min()} to {y.max()}")
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1.0
    return out


def _example_batch(rng) -> tuple[np.ndarray, np.ndarray]:
    """Six 3×5×5 images and their integer labels in [0, 3), for ``gg.check.transform``."""
    return rng.normal(size=(6, 3, 5, 5)), rng.integers(0, 3, size=6)


class MixUp(BatchTransform):
    """mixup (Zhang et al., 2018): a convex mix of each sample with the next.

    With λ ~ Beta(α, α) drawn once per batch and x̃, ỹ the batch rolled by one:

        x' = λ·x + (1 − λ)·x̃,    y' = λ·y + (1 − λ)·ỹ

    ``x`` is any batch (N, ...); ``y`` integer labels (N,) with
    ``num_classes``, or probabilities (N, C).  The result is floating point
    (the input's float dtype, float64 for integers).
    """

    name = "mixup"
    config = ("alpha", "num_classes")

    @classmethod
    def example(cls, seed=None):
        """mixup over 3 classes, α = 1."""
        return cls(alpha=1.0, num_classes=3, seed=seed)

    @classmethod
    def example_input(cls, rng):
        """A small labelled NCHW batch, for ``gg.check.transform``."""
        return _example_batch(rng)

    def __init__(self, alpha: float = 1.0, num_classes: int | None = None,
                 seed: SeedLike = None):
        super().__init__(seed)
        self.alpha = _check_alpha("MixUp", alpha)
        self.num_classes = None if num_classes is None else int(num_classes)

    def apply(self, x, y):
        x = float_output(x)
        y = _probabilities("MixUp", y, self.num_classes, x.dtype)
        lam = float(self.rng.beta(self.alpha, self.alpha))
        mixed_x = (lam * x + (1.0 - lam) * np.roll(x, 1, axis=0)).astype(x.dtype, copy=False)
        mixed_y = (lam * y + (1.0 - lam) * np.roll(y, 1, axis=0)).astype(x.dtype, copy=False)
        return mixed_x, mixed_y


class CutMix(BatchTransform):
    """CutMix (Yun et al., 2019): a box of each image replaced by the next image's.

    With λ ~ Beta(α, α) once per batch, a centre (r_x, r_y) uniform over the
    W × H image and half-sides ⌊r·W⌋, ⌊r·H⌋ with r = ½·√(1 − λ), the box
    [y₁, y₂) × [x₁, x₂) (clipped to the image) of every image comes from the
    batch rolled by one, and the labels are mixed by the area kept:

        λ' = 1 − (x₂ − x₁)(y₂ − y₁) / (W·H),    y' = λ'·y + (1 − λ')·ỹ

    ``x`` is an NCHW image batch; labels as for ``mixup``.
    """

    name = "cutmix"
    config = ("alpha", "num_classes")

    @classmethod
    def example(cls, seed=None):
        """CutMix over 3 classes, α = 1."""
        return cls(alpha=1.0, num_classes=3, seed=seed)

    @classmethod
    def example_input(cls, rng):
        """A small labelled NCHW batch, for ``gg.check.transform``."""
        return _example_batch(rng)

    def __init__(self, alpha: float = 1.0, num_classes: int | None = None,
                 seed: SeedLike = None):
        super().__init__(seed)
        self.alpha = _check_alpha("CutMix", alpha)
        self.num_classes = None if num_classes is None else int(num_classes)

    def box(self, height: int, width: int) -> tuple[tuple[int, int, int, int], float]:
        """One draw of ``((x1, y1, x2, y2), λ')`` for an image of ``height × width``."""
        lam = float(self.rng.beta(self.alpha, self.alpha))
        r_x, r_y = int(self.rng.integers(width)), int(self.rng.integers(height))
        r = 0.5 * math.sqrt(1.0 - lam)
        half_w, half_h = int(r * width), int(r * height)
        x1, y1 = max(r_x - half_w, 0), max(r_y - half_h, 0)
        x2, y2 = min(r_x + half_w, width), min(r_y + half_h, height)
        return (x1, y1, x2, y2), 1.0 - (x2 - x1) * (y2 - y1) / (width * height)

    def apply(self, x, y):
        _, _, height, width = require_images(x, "CutMix")
        x = float_output(x)
        y = _probabilities("CutMix", y, self.num_classes, x.dtype)
        (x1, y1, x2, y2), lam = self.box(height, width)
        out = x.copy()
        out[..., y1:y2, x1:x2] = np.roll(x, 1, axis=0)[..., y1:y2, x1:x2]
        mixed_y = (lam * y + (1.0 - lam) * np.roll(y, 1, axis=0)).astype(x.dtype, copy=False)
        return out, mixed_y


@gg.hookimpl
def graphgrad_register_transforms():
    """The label-mixing batch transforms."""
    return [MixUp, CutMix]
