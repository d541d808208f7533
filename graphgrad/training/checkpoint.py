"""Trainer checkpoints: everything a run needs to continue exactly, in one .npz file.

A checkpoint holds the model's ``state_dict``, the optimizer's and schedule's
state, the epoch and step counters, the history, the data loaders' generator
states (their samplers' and random transforms' included), the fitted
statistics of the training loader's transform (under ``transform.``), the
early-stopping progress, graphgrad's global random state and the states of
any ``numpy.random.Generator`` a module holds (e.g. ``Dropout(rng=...)``).

It is written with ``graphgrad.serialize.save_npz_atomic`` (temporary file,
fsync, rename: a crash never leaves a half-written file, and a failed save
leaves the previous checkpoint as it was) and read with ``load_npz`` (no
pickle, so a checkpoint cannot run code). Nested states become JSON metadata
in which every ndarray is replaced by ``{"__ndarray__": name}``, a reference to
an array entry of the file.

Loading validates everything first (format, model names and shapes, optimizer
and schedule classes, parameter-group sizes) and changes nothing unless all of
it matches; every problem is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from graphgrad import random as gg_random
from graphgrad.random import module_generators
from graphgrad.serialize import SerializationError, load_npz, save_npz_atomic
from graphgrad.training.history import History

FORMAT = "graphgrad-checkpoint"
VERSION = 1
_REF = "__ndarray__"
#: The metadata every checkpoint of this version has (checked before loading anything).
_REQUIRED = ("epoch", "step", "model", "optimizer", "schedule", "history", "loaders",
             "transform", "early_stopping", "rng", "module_rngs")


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read, or does not fit the objects it is loaded into."""


# -- nested state <-> JSON + arrays ----------------------------------------------


def encode(value: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON-able data; each ndarray goes to ``arrays`` under a fresh
    name starting with ``prefix`` and is replaced by ``{"__ndarray__": name}``.

    Dicts (keys become strings), lists, tuples (become lists), NumPy scalars
    (become Python numbers), numbers, strings, bools and None are allowed.
    """
    if isinstance(value, np.ndarray):
        name = f"{prefix}.{len(arrays)}"
        arrays[name] = value
        return {_REF: name}
    if isinstance(value, dict):
        return {str(k): encode(v, prefix, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, prefix, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise CheckpointError(
        f"checkpoint: cannot store a {type(value).__name__} found in the {prefix!r} state; "
        "states must hold only numbers, strings, lists, dicts and ndarrays"
    )


def decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Invert :func:`encode` (array references become the stored arrays)."""
    if isinstance(value, dict):
        if set(value) == {_REF}:
            return arrays[value[_REF]]
        return {k: decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    return value


# -- states that live in the loaders and the early stopping -------------------------
# A checkpoint is loaded before ``fit`` receives the loaders and the EarlyStopping;
# their states wait in ``trainer.pending`` until then (and are saved again from
# there if the trainer is checkpointed before its next fit).


def loader_states(trainer) -> dict[str, Any]:
    """The generator states of the trainer's training/validation loaders (or pending ones)."""
    states = dict(trainer.pending.get("loaders") or {})
    for key, loader in (("train", trainer.train_loader), ("val", trainer.val_loader)):
        if loader is not None and hasattr(loader, "state_dict"):
            states[key] = loader.state_dict()
    return states


def transform_state(trainer) -> dict[str, Any] | None:
    """Fitted statistics of the training loader's transform (or pending ones)."""
    transform = getattr(trainer.train_loader, "transform", None)
    if transform is not None and hasattr(transform, "state_dict"):
        return transform.state_dict() if getattr(transform, "fitted", True) else None
    return trainer.pending.get("transform")


def early_stopping_state(trainer) -> dict[str, Any] | None:
    """The early-stopping progress of the current (or pending) run."""
    if trainer.early_stopping is not None:
        return trainer.early_stopping.state_dict()
    return trainer.pending.get("early_stopping")


def apply_pending(trainer) -> None:
    """Give the loaders, transform and EarlyStopping now attached to ``trainer`` the states
    a loaded checkpoint kept for them."""
    pending, trainer.pending = trainer.pending, {}
    if not pending:
        return
    loaders = pending.get("loaders") or {}
    for key, loader in (("train", trainer.train_loader), ("val", trainer.val_loader)):
        if key in loaders and loader is not None and hasattr(loader, "load_state_dict"):
            loader.load_state_dict(loaders[key])
    transform = getattr(trainer.train_loader, "transform", None)
    if pending.get("transform") is not None and hasattr(transform, "load_state_dict"):
        transform.load_state_dict(pending["transform"])
    if pending.get("early_stopping") is not None and trainer.early_stopping is not None:
        trainer.early_stopping.load_state_dict(pending["early_stopping"])


# -- writing ---------------------------------------------------------------------


def save(path, trainer) -> Path:
    """Write ``trainer``'s complete state to ``path`` atomically; returns the path.

    Any failure raises CheckpointError and leaves a previous file at ``path`` as it was.
    A data-parallel trainer (``trainer.distributed`` in a world of more than one)
    writes on rank 0 only — every rank holds the same state — and all ranks wait
    at a barrier until the file is in place, so any of them may resume from it.
    Every rank must call it (the running sums of a mid-epoch checkpoint's metrics
    are summed over the ranks first, so the file is the same whatever the number
    of ranks that wrote it, and any number may resume from it).
    """
    path = Path(path)
    if getattr(trainer, "distributed", False):
        from graphgrad import distributed as dist
        if dist.world_size() > 1:
            in_epoch = getattr(trainer, "in_epoch", None)
            if in_epoch is not None:
                in_epoch = dict(in_epoch, totals=dist.sum_over_ranks(in_epoch["totals"]),
                                counts=dist.sum_over_ranks(in_epoch["counts"]))
            if dist.is_main():
                _save(path, trainer, in_epoch)
            dist.barrier()
            return path
    return _save(path, trainer, getattr(trainer, "in_epoch", None))


def _save(path: Path, trainer, in_epoch) -> Path:
    try:
        arrays, meta = _collect(trainer, in_epoch)
        return save_npz_atomic(path, arrays, meta)
    except Exception as exc:
        raise CheckpointError(
            f"Trainer.save_checkpoint({str(path)!r}) failed ({type(exc).__name__}: {exc}); any "
            "previous file at that path is unchanged"
        ) from exc


def _collect(trainer, in_epoch) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays: dict[str, np.ndarray] = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    transform = transform_state(trainer)
    for key, value in (transform or {}).items():
        arrays[f"transform.{key}"] = np.asarray(value)
    schedule = trainer.schedule
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": trainer.epoch,
        "step": trainer.step,
        "model": {"class": type(trainer.model).__name__},
        "optimizer": {
            "class": type(trainer.optimizer).__name__,
            "state": encode(trainer.optimizer.state_dict(), "optimizer", arrays),
        },
        "schedule": None if schedule is None else {
            "class": type(schedule).__name__,
            "state": encode(schedule.state_dict(), "schedule", arrays),
        },
        "history": encode(trainer.history.to_dict(), "history", arrays),
        "loaders": encode(loader_states(trainer), "loaders", arrays),
        "transform": transform is not None,
        "early_stopping": encode(early_stopping_state(trainer), "early_stopping", arrays),
        "rng": encode(gg_random.get_rng_state(), "rng", arrays),
        "module_rngs": {k: g.bit_generator.state
                        for k, g in module_generators(trainer.model).items()},
        "in_epoch": in_epoch if in_epoch is not None else trainer.pending.get("in_epoch"),
    }
    return arrays, meta


# -- reading ---------------------------------------------------------------------


def read(path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load and sanity-check a checkpoint file: ``(arrays, meta)``. Changes nothing."""
    path = Path(path)
    try:
        arrays, meta = load_npz(path)
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {str(path)!r}; check the path") from exc
    except SerializationError as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated and cannot be loaded ({exc}); "
            "the file was left as it is: resume from an earlier checkpoint or start afresh"
        ) from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is not a graphgrad trainer checkpoint (format {meta.get('format')!r});"
            " a model saved with Module.save is loaded with model.load(path)"
        )
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {meta.get('version')!r}; this "
            f"graphgrad reads version {VERSION}"
        )
    return arrays, meta


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries of ``arrays`` whose name starts with ``prefix``, with it removed."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _model_problems(model, arrays: dict[str, np.ndarray]) -> list[str]:
    saved = _prefixed(arrays, "model.")
    mine = model.state_dict()
    problems = []
    missing = [k for k in mine if k not in saved]
    unexpected = [k for k in saved if k not in mine]
    if missing:
        problems.append(f"the model has {missing} but the checkpoint does not")
    if unexpected:
        problems.append(f"the checkpoint has {unexpected} but the model does not")
    shapes = [f"{k}: checkpoint {saved[k].shape} vs model {v.shape}"
              for k, v in mine.items() if k in saved and saved[k].shape != v.shape]
    if shapes:
        problems.append("shape mismatch: " + "; ".join(shapes))
    return problems


def _component_problems(meta, trainer) -> list[str]:
    problems = []
    opt = meta["optimizer"]
    if opt["class"] != type(trainer.optimizer).__name__:
        problems.append(f"the checkpoint's optimizer is {opt['class']}, the trainer's is "
                        f"{type(trainer.optimizer).__name__}")
    else:
        saved_groups = [len(g["params"]) for g in opt["state"]["param_groups"]]
        groups = [len(g["params"]) for g in trainer.optimizer.param_groups]
        if saved_groups != groups:
            problems.append(f"the checkpoint's optimizer has param groups of sizes "
                            f"{saved_groups}, the trainer's {groups}")
    saved_schedule = meta["schedule"]
    schedule = trainer.schedule
    if (saved_schedule is None) != (schedule is None):
        problems.append("the checkpoint " + ("has no schedule but the trainer has one"
                                             if saved_schedule is None else
                                             f"has a {saved_schedule['class']} schedule but the "
                                             "trainer has none"))
    elif schedule is not None and saved_schedule["class"] != type(schedule).__name__:
        problems.append(f"the checkpoint's schedule is {saved_schedule['class']}, the "
                        f"trainer's is {type(schedule).__name__}")
    rngs = sorted(module_generators(trainer.model))
    if sorted(meta.get("module_rngs", {})) != rngs:
        problems.append(f"the checkpoint has module generators {sorted(meta['module_rngs'])}, "
                        f"the model {rngs}")
    return problems


def _check_same_file_on_all_ranks(path) -> None:
    """A data-parallel resume: every rank reads the checkpoint itself, so all of them
    must see the same file (a stale copy on one host would make the ranks diverge)."""
    import zlib

    from graphgrad import distributed as dist
    if dist.world_size() < 2:
        return
    try:
        crc = zlib.crc32(Path(path).read_bytes())
    except OSError:
        crc = -1
    crcs = dist.allgather_int(crc)
    if len(set(crcs)) > 1:
        seen = ", ".join(f"rank {r}: " + ("missing" if c == -1 else f"crc32 {c:08x}")
                         for r, c in enumerate(crcs))
        raise CheckpointError(
            f"checkpoint {str(path)!r} differs between the ranks ({seen}); every rank loads "
            "the file rank 0 wrote, so put it on a filesystem all hosts share (or copy it to "
            "every host) before resuming (nothing was loaded)"
        )


def restore(path, trainer) -> None:
    """Load the checkpoint at ``path`` into ``trainer`` (model, optimizer, schedule,
    counters, history, random states). Loader, transform and early-stopping states
    are kept on the trainer and applied to the objects passed to the next ``fit``.

    Raises CheckpointError, changing nothing, if the file is unreadable or does
    not match the trainer's model, optimizer or schedule.
    """
    if getattr(trainer, "distributed", False):
        _check_same_file_on_all_ranks(path)
    arrays, meta = read(path)
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is incomplete: its metadata lacks {missing}; it was "
            "not written by Trainer.save_checkpoint of this version (nothing was loaded)"
        )
    problems = _model_problems(trainer.model, arrays) + _component_problems(meta, trainer)
    if problems:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not match this trainer: " + "; ".join(problems)
            + ". Build the model, optimizer and schedule exactly as for the saved run "
            "(nothing was loaded)"
        )
    # Decode and check everything before the first change: a bad record must
    # leave the trainer exactly as it was.
    try:
        epoch, step = int(meta["epoch"]), int(meta["step"])
        history = History.from_dict(decode(meta["history"], arrays))
        rng_state = decode(meta["rng"], arrays)
        loaders = decode(meta["loaders"], arrays) or {}
        early_stopping = decode(meta["early_stopping"], arrays)
        in_epoch = meta.get("in_epoch")  # absent in checkpoints taken between epochs
        if in_epoch is not None:
            in_epoch = {"batch": int(in_epoch["batch"]), "totals": dict(in_epoch["totals"]),
                        "counts": dict(in_epoch["counts"]), "lr": float(in_epoch["lr"])}
            if "train" not in loaders or "epoch" not in loaders["train"]:
                raise ValueError("a mid-epoch checkpoint without its training loader's "
                                 "position in the epoch")
        generators = module_generators(trainer.model)
        for key, state in meta["module_rngs"].items():
            type(generators[key].bit_generator)().state = state  # validates on a scratch one
        type(gg_random.default_rng().bit_generator)().state = rng_state
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(
            f"checkpoint {str(path)!r}: its record is damaged ({type(exc).__name__}: {exc}); "
            "nothing was loaded"
        ) from exc
    optimizer, schedule = trainer.optimizer, trainer.schedule
    before = (optimizer.state_dict(), None if schedule is None else schedule.state_dict())
    try:
        optimizer.load_state_dict(decode(meta["optimizer"]["state"], arrays))
        if schedule is not None:
            schedule.load_state_dict(decode(meta["schedule"]["state"], arrays))
    except (KeyError, ValueError, TypeError) as exc:
        optimizer.load_state_dict(before[0])
        if schedule is not None:
            schedule.load_state_dict(before[1])
        raise CheckpointError(
            f"checkpoint {str(path)!r}: the optimizer or schedule state does not fit ({exc})"
        ) from exc
    trainer.model.load_state_dict(_prefixed(arrays, "model."))
    for key, state in meta["module_rngs"].items():
        generators[key].bit_generator.state = state
    gg_random.set_rng_state(rng_state)
    trainer.epoch, trainer.step = epoch, step
    trainer.history = history
    transform = _prefixed(arrays, "transform.") if meta["transform"] else None
    trainer.pending = {"loaders": loaders, "transform": transform,
                       "early_stopping": early_stopping, "in_epoch": in_epoch}
    trainer.in_epoch = None
    trainer.train_loader = trainer.val_loader = trainer.early_stopping = None
