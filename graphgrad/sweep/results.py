"""What a sweep leaves in its folder, read from Tune's results.

* ``results.csv`` and ``results.txt`` — one row per trial, sorted by the metric
  (best first): trial id, status, epochs trained, each hyperparameter, the
  trial's best value of the metric, its last metrics and its error if it failed;
* ``hyperparameters.png`` — the metric against each hyperparameter (log axis for
  ``loguniform``), the best trial highlighted;
* ``curves.png`` — the metric per epoch of every trial, the best highlighted;
* ``best_config.toml`` — the config with the best trial's values, without
  ``[sweep]``: ready for ``graphgrad train``;
* ``best_checkpoint.npz`` — the best trial's graphgrad checkpoint at its best epoch.

Everything is written atomically (temporary file, then rename), nothing pickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphgrad.serialize import atomic_open, write_text_atomic
from graphgrad.sweep.space import SweepSettings, apply_overrides
from graphgrad.sweep.tune import CHECKPOINT_FILE, finite

RESERVED_COLUMNS = ("trial_id", "status", "epochs", "error")


@dataclass
class SweepResults:
    """The outcome of a sweep: ``dataframe`` (pandas, one row per trial, best first),
    ``best_config`` (a plain training config) and its file ``best_config_path``,
    ``best_checkpoint`` (path of the best trial's ``.npz``), ``best_value`` of the
    ``metric`` (``mode`` min/max), the sweep ``folder``, the ``errors`` of failed trials
    (trial id -> first line), whether the sweep was ``interrupted``, and ``files``."""

    dataframe: Any
    metric: str
    mode: str
    folder: Path
    best_config: dict[str, Any] | None = None
    best_config_path: Path | None = None
    best_checkpoint: Path | None = None
    best_value: float | None = None
    best_trial: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    files: list[Path] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)

    def table(self, max_rows: int = 40) -> str:
        """The trials as a text table, best first."""
        return format_table(self.dataframe, self.metric, max_rows)

    def __repr__(self) -> str:
        return (f"SweepResults({len(self.dataframe)} trials, {self.metric} ({self.mode}) best "
                f"{self.best_value} in trial {self.best_trial}, folder={str(self.folder)!r})")


def _first_line(error: Any) -> str:
    text = str(error).strip()
    # Tune wraps the trial's exception; its last non-empty line is the exception itself
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    tail = [line for line in lines if "Error" in line.split(":")[0]]
    return (tail[-1] if tail else lines[-1] if lines else type(error).__name__)[:300]


def collect(result_grid, settings: SweepSettings, states: dict[str, str]):
    """The per-trial DataFrame (best first) and the validation curves of every trial."""
    import pandas as pd

    rows, curves = [], {}
    better = max if settings.mode == "max" else min
    for result in result_grid:
        metrics = dict(result.metrics or {})
        trial_id = metrics.get("trial_id") or Path(str(result.path)).name.removeprefix("trial_")
        history = result.metrics_dataframe
        values: list[float] = []
        if history is not None and settings.metric in history:
            values = [finite(v) for v in history[settings.metric]]
        curves[trial_id] = values
        seen = [v for v in values if not math.isnan(v)]
        row: dict[str, Any] = {
            "trial_id": trial_id,
            "status": "FAILED" if result.error is not None else
            states.get(trial_id, "TERMINATED"),
            "epochs": int(metrics.get("training_iteration", len(values)) or 0),
        }
        config = result.config or {}
        for key in settings.keys:
            row[key] = config.get(key)
        row[settings.metric] = better(seen) if seen else math.nan
        for key, value in metrics.items():
            if key in ("loss", "accuracy", "lr") or key.startswith("val_"):
                if key != settings.metric:
                    row[f"last_{key}"] = finite(value)
        row["error"] = _first_line(result.error) if result.error is not None else ""
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(settings.metric, ascending=settings.mode == "min",
                                  na_position="last", kind="stable").reset_index(drop=True)
    return frame, curves


def format_table(frame, metric: str, max_rows: int = 40) -> str:
    """A fixed-width text table of the trials (floats with 4 significant digits)."""
    if frame.empty:
        return "(no trials)"
    columns = [c for c in frame.columns if c != "error" and not c.startswith("last_")]
    if frame["error"].astype(bool).any():
        columns.append("error")

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value)

    cells = [[cell(v) for v in row] for row in frame[columns].head(max_rows).itertuples(
        index=False)]
    cells = [[c if len(c) <= 60 else c[:57] + "..." for c in row] for row in cells]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(columns)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    if len(frame) > max_rows:
        lines.append(f"... {len(frame) - max_rows} more trials in results.csv")
    return "\n".join(lines)


# -- plain TOML, for the best config ------------------------------------------------------

def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"to_toml: cannot write {type(value).__name__} {value!r} as TOML")


def to_toml(config: dict[str, Any], header: str = "") -> str:
    """A TOML document of ``config``: scalars and lists first, then a ``[table]`` per dict
    (nested dicts as ``[a.b]``; lists of tables as arrays of inline tables, one a line)."""
    lines = [f"# {line}" for line in header.splitlines()]

    def emit(table: dict[str, Any], path: list[str]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if path:
            lines.extend(["", f"[{'.'.join(_toml_key(p) for p in path)}]"])
        for key, value in scalars.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                lines.append(f"{_toml_key(key)} = [")
                lines.extend(f"    {_toml_value(v)}," for v in value)
                lines.append("]")
            else:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(value, [*path, str(key)])

    emit(config, [])
    return "\n".join(lines).lstrip("\n") + "\n"


# -- plots -----------------------------------------------------------------------------

def plot_hyperparameters(frame, settings: SweepSettings, path: Path) -> Path:
    """The metric against each hyperparameter, one panel each, the best trial in red."""
    from graphgrad.training.history import require_matplotlib

    figure_class = require_matplotlib("the sweep's plots")
    keys = settings.keys
    fig = figure_class(figsize=(4.0 * len(keys), 3.4), layout="constrained")
    kinds = {d.key: d.kind for d in settings.space}
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        values = list(frame[key])
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = values if numeric else [str(v) for v in values]
        ys = [finite(v) for v in frame[settings.metric]]
        ax.scatter(xs, ys, s=18, color="tab:blue", label="trials")
        if len(frame):
            ax.scatter([xs[0]], [ys[0]], s=60, color="tab:red", marker="*", label="best")
        if kinds.get(key) == "loguniform":
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(settings.metric)
        ax.legend(fontsize="small")
    fig.suptitle(f"{settings.metric} ({settings.mode}) against each hyperparameter")
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=90)
    return path


def plot_curves(curves: dict[str, list[float]], best: str | None, settings: SweepSettings,
                path: Path) -> Path:
    """The metric per epoch of every trial; the best trial drawn thick and red."""
    from graphgrad.training.history import require_matplotlib

    figure_class = require_matplotlib("the sweep's plots")
    fig = figure_class(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for trial, values in curves.items():
        if trial != best and values:
            ax.plot(range(1, len(values) + 1), values, "-", color="tab:gray", alpha=0.6,
                    linewidth=1)
    if best in curves and curves[best]:
        values = curves[best]
        ax.plot(range(1, len(values) + 1), values, "-o", color="tab:red", linewidth=2.2,
                markersize=3, label=f"best: {best}")
        ax.legend()
    ax.set_xlabel("epoch")
    ax.set_ylabel(settings.metric)
    ax.set_title(f"{settings.metric} of {len(curves)} trials")
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=90)
    return path


# -- the sweep folder --------------------------------------------------------------------

def _copy_atomic(source: Path, target: Path) -> Path:
    with atomic_open(target, "wb") as handle:
        handle.write(source.read_bytes())
    return target


def write_results(result_grid, config: dict[str, Any], settings: SweepSettings, folder: Path,
                  states: dict[str, str], base_dir=".") -> SweepResults:
    """Write the folder's results (see the module docstring) and return them."""
    frame, curves = collect(result_grid, settings, states)
    results = SweepResults(frame, settings.metric, settings.mode, folder, curves=curves)
    results.errors = {r.trial_id: r.error for r in frame.itertuples() if r.error}
    unfinished = [t for t, s in states.items() if s not in ("TERMINATED", "ERROR")]
    results.interrupted = bool(unfinished)
    folder.mkdir(parents=True, exist_ok=True)
    results.files.append(write_text_atomic(folder / "results.csv", frame.to_csv(index=False)))
    results.files.append(write_text_atomic(folder / "results.txt",
                                           format_table(frame, settings.metric, 10**6) + "\n"))
    ok = frame[frame["status"] != "FAILED"] if not frame.empty else frame
    ok = ok[ok[settings.metric].notna()] if not ok.empty else ok
    if ok.empty:
        return results
    best = ok.iloc[0]
    results.best_trial, results.best_value = best["trial_id"], float(best[settings.metric])
    overrides = {key: _plain(best[key]) for key in settings.keys}
    results.best_config = apply_overrides(config, overrides, settings.space)
    data = results.best_config.get("data", {})
    if isinstance(data.get("path"), str) and not Path(data["path"]).is_absolute():
        # best_config.toml lives in the sweep folder: point it at the same data file
        data["path"] = str((Path(base_dir) / data["path"]).resolve())
    header = (f"The best trial ({results.best_trial}) of the sweep in {folder}:\n"
              f"{settings.metric} = {results.best_value:.6g} ({settings.mode}) with "
              + ", ".join(f"{k} = {v!r}" for k, v in overrides.items())
              + "\nTrain it with: graphgrad train best_config.toml")
    results.best_config_path = write_text_atomic(folder / "best_config.toml",
                                                 to_toml(results.best_config, header))
    results.files.append(results.best_config_path)
    checkpoint = _best_checkpoint(result_grid, results.best_trial, settings)
    if checkpoint is not None:
        results.best_checkpoint = _copy_atomic(checkpoint, folder / "best_checkpoint.npz")
        results.files.append(results.best_checkpoint)
    try:
        results.files.append(plot_hyperparameters(ok.reset_index(drop=True), settings,
                                                  folder / "hyperparameters.png"))
        results.files.append(plot_curves(curves, results.best_trial, settings,
                                         folder / "curves.png"))
    except ImportError:
        pass  # the examples extra is missing: the csv and the table say it all
    return results


def _plain(value: Any) -> Any:
    """A NumPy scalar from pandas as the Python number TOML and the config expect."""
    return value.item() if hasattr(value, "item") else value


def _best_checkpoint(result_grid, trial_id: str, settings: SweepSettings) -> Path | None:
    for result in result_grid:
        if Path(str(result.path)).name == f"trial_{trial_id}" or \
                (result.metrics or {}).get("trial_id") == trial_id:
            checkpoint = None
            try:
                checkpoint = result.get_best_checkpoint(settings.metric, settings.mode)
            except (RuntimeError, ValueError, KeyError):
                checkpoint = result.checkpoint
            checkpoint = checkpoint or result.checkpoint
            if checkpoint is None:
                return None
            path = Path(checkpoint.path) / CHECKPOINT_FILE
            return path if path.is_file() else None
    return None
