"""``sweep(config, ...)``: check the space, run the trials on Ray Tune, write the results.

The steps, in order:

1. read the config (a path or a dict) and its ``[sweep]`` table, with the
   arguments of ``sweep`` replacing keys of that table;
2. check every key and distribution, then build and run a few points of the
   space on two samples (``space.dry_run``): nothing reaches Ray unless every
   trial can start;
3. connect to Ray (a local Ray by default, an existing cluster with ``address``);
4. write ``sweep.json`` (the config and settings, for ``resume``), run the
   Tuner, then write the results (``graphgrad.sweep.results``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphgrad.config.parts import ConfigError
from graphgrad.serialize import write_text_atomic
from graphgrad.sweep.results import SweepResults, write_results
from graphgrad.sweep.space import SweepSettings, check_metric, dry_run, parse_sweep
from graphgrad.sweep.tune import (
    SweepError,
    build_tuner,
    connect,
    require_ray,
    restore_tuner,
    trial_states,
)

STATE_FILE = "sweep.json"


class SweepFailedError(SweepError):
    """Every trial of a sweep failed; ``results`` holds the table and the errors."""

    def __init__(self, message: str, results: SweepResults):
        super().__init__(message)
        self.results = results


def _read_config(config) -> tuple[dict[str, Any], Path, str]:
    """``(config dict, base folder for relative paths, a name)`` of a path or a dict."""
    from graphgrad.config import check_config, load_config

    if isinstance(config, dict):
        check_config(config)
        return config, Path.cwd(), "sweep"
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"no config file at {str(path)!r} (working directory: {Path.cwd()}); "
                          "give the path of a TOML file such as "
                          "examples/configs/digits_sweep.toml")
    return load_config(path), path.resolve().parent, path.stem


def prepare(config, **settings: Any) -> tuple[dict[str, Any], Path, str, SweepSettings]:
    """Read and check a sweep without Ray: the config, its folder, a name and the settings.

    Raises ``ConfigError`` for a bad ``[sweep]``/``[sweep.space]`` or a point of the
    space that does not build or run.
    """
    data, base_dir, name = _read_config(config)
    parsed = parse_sweep(data, **settings)
    check_metric(parsed, dry_run(data, parsed, base_dir))
    return data, base_dir, name, parsed


def _finish(result_grid, data, parsed: SweepSettings, folder: Path, base_dir) -> SweepResults:
    states = trial_states(folder)
    results = write_results(result_grid, data, parsed, folder, states, base_dir)
    results.interrupted = results.interrupted or len(states) < parsed.trials
    if not results.interrupted and len(results.errors) == len(results.dataframe) > 0:
        first = "; ".join(f"trial {t}: {e}" for t, e in list(results.errors.items())[:3])
        raise SweepFailedError(f"all {len(results.errors)} trials failed; the first errors: "
                               f"{first} (every error: {folder / 'results.csv'})", results)
    return results


def sweep(config, space: dict[str, Any] | None = None, trials: int | None = None,
          address: str | None = None, *, out=None, metric: str | None = None,
          mode: str | None = None, search: str | None = None, scheduler: Any = None,
          max_concurrent: int | None = None, cpus_per_trial: float | None = None,
          seed: int | None = None, verbose: int = 0, callbacks: list | None = None
          ) -> SweepResults:
    """Run a hyperparameter sweep of a training config on Ray Tune; return its results.

    ``config`` is a TOML path or a config dict; its ``[sweep]`` table sets the
    search (see ``graphgrad.sweep.space``), and ``space``, ``trials``, ``metric``,
    ``mode``, ``search``, ``scheduler``, ``max_concurrent``, ``cpus_per_trial``
    and ``seed`` replace its keys. Each trial trains the config with its sampled
    values, e.g. ``space={"optimizer.lr": {"loguniform": [1e-3, 0.3]}}`` draws
    lr with log(lr) ~ U(log 1e-3, log 0.3), and reports the Trainer's metrics
    every epoch.

    ``address=None`` uses the Ray of this process if there is one, else starts a
    local Ray sized to the machine (and stops it afterwards); ``"auto"`` or
    ``"ray://HOST:PORT"`` uses an existing cluster. ``out`` is the sweep folder
    (default ``sweeps/<config name>``); ``verbose`` Tune's verbosity (1: a progress
    table); ``callbacks`` Tune callbacks.

    Returns ``SweepResults`` (``dataframe`` best first, ``best_config``,
    ``best_checkpoint``...). Failed trials (an exception, a NaN loss) are rows with
    their error; if every trial fails ``SweepFailedError`` is raised. A Ctrl-C stops
    the sweep with its folder resumable by ``resume(folder)``.
    """
    require_ray()
    data, base_dir, name, parsed = prepare(
        config, space=space, trials=trials, metric=metric, mode=mode, search=search,
        scheduler=scheduler, max_concurrent=max_concurrent, cpus_per_trial=cpus_per_trial,
        seed=seed)
    folder = Path(out) if out is not None else Path("sweeps") / name
    if (folder / STATE_FILE).exists():
        raise SweepError(f"{folder} already holds a sweep; resume it with graphgrad sweep "
                         f"--resume {folder} (gg.sweep.resume), or choose another folder")
    started = connect(address)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        state = {"config": data, "base_dir": str(base_dir),
                 "settings": {"space": data.get("sweep", {}).get("space", {}) if space is None
                              else space, "trials": parsed.trials, "metric": parsed.metric,
                              "mode": parsed.mode, "search": parsed.search,
                              "scheduler": _scheduler_spec(parsed),
                              "max_concurrent": parsed.max_concurrent,
                              "cpus_per_trial": parsed.cpus_per_trial, "seed": parsed.seed}}
        write_text_atomic(folder / STATE_FILE, json.dumps(state, indent=2) + "\n")
        tuner = build_tuner(data, str(base_dir), parsed, folder, verbose=verbose,
                            callbacks=callbacks)
        return _finish(tuner.fit(), data, parsed, folder, base_dir)
    finally:
        if started:
            import ray

            ray.shutdown()


def _scheduler_spec(parsed: SweepSettings) -> Any:
    if parsed.scheduler == "asha":
        return {"type": "asha", "grace_period": parsed.grace_period,
                "reduction_factor": parsed.reduction_factor}
    return parsed.scheduler


def resume(folder, address: str | None = None) -> SweepResults:
    """Continue the interrupted sweep in ``folder`` (Tune's restore): finished and failed
    trials are kept as they are, unfinished ones continue from their last checkpoint."""
    require_ray()
    folder = Path(folder)
    state_file = folder / STATE_FILE
    if not state_file.is_file():
        raise SweepError(f"cannot resume: {folder} holds no sweep ({STATE_FILE} is missing); "
                         "give the folder a sweep was started in (default sweeps/<config name>)")
    state = json.loads(state_file.read_text(encoding="utf-8"))
    data, base_dir = state["config"], state["base_dir"]
    parsed = parse_sweep(data, **state["settings"])
    started = connect(address)
    try:
        tuner = restore_tuner(folder, data, base_dir, parsed)
        return _finish(tuner.fit(), data, parsed, folder, base_dir)
    finally:
        if started:
            import ray

            ray.shutdown()
