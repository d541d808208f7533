"""Trainer: mini-batch training with validation, metrics, early stopping and checkpoints.

One optimisation step on a mini-batch (x, y), as the lecture writes it:

    L = loss(model(x), y);   ∇θ L by backward;   θ ← optimizer update(θ, ∇θ L)

then ``schedule.step()`` once per epoch (or per step with
``schedule_interval="step"``). After each epoch the model is evaluated on the
validation loader (evaluation mode, no graph), a row is added to the
``History``, callbacks and the plugin event hook ``graphgrad_epoch_end`` run,
and any of them may stop training.

``Trainer.resume(path, model, loss, optimizer, schedule)`` continues a run
from ``save_checkpoint(path)`` exactly as if it had never stopped (see
``graphgrad.training.checkpoint``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from graphgrad.autograd.grad_mode import no_grad
from graphgrad.autograd.tensor import Tensor
from graphgrad.training import checkpoint
from graphgrad.training.callbacks import (
    Callback,
    EarlyStopping,
    EpochLogger,
    PluginEvents,
    SaveCheckpoint,
)
from graphgrad.training.history import History
from graphgrad.training.metrics import Averager, resolve_metrics
from graphgrad.training.modes import evaluating, restore_transform_mode, set_transform_mode

__all__ = ["Trainer", "History", "EarlyStopping", "Callback", "EpochLogger", "SaveCheckpoint",
           "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; training stopped before that update."""


def _split_batch(batch, who: str) -> tuple[Tensor, Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        got = f"{len(batch)} field(s)" if isinstance(batch, (tuple, list)) else type(batch).__name__
        raise ValueError(
            f"{who}: each batch must be a tuple (inputs, targets, ...), got {got}; build the "
            "dataset with both arrays, e.g. ArrayDataset(x, y)"
        )
    return batch[0], batch[1]


def _progress_bar(iterable, total, enabled: bool, desc: str):
    """A tqdm bar on stdout when enabled, tqdm is installed and stdout is a terminal."""
    if not enabled or not sys.stdout.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(iterable, total=total, desc=desc, leave=False, file=sys.stdout,
                dynamic_ncols=True)


def _length(loader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


class Trainer:
    """Train ``model`` with ``loss`` and ``optimizer`` (and an optional ``schedule``).

    ``metrics`` are names (``"accuracy"``) or callables ``metric(prediction,
    target) -> float`` (batch means; see ``graphgrad.training.metrics``). ``progress``
    shows a tqdm bar with the running loss (only when stdout is a terminal and
    tqdm, from the ``examples`` extra, is installed). ``schedule_interval`` is
    ``"epoch"`` (``schedule.step()`` after every epoch) or ``"step"`` (after
    every optimizer step).  ``compile=True`` runs each training step through
    ``gg.compile`` (recorded on the first two batches of a shape, then replayed
    as a plan of fused kernels; see docs/compile.md): the same updates, without
    the per-op Python cost.  Batches that feed a sampler per-sample losses run
    eagerly, and a non-finite loss is detected after its update was applied.

    State: ``epoch`` (epochs completed), ``step`` (optimizer steps taken),
    ``history``. ``fit(..., epochs=E)`` trains until ``epoch == E``, so a
    resumed trainer given the same ``epochs`` runs only the missing ones.
    """

    def __init__(self, model, loss, optimizer, schedule=None, metrics=("accuracy",),
                 progress: bool = True, schedule_interval: str = "epoch",
                 compile: bool = False,  # noqa: A002 - the documented option name
                 distributed: bool | None = None):
        if schedule_interval not in ("epoch", "step"):
            raise ValueError(
                f"Trainer: schedule_interval must be 'epoch' or 'step', got {schedule_interval!r}"
            )
        if not callable(model):
            raise TypeError(f"Trainer: model must be a callable Module, got {type(model).__name__}")
        if not callable(loss):
            raise TypeError(
                f"Trainer: loss must be callable as loss(prediction, target), got "
                f"{type(loss).__name__}; e.g. gg.losses.CrossEntropy()"
            )
        if schedule is not None and getattr(schedule, "optimizer", optimizer) is not optimizer:
            raise ValueError("Trainer: the schedule wraps a different optimizer than the one "
                             "given; build the schedule on this trainer's optimizer")
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.metrics = resolve_metrics(metrics)
        self.progress = bool(progress)
        self.schedule_interval = schedule_interval
        self.compile = bool(compile)
        # data-parallel over MPI: None means "when started by mpiexec with more than one rank"
        from graphgrad import distributed as _dist
        self.distributed = (_dist.world_size() > 1) if distributed is None else bool(distributed)
        # the gradient all-reduce (its flat buffers are kept between steps; under
        # compile=True it is an 'allreduce' entry of the plan)
        self._allreduce = _dist.GradientAllReduce() if self.distributed else None
        self._global_batch = None  # the size of the global batch being trained on
        if self.distributed:
            self.progress = self.progress and _dist.is_main()
        self._compiled = None  # the gg.compile step, built on first use
        self.history = History()
        self.epoch = 0
        self.step = 0
        self.target_epochs: int | None = None
        self.train_loader = None
        self.val_loader = None
        self.early_stopping: EarlyStopping | None = None
        self.pending: dict[str, Any] = {}  # checkpoint states awaiting the next fit
        # Progress through the current epoch ({"batch", "totals", "counts", "lr"}),
        # None between epochs: a checkpoint taken mid-epoch keeps it, so the
        # resumed epoch ends with the same history row as an uninterrupted one.
        self.in_epoch: dict[str, Any] | None = None

    # -- training ----------------------------------------------------------------
    def fit(self, train_loader, val_loader=None, epochs: int = 1,
            callbacks: Iterable = (), early_stopping: EarlyStopping | None = None) -> History:
        """Train until ``epochs`` epochs are completed in total; return the History.

        ``callbacks`` are objects with ``on_train_start`` / ``on_epoch_end`` /
        ``on_train_end`` methods (see ``graphgrad.training.callbacks``); ``early_stopping``
        an ``EarlyStopping``, which starts afresh unless its progress comes from a
        loaded checkpoint (``trainer.pending`` holds such states until this call).
        Raises ``NonFiniteLossError`` naming the epoch and step if the loss becomes
        NaN or infinite.
        """
        if self.distributed:
            from graphgrad import distributed as _dist
            try:
                return self._fit(train_loader, val_loader, epochs, callbacks, early_stopping,
                                 _dist)
            except Exception as exc:  # one failing rank must not leave the others hanging
                if _dist.world_size() > 1:
                    _dist.abort_on_error(exc)
                raise
        return self._fit(train_loader, val_loader, epochs, callbacks, early_stopping, None)

    def _fit(self, train_loader, val_loader, epochs, callbacks, early_stopping, dist):
        self._check_fit_args(epochs, early_stopping, val_loader)
        if dist is not None:
            if isinstance(getattr(train_loader, "sampler", None), dist.DistributedSampler):
                raise ValueError(
                    "Trainer(distributed=True): the training loader's sampler is a "
                    "DistributedSampler, but the Trainer shards every global batch itself "
                    "(each rank would get a slice of its own shard); give it the ordinary "
                    "DataLoader with a seed. DistributedSampler is for hand-written loops")
            dist.broadcast_parameters(self.model.parameters())
            dist.broadcast_optimizer_state(self.optimizer)
        self.train_loader, self.val_loader = train_loader, val_loader
        self.early_stopping, self.target_epochs = early_stopping, int(epochs)
        resumed_stopper = bool(self.pending.get("early_stopping"))
        # a mid-epoch checkpoint's progress, else a fresh epoch (not the leftovers of
        # an epoch that an exception interrupted)
        self.in_epoch = self.pending.get("in_epoch")
        checkpoint.apply_pending(self)
        if early_stopping is not None and not resumed_stopper:
            early_stopping.reset()  # a fresh run; a resumed one keeps its progress
        # Plugins' event hooks run as the last callback, after the user's.
        callbacks = ([early_stopping] if early_stopping is not None else []) + [
            *callbacks, PluginEvents()]
        self.history.stop_reason = None
        for cb in callbacks:
            if hasattr(cb, "on_train_start"):
                cb.on_train_start(self)
        # a run resumed after early stopping had stopped it does not train further
        reason = ("early_stopping" if early_stopping is not None
                  and early_stopping.stopped_epoch is not None else None)
        while self.epoch < epochs and reason is None:
            started = time.perf_counter()
            lr = (float(self.optimizer.param_groups[0]["lr"]) if self.in_epoch is None
                  else self.in_epoch["lr"])
            row: dict[str, Any] = {"epoch": self.epoch,
                                   **self._train_epoch(train_loader, callbacks, lr)}
            if val_loader is not None:
                row.update(self.evaluate(val_loader, prefix="val_"))
            row["lr"], row["time"] = lr, time.perf_counter() - started
            self.history.append(row)
            epoch, self.epoch = self.epoch, self.epoch + 1
            reason = self._epoch_end(callbacks, epoch, row)
        self.history.stop_reason = reason
        if early_stopping is not None:
            self.history.best_epoch = early_stopping.best_epoch
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(self, self.history)
        return self.history

    def _check_fit_args(self, epochs, early_stopping, val_loader) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be a positive int, got {epochs!r}")
        if epochs <= self.epoch:
            raise ValueError(
                f"Trainer.fit: epochs={epochs} is the total to reach, and this trainer has "
                f"already completed {self.epoch}; pass a larger total, e.g. "
                f"epochs={self.epoch + int(epochs)}"
            )
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                raise TypeError(f"Trainer.fit: early_stopping must be an EarlyStopping, got "
                                f"{type(early_stopping).__name__}")
            if early_stopping.monitor.startswith("val_") and val_loader is None:
                raise ValueError(
                    f"Trainer.fit: EarlyStopping monitors {early_stopping.monitor!r}, which "
                    "needs a val_loader; pass val_loader=... or monitor a training key "
                    "such as 'loss'"
                )

    def _epoch_end(self, callbacks, epoch: int, row: dict) -> str | None:
        """Run the callbacks; return why training stops, if it does."""
        reason = None
        for cb in callbacks:
            if hasattr(cb, "on_epoch_end") and cb.on_epoch_end(self, epoch, dict(row)):
                if reason is None:
                    reason = ("early_stopping" if cb is self.early_stopping
                              else "plugin" if isinstance(cb, PluginEvents) else "callback")
        return reason

    def _train_epoch(self, loader, callbacks=(), lr: float = 0.0) -> dict[str, float]:
        self.model.train()
        was = set_transform_mode(loader, True)
        sampler = getattr(loader, "sampler", None)
        feed_sampler = hasattr(sampler, "update")
        averager = Averager()
        first = 0
        if self.in_epoch is not None:  # resumed from a mid-epoch checkpoint
            first = int(self.in_epoch["batch"])
            # its sums are over all ranks (checkpoint.save): one rank carries them on
            if not self.distributed or self._main():
                averager.totals = dict(self.in_epoch["totals"])
                averager.counts = {k: int(v) for k, v in self.in_epoch["counts"].items()}
        batch_end = [cb for cb in callbacks if hasattr(cb, "on_batch_end")]
        batches = iter(loader)
        bar = _progress_bar(batches, _length(loader), self.progress,
                            f"epoch {self.epoch + 1}/{self.target_epochs}")
        try:
            for i, batch in enumerate(bar if bar is not None else batches, start=first):
                if self.distributed and isinstance(batch, (tuple, list)):
                    batch = self._shard(tuple(batch))
                x, y = _split_batch(batch, "Trainer.fit")
                weights = (sampler.importance_weights(loader.batch_indices)
                           if feed_sampler and hasattr(sampler, "importance_weights") else None)
                value, out, per_sample = self._train_step(x, y, i, feed_sampler, weights)
                if per_sample is not None:
                    sampler.update(loader.batch_indices, per_sample)
                n = len(y)
                averager.add("loss", value, n)
                for name, metric in self.metrics:
                    averager.add(name, metric(out, y.data), n)
                if bar is not None:
                    bar.set_postfix(loss=f"{value:.4f}")
                self.in_epoch = {"batch": i + 1, "totals": dict(averager.totals),
                                 "counts": dict(averager.counts), "lr": lr}
                for cb in batch_end:
                    cb.on_batch_end(self, i)
        finally:
            if bar is not None:
                bar.close()
            restore_transform_mode(loader, was)
        self.in_epoch = None
        if not averager.counts:
            raise ValueError("Trainer.fit: the training loader yielded no batches; check the "
                             "dataset size, batch_size and drop_last")
        if self.schedule is not None and self.schedule_interval == "epoch":
            self.schedule.step()
        if self.distributed:  # sample-weighted means over every rank's samples
            from graphgrad.distributed import sum_over_ranks
            averager.totals = sum_over_ranks(averager.totals)
            averager.counts = sum_over_ranks(averager.counts)
        return averager.means()

    def _main(self) -> bool:
        from graphgrad.distributed import is_main
        return is_main()

    def _shard(self, batch: tuple) -> tuple:
        """This rank's slice of a global batch; sets the all-reduce weight to its share."""
        from graphgrad.distributed import rank, shard_batch, world_size
        total, world = len(batch[0]), world_size()
        if total < world:
            raise ValueError(
                f"Trainer.fit (distributed): a global batch of {total} sample(s) cannot be "
                f"split over {world} ranks (each needs at least one); use batch_size >= "
                f"{world} and drop_last=True if the last batch of an epoch is smaller"
            )
        shard = shard_batch(batch)
        self._global_batch = total
        # g = sum_r w_r g_r: for a mean loss w_r = n_r / B makes g the gradient of the
        # global batch's mean loss exactly (also when B % W != 0); a summed loss adds up
        summed = getattr(self.loss, "reduction", "mean") == "sum"
        self._allreduce.weight = 1.0 if summed else len(shard[0]) / total
        return shard

    def _train_step(self, x, y, batch: int, per_sample: bool, weights=None):
        """One update; returns (loss value, output ndarray, per-sample losses or None).

        ``weights`` (one per sample, from a sampler's ``importance_weights``)
        multiply the per-sample losses that the gradient is taken of, so a
        non-uniform sampler still gives an unbiased gradient; the loss value
        reported is the plain (unweighted) one.
        """
        if self.compile and not per_sample:
            return self._compiled_train_step(x, y, batch)
        self.optimizer.zero_grad()
        out = self.model(x)
        reported = None
        if per_sample:
            values = self._per_sample_losses(out, y)
            reduce = self.loss.reduce if hasattr(self.loss, "reduce") else Tensor.mean
            loss = reduce(values)
            if weights is not None:
                reported = loss
                w = np.asarray(weights, dtype=values.dtype).reshape(
                    (len(values.data),) + (1,) * (values.ndim - 1))
                loss = reduce(values * Tensor(w))
            losses = values.data.reshape(len(values.data), -1).mean(axis=1)
        else:
            loss, losses = self.loss(out, y), None
        if not isinstance(loss, Tensor) or loss.data.size != 1:
            shape = getattr(loss, "shape", None)
            raise ValueError(
                f"Trainer: the loss must return one number (a Tensor with one element), got "
                f"{type(loss).__name__} of shape {shape}; use reduction='mean' or 'sum'"
            )
        value = float((loss if reported is None else reported).data.reshape(()))
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"Trainer.fit: the training loss is {value} at epoch {self.epoch} (counted from "
                f"0), batch {batch} of that epoch, global step {self.step}; training stopped "
                "before this update. Lower the learning rate, check the inputs for NaN/inf, or "
                "run gg.check.babysit / gg.check.lr_find"
            )
        loss.backward()
        if self.distributed:
            self._allreduce(self.model.parameters())
        self.optimizer.step()
        self.step += 1
        if self.schedule is not None and self.schedule_interval == "step":
            self.schedule.step()
        return value, out.data, losses

    def _update(self, x, y, global_batch=None):
        """The training step gg.compile records: zero_grad, forward, loss, backward, updates.

        ``global_batch`` (data-parallel: the size of the batch this rank's ``x`` is a
        slice of) is not used here; as an argument it is part of the plan's key, so
        every rank records and replays at the same steps — the ranks' MPI calls
        stay paired even when their slices differ in size (``B % W != 0``)."""
        self.optimizer.zero_grad()
        out = self.model(x)
        loss = self.loss(out, y)
        loss.backward()
        if self.distributed:  # recorded as the plan's 'allreduce' entry
            self._allreduce(self.model.parameters())
        self.optimizer.step()
        if self.schedule is not None and self.schedule_interval == "step":
            self.schedule.step()
        return loss, out

    def _compiled_train_step(self, x, y, batch: int):
        if self._compiled is None:
            from graphgrad.compile import compile_step

            # the first replays of each plan are checked against eager (cost: each of
            # those steps runs twice, see docs/compile.md)
            self._compiled = compile_step(self._update, validate_first=3)
        loss, out = (self._compiled(x, y, self._global_batch) if self.distributed
                     else self._compiled(x, y))
        if loss.data.size != 1:
            raise ValueError(
                f"Trainer: the loss must return one number (a Tensor with one element), got "
                f"shape {loss.shape}; use reduction='mean' or 'sum'"
            )
        value = float(loss.data.reshape(()))
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"Trainer.fit: the training loss is {value} at epoch {self.epoch} (counted from "
                f"0), batch {batch} of that epoch, global step {self.step}; training stopped "
                "(with compile=True the update of this step was already applied). Lower the "
                "learning rate, check the inputs for NaN/inf, or run gg.check.babysit / "
                "gg.check.lr_find"
            )
        self.step += 1
        return value, out.data, None

    def _per_sample_losses(self, out, y) -> Tensor:
        if not hasattr(self.loss, "reduction"):
            raise TypeError(
                f"Trainer: the loader's sampler needs per-sample losses, but the loss "
                f"{type(self.loss).__name__} has no `reduction` to set to 'none'; use a loss "
                "class such as gg.losses.CrossEntropy"
            )
        saved = self.loss.reduction
        self.loss.reduction = "none"
        try:
            return self.loss(out, y)
        finally:
            self.loss.reduction = saved

    # -- evaluation -----------------------------------------------------------------
    def evaluate(self, loader, prefix: str = "") -> dict[str, float]:
        """Mean loss and metrics over ``loader`` in evaluation mode, without a graph.

        Keys are ``"loss"`` and the metric names, each with ``prefix`` before it.
        The model's and the transform's modes are restored afterwards.
        """
        averager = Averager()
        with evaluating(self.model, loader), no_grad():
            for batch in loader:
                x, y = _split_batch(batch, "Trainer.evaluate")
                out = self.model(x)
                n = len(y)
                averager.add("loss", float(self.loss(out, y).data.mean()), n)
                for name, metric in self.metrics:
                    averager.add(name, metric(out.data, y.data), n)
        if not averager.counts:
            raise ValueError("Trainer.evaluate: the loader yielded no batches")
        return averager.means(prefix)

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """The model's outputs for the inputs ``x`` (ndarray or Tensor, batched along axis
        0, or a DataLoader whose first field is used), in evaluation mode, as an ndarray."""
        loader = None
        if isinstance(x, (np.ndarray, Tensor)) or not hasattr(x, "__iter__"):
            arr = x.data if isinstance(x, Tensor) else np.asarray(x)
            batches = (arr[i:i + batch_size] for i in range(0, len(arr), batch_size))
        else:
            loader = x
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in x)
        outs = []
        with evaluating(self.model, loader), no_grad():
            for xb in batches:
                xb = xb if isinstance(xb, Tensor) else Tensor(xb)
                outs.append(self.model(xb).data)
        if not outs:
            raise ValueError("Trainer.predict: no inputs were given")
        return np.concatenate(outs, axis=0)

    # -- checkpoints ------------------------------------------------------------------
    def save_checkpoint(self, path):
        """Write everything needed to continue exactly to ``path`` (atomic .npz, no pickle).

        Call it between epochs, or between two batches of an epoch (e.g. with
        ``SaveCheckpoint(path, every_batches=k)`` or from a callback's
        ``on_batch_end``): a mid-epoch checkpoint finishes the epoch on resume
        exactly as the uninterrupted run would have; returns the path. See
        ``graphgrad.training.checkpoint``.
        """
        return checkpoint.save(path, self)

    def load_checkpoint(self, path) -> Trainer:
        """Load ``path`` into this trainer's model, optimizer and schedule; the loaders'
        and early stopping's states are applied at the next ``fit``. Returns self.

        A corrupt or mismatching checkpoint raises ``CheckpointError`` and
        changes nothing (the file is left as it is)."""
        checkpoint.restore(path, self)
        return self

    @classmethod
    def resume(cls, path, model, loss, optimizer, schedule=None, **kwargs) -> Trainer:
        """A new Trainer (``kwargs`` as for ``Trainer``) continuing the run saved at ``path``.

        Build ``model``, ``optimizer`` and ``schedule`` as for the original run (their
        state is overwritten from the checkpoint), then call ``fit`` with loaders
        built as before and the same total ``epochs``::

            trainer = Trainer.resume("ckpt.npz", model, loss, opt, sched)
            trainer.fit(train_loader, val_loader, epochs=20)
        """
        return cls(model, loss, optimizer, schedule, **kwargs).load_checkpoint(path)

    def __repr__(self) -> str:
        return (f"Trainer(model={type(self.model).__name__}, loss={type(self.loss).__name__}, "
                f"optimizer={type(self.optimizer).__name__}, epoch={self.epoch}, "
                f"step={self.step})")
