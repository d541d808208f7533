"""Run folders: train a configured ``Run`` and keep what it produced.

``train_run(run, out_dir)`` trains with per-epoch log lines and, when
``out_dir`` is given, writes there:

* ``checkpoint.npz`` — after every ``checkpoint_every`` epochs (atomic; resume
  with ``resume=True`` / ``graphgrad train --resume``);
* ``history.json`` — the per-epoch history; ``curves.png`` — its plot
  (needs matplotlib);
* ``graph.svg`` (+ ``graph.dot``) — the computational graph of the loss on a
  few training samples (needs the Graphviz program ``dot``);
* ``model.npz`` — the final weights (the best ones with early stopping),
  loadable with ``model.load(path)``;
* ``config.json`` — the config that was run; ``metrics.json`` — final metrics.

A missing optional tool costs only its file: the result's ``notes`` say why.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graphgrad.serialize import write_text_atomic
from graphgrad.training.callbacks import EpochLogger, SaveCheckpoint
from graphgrad.training.history import History


@dataclass
class RunResult:
    """What ``train_run`` returns: the trainer, its history, final test metrics (or None),
    the wall time, the files written and notes about files that could not be."""

    trainer: Any
    history: History
    test: dict[str, float] | None
    seconds: float
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render_graph(run, path: Path) -> Path:
    """Render the graph of the loss on 4 training samples (evaluation mode) to ``path``."""
    from graphgrad.autograd.grad_mode import enable_grad
    from graphgrad.autograd.tensor import Tensor
    from graphgrad.training.modes import evaluating
    from graphgrad.viz import render

    data = run.data
    x, y = data.x_train[:4], data.y_train[:4]
    with evaluating(run.model, data):  # data.transform is switched like a loader's
        if data.transform is not None:
            x = np.asarray(data.transform(x))
        with enable_grad():
            root = run.loss(run.model(Tensor(x)), Tensor(y))
        return render(root, path)


def train_run(run, out_dir=None, resume: bool = False, progress: bool | None = None,
              file=None, log_every: int = 1) -> RunResult:
    """Train ``run`` for its configured epochs (see the module docstring)."""
    trainer = run.trainer(progress)
    callbacks: list[Any] = [EpochLogger(file=file, every=log_every)]
    out = Path(out_dir) if out_dir is not None else None
    files: list[str] = []
    notes: list[str] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = out / "checkpoint.npz"
        if resume:
            if not checkpoint.is_file():
                raise FileNotFoundError(f"cannot resume: no checkpoint at {checkpoint}")
            trainer.load_checkpoint(checkpoint)
        callbacks.append(SaveCheckpoint(checkpoint, every=run.checkpoint_every))
    if trainer.epoch >= run.epochs:  # the outputs of that run are already there
        notes.append(f"the checkpoint has already completed {trainer.epoch} of {run.epochs} "
                     "epochs; nothing to train, nothing rewritten")
        return RunResult(trainer, trainer.history, None, 0.0, [], notes)
    if out is not None:
        write_text_atomic(out / "config.json", json.dumps(run.config, indent=2) + "\n")
        files += [str(out / "checkpoint.npz"), str(out / "config.json")]
    started = time.perf_counter()
    trainer.fit(run.data.train_loader, run.data.val_loader, epochs=run.epochs,
                callbacks=callbacks, early_stopping=run.early_stopping)
    seconds = time.perf_counter() - started
    test = trainer.evaluate(run.data.test_loader) if run.data.test_loader is not None else None
    if out is not None:
        files += _write_outputs(run, trainer, test, out, notes)
    return RunResult(trainer, trainer.history, test, seconds, files, notes)


def _write_outputs(run, trainer, test, out: Path, notes: list[str]) -> list[str]:
    from graphgrad.viz import GraphvizNotFoundError

    written = [str(trainer.history.save(out / "history.json"))]
    try:
        trainer.history.plot(out / "curves.png")
        written.append(str(out / "curves.png"))
    except ImportError as exc:
        notes.append(f"curves.png not written: {exc}")
    try:
        svg = render_graph(run, out / "graph.svg")
        written += [str(svg.with_suffix(".dot")), str(svg)]  # render writes the source too
    except GraphvizNotFoundError as exc:
        notes.append(f"graph.svg not drawn: {exc}")
        if (out / "graph.dot").exists():  # render wrote the source before it looked for dot
            written.append(str(out / "graph.dot"))
    written.append(str(run.model.save(out / "model.npz", meta={"test": test})))
    metrics = {"epochs": trainer.epoch, "stop_reason": trainer.history.stop_reason,
               "best_epoch": trainer.history.best_epoch, "last": trainer.history.last,
               "test": test}
    written.append(str(write_text_atomic(out / "metrics.json",
                                         json.dumps(metrics, indent=2) + "\n")))
    return written
