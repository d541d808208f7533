"""Ray Tune underneath a sweep: the cluster connection, the trial, the search and the scheduler.

Each trial is one call of ``train_trial``: it applies its overrides to the
config, builds the run with ``graphgrad.config.build_run``, and trains with
graphgrad's ``Trainer``; a ``ReportToTune`` callback reports the epoch's
history row to Tune with a graphgrad checkpoint (``checkpoint.npz``) through
Tune's checkpoint API, so a scheduler such as ASHA can stop the trial after
any epoch and a restored sweep continues the trial from its last epoch.

Ray is imported inside the functions only: ``graphgrad.sweep`` imports
without the ``sweep`` extra, and says which extra to install when it is used.
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from graphgrad.sweep.space import Dimension, SweepSettings, apply_overrides
from graphgrad.training.callbacks import Callback

EXTRA_HINT = ("install the sweep extra: python -m pip install -e \".[sweep]\" in a graphgrad "
              "checkout, or pip install \"graphgrad[sweep]\"")
CHECKPOINT_FILE = "checkpoint.npz"


class SweepError(RuntimeError):
    """A sweep could not run (no Ray, unreachable cluster) or every trial failed."""


def require_ray():
    """Import and return ``ray.tune``, or raise ImportError naming the ``sweep`` extra."""
    try:
        from ray import tune
    except ImportError as exc:
        raise ImportError(f"graphgrad sweep runs on Ray Tune, which is not installed "
                          f"({exc}); {EXTRA_HINT}") from exc
    return tune


# -- the cluster ------------------------------------------------------------------------

def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``ray://HOST:PORT`` or ``HOST:PORT``; None for ``auto``."""
    if address == "auto":
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    if not parts.hostname or parts.port is None:
        raise SweepError(f"--address {address!r} is not 'auto', 'ray://HOST:PORT' or "
                         "'HOST:PORT'")
    return parts.hostname, parts.port


def connect(address: str | None, timeout: float = 5.0) -> bool:
    """Make sure Ray is running for this process; return True if this call started the
    connection (and the caller should ``ray.shutdown()`` when done).

    ``address=None`` reuses a Ray already initialised in this process, else starts a
    local Ray sized to the machine (no dashboard). An address is checked with a plain
    TCP connection first (``timeout`` seconds) so that an unreachable cluster fails at
    once with the address in the message instead of Ray's long retries.
    """
    require_ray()
    import ray

    if address is None:
        if ray.is_initialized():
            return False
        ray.init(include_dashboard=False, log_to_driver=False)
        return True
    target = _host_port(address)
    if target is not None:
        try:
            socket.create_connection(target, timeout=timeout).close()
        except OSError as exc:
            raise SweepError(f"cannot reach the Ray cluster at {address!r}: {exc}; start one "
                             "with `ray start --head` on that machine, check the host and port, "
                             "or leave out --address to run on a local Ray") from exc
    if ray.is_initialized():
        ray.shutdown()
    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        raise SweepError(f"cannot connect to the Ray cluster at {address!r}: {exc}; start one "
                         "with `ray start --head`, or leave out --address to run on a local "
                         "Ray") from exc
    return True


# -- one trial --------------------------------------------------------------------------

class ReportToTune(Callback):
    """Trainer callback: after every epoch, report the history row to Tune together with
    a graphgrad checkpoint of the trainer (an atomic ``checkpoint.npz``, no pickle)."""

    def on_epoch_end(self, trainer, epoch: int, metrics: dict[str, Any]) -> None:
        from ray import tune

        row = {k: float(v) for k, v in metrics.items()
               if isinstance(v, (int, float)) and k != "epoch"}
        row["epoch"] = epoch + 1  # epochs completed, as Tune's training_iteration
        with tempfile.TemporaryDirectory(prefix="graphgrad-ckpt-") as folder:
            trainer.save_checkpoint(Path(folder) / CHECKPOINT_FILE)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))


def train_trial(overrides: dict[str, Any], *, base: dict[str, Any], base_dir: str,
                space: list[Dimension]) -> None:
    """The Tune trainable: train the config with ``overrides`` applied.

    A trial Tune restores (a resumed sweep) continues from its last checkpoint.
    A NaN loss raises graphgrad's ``NonFiniteLossError``: Tune records the trial
    as failed with that error, and the sweep goes on.
    """
    from ray import tune

    from graphgrad.config import build_run

    run = build_run(apply_overrides(base, overrides, space), base_dir)
    trainer = run.trainer(progress=False)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trainer.load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    if trainer.epoch >= run.epochs:
        return
    trainer.fit(run.data.train_loader, run.data.val_loader, epochs=run.epochs,
                callbacks=[ReportToTune()], early_stopping=run.early_stopping)


# -- the search -------------------------------------------------------------------------

def param_space(settings: SweepSettings) -> dict[str, Any]:
    """Tune's search space: one Tune domain per dimension, under its dotted key."""
    tune = require_ray()
    space: dict[str, Any] = {}
    for d in settings.space:
        low, high = (d.values + (None,))[:2]
        if d.kind == "loguniform":
            space[d.key] = tune.loguniform(low, high)
        elif d.kind == "uniform":
            space[d.key] = tune.uniform(low, high)
        elif d.kind == "randint":
            space[d.key] = tune.randint(low, high)
        elif d.kind == "grid" or settings.search == "grid":
            space[d.key] = tune.grid_search(list(d.values))
        else:
            space[d.key] = tune.choice(list(d.values))
    return space


def max_epochs(config: dict[str, Any], settings: SweepSettings) -> int:
    """The longest a trial can train (ASHA's ``max_t``), counting ``train.epochs`` in the space."""
    epochs = int(config["train"]["epochs"])
    for d in settings.space:
        if d.key == "train.epochs":
            epochs = max(int(v) for v in d.values) - (1 if d.kind == "randint" else 0)
    return max(epochs, 1)


def search_algorithm(settings: SweepSettings):
    """The searcher: random or grid (Tune's variant generator), or Optuna's TPE; each
    running at most ``max_concurrent`` trials at once."""
    require_ray()
    if settings.search == "optuna":
        try:
            import optuna  # noqa: F401 - OptunaSearch needs it only when it runs
            from ray.tune.search import ConcurrencyLimiter
            from ray.tune.search.optuna import OptunaSearch
        except ImportError as exc:
            raise ImportError(f"search = 'optuna' needs optuna ({exc}); {EXTRA_HINT}") from exc
        searcher = OptunaSearch(seed=settings.seed)
        if settings.max_concurrent:
            return ConcurrencyLimiter(searcher, max_concurrent=settings.max_concurrent)
        return searcher
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=settings.seed,
                                 max_concurrent=settings.max_concurrent or 0)


def scheduler(config: dict[str, Any], settings: SweepSettings):
    """FIFO (every trial runs all its epochs) or ASHA (stops the worse trials early)."""
    require_ray()
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if settings.scheduler == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=max_epochs(config, settings),
                             grace_period=settings.grace_period,
                             reduction_factor=settings.reduction_factor)
    return FIFOScheduler()


def make_trainable(config: dict[str, Any], base_dir: str, settings: SweepSettings):
    """``train_trial`` bound to the config (shipped once through Ray's object store)
    and with the CPUs each trial reserves."""
    tune = require_ray()
    bound = tune.with_parameters(train_trial, base=config, base_dir=str(base_dir),
                                 space=list(settings.space))
    return tune.with_resources(bound, {"cpu": settings.cpus_per_trial})


def _trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def build_tuner(config: dict[str, Any], base_dir: str, settings: SweepSettings, folder: Path,
                verbose: int = 1, callbacks: list | None = None):
    """A ``ray.tune.Tuner`` whose experiment folder is ``folder``."""
    tune = require_ray()
    # Keeping only the best checkpoint forces a state snapshot after each report; with
    # small, quick epochs Tune warns about that on every trial. The snapshot is wanted
    # (a Ctrl-C loses nothing), the warning is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    trials = 1 if settings.search == "grid" else settings.trials
    tune_config = tune.TuneConfig(
        metric=settings.metric, mode=settings.mode, num_samples=trials,
        search_alg=search_algorithm(settings), scheduler=scheduler(config, settings),
        trial_dirname_creator=_trial_dirname,
        reuse_actors=True)  # one worker process runs trial after trial: no re-import
    run_config = tune.RunConfig(
        name=folder.name, storage_path=str(folder.parent.resolve()), verbose=verbose,
        failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=1, checkpoint_score_attribute=settings.metric,
            checkpoint_score_order=settings.mode),
        callbacks=callbacks)
    return tune.Tuner(make_trainable(config, base_dir, settings),
                      param_space=param_space(settings), tune_config=tune_config,
                      run_config=run_config)


def restore_tuner(folder: Path, config: dict[str, Any], base_dir: str, settings: SweepSettings):
    """The Tuner of an interrupted sweep in ``folder``: unfinished trials continue from
    their last checkpoint, finished and failed ones are kept as they are."""
    tune = require_ray()
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    return tune.Tuner.restore(str(folder.resolve()), make_trainable(config, base_dir, settings),
                              resume_unfinished=True, resume_errored=False,
                              restart_errored=False)


def trial_states(folder: Path) -> dict[str, str]:
    """Trial id -> Tune status (TERMINATED, ERROR, PENDING, RUNNING, PAUSED) as Tune saved
    them last in ``folder``. Read from the saved state because after a Ctrl-C Tune stops
    the unfinished trials in memory, while the saved state says they are unfinished."""
    import json

    # one file per run of the sweep, named by its start time; a resumed run rewrites both
    saved = sorted(Path(folder).glob("experiment_state-*.json"))
    if not saved:
        return {}
    states = {}
    for entry in json.loads(saved[-1].read_text(encoding="utf-8")).get("trial_data", []):
        trial = json.loads(entry[0]) if isinstance(entry[0], str) else entry[0]
        states[str(trial.get("trial_id"))] = str(trial.get("status"))
    return states


def finite(value: Any) -> float:
    """``float(value)``, NaN for anything that is not a finite number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan
