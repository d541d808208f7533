"""Evaluation mode for a block: the model's modules and the loader's transform.

Used by ``Trainer.evaluate``/``predict`` and by the config runs' graph rendering,
so the save-and-restore of modes is written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def set_transform_mode(loader, training: bool) -> bool | None:
    """Switch the loader's transform to training/evaluation mode; return its old mode."""
    transform = getattr(loader, "transform", None)
    if transform is None or not hasattr(transform, "train"):
        return None
    was = bool(getattr(transform, "training", True))
    transform.train(training)
    return was


def restore_transform_mode(loader, was: bool | None) -> None:
    """Undo :func:`set_transform_mode` (``was`` is what it returned)."""
    if was is not None:
        loader.transform.train(was)


@contextmanager
def evaluating(model, loader=None) -> Iterator[None]:
    """The model (every module) and the loader's transform in evaluation mode, for the
    ``with`` block; their modes are restored afterwards."""
    modes = [(m, m.training) for _, m in model.named_modules()] if hasattr(
        model, "named_modules") else []
    if hasattr(model, "eval"):
        model.eval()
    was = set_transform_mode(loader, False)
    try:
        yield
    finally:
        restore_transform_mode(loader, was)
        for module, training in modes:
            module.training = training
