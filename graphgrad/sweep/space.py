"""The ``[sweep]`` table and its ``[sweep.space]``: parsed and checked before any trial runs.

``[sweep]`` keys (all optional): ``trials`` (default 10), ``metric`` (default
``"val_loss"`` with validation data, else ``"loss"``), ``mode`` (``"min"`` or
``"max"``; default ``"max"`` for an accuracy, else ``"min"``), ``search``
(``"random"``, ``"grid"`` or ``"optuna"``), ``scheduler`` (``"fifo"``,
``"asha"`` or ``{ type = "asha", grace_period = 1, reduction_factor = 2 }``),
``max_concurrent``, ``cpus_per_trial`` (default 1) and ``seed`` (of the
search; default the config's ``seed``).

``[sweep.space]`` maps a dotted key into the config to one distribution::

    "optimizer.lr" = { loguniform = [1e-3, 0.3] }      # log-uniform on [a, b]
    "optimizer.momentum" = { uniform = [0.5, 0.99] }   # uniform on [a, b]
    "data.batch_size" = { randint = [16, 129] }        # integer in [a, b), as NumPy's
    "model.layers.1.out_features" = { choice = [64, 256], also = ["model.layers.4.in_features"] }
    "schedule.type" = { grid = ["cosine", "step_decay"] }  # every value (search = "grid")

A number in a dotted key indexes a list (``model.layers.1`` is the second
layer). ``also`` writes the same value to further keys (a hidden width is
both one layer's ``out_features`` and the next one's ``in_features``).

Everything here is plain Python: it needs neither Ray nor the ``sweep``
extra, so a bad space fails at once, with the "did you mean" errors of the
config reader.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from graphgrad.config.parts import ConfigError, check_keys, did_you_mean, positive_int

SWEEP_KEYS = ("trials", "metric", "mode", "search", "scheduler", "max_concurrent",
              "cpus_per_trial", "seed", "space")
SEARCHES = ("random", "grid", "optuna")
SCHEDULERS = ("fifo", "asha")
ASHA_KEYS = ("type", "grace_period", "reduction_factor")
DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice", "grid")
DEFAULT_TRIALS = 10


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: its dotted ``key``, the ``kind`` of distribution and its
    ``values`` (``[low, high]`` for the ranges, the list for choice/grid), and the
    further keys (``also``) that receive the same value."""

    key: str
    kind: str
    values: tuple
    also: tuple[str, ...] = ()

    @property
    def discrete(self) -> bool:
        """Whether the dimension lists its values (choice, grid)."""
        return self.kind in ("choice", "grid")

    def first(self) -> Any:
        """A representative value: the first listed one, or the lower end of a range."""
        return self.values[0]


@dataclass
class SweepSettings:
    """The parsed ``[sweep]`` table (see the module docstring)."""

    trials: int
    metric: str
    mode: str
    search: str
    scheduler: str
    grace_period: int
    reduction_factor: int
    max_concurrent: int | None
    cpus_per_trial: float
    seed: int
    space: list[Dimension] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """The dotted keys of the space, in the order given."""
        return [d.key for d in self.space]


# -- dotted keys --------------------------------------------------------------------


def _split(key: str) -> list[str]:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"[sweep.space] {key!r} is not a dotted key such as 'optimizer.lr' "
                          "or 'model.layers.1.out_features'")
    return key.split(".")


def _step(node: Any, part: str, walked: str, key: str, create: bool) -> tuple[Any, Any]:
    """The container ``node`` and the index/key ``part`` denotes in it (checked)."""
    where = walked or "the top level"
    if isinstance(node, list):
        if not part.isdigit():
            raise ConfigError(f"[sweep.space] {key!r}: {walked} is a list of {len(node)}; "
                              f"index it with a number 0..{len(node) - 1}, not {part!r}")
        index = int(part)
        if index >= len(node):
            raise ConfigError(f"[sweep.space] {key!r}: {walked} has {len(node)} entries "
                              f"(0..{len(node) - 1}), there is no {index}")
        return node, index
    if isinstance(node, dict):
        if part not in node and not create:
            raise ConfigError(f"[sweep.space] {key!r}: {where} has no key {part!r}; its keys: "
                              f"{sorted(node)}{did_you_mean([part], list(node))}")
        return node, part
    raise ConfigError(f"[sweep.space] {key!r}: {walked} is {node!r}, not a table or a list, "
                      f"so it has no {part!r}")


def resolve(config: dict[str, Any], key: str, create_last: bool = True) -> tuple[Any, Any]:
    """``(container, index)`` such that ``container[index]`` is the value ``key`` names.

    Every step but the last must exist; the last may be new inside a table
    (a component argument left at its default, e.g. ``optimizer.momentum``).
    """
    parts = _split(key)
    node: Any = config
    walked = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        container, index = _step(node, part, walked, key, create=last and create_last)
        if last:
            return container, index
        node = container[index]
        walked = f"{walked}.{part}" if walked else part
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any],
                    space: list[Dimension] = ()) -> dict[str, Any]:
    """A deep copy of ``config`` with each dotted key of ``overrides`` set to its value
    (and the ``also`` keys of the matching ``space`` dimension); ``[sweep]`` is dropped,
    so the result is a plain training config."""
    also = {d.key: d.also for d in space}
    out = copy.deepcopy(config)
    out.pop("sweep", None)
    for key, value in overrides.items():
        for target in (key, *also.get(key, ())):
            container, index = resolve(out, target)
            container[index] = value
    return out


# -- distributions --------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_dimension(key: str, spec: Any, config: dict[str, Any]) -> Dimension:
    """Check one ``[sweep.space]`` entry against the config and return its Dimension."""
    section = f"sweep.space] [{key!r}"
    resolve(config, key)
    if not isinstance(spec, dict):
        raise ConfigError(f"[sweep.space] {key!r} must be a table with one distribution, e.g. "
                          f"{{ loguniform = [1e-3, 0.3] }} or {{ choice = [64, 128] }}; got "
                          f"{spec!r}")
    check_keys(section, spec, (*DISTRIBUTIONS, "also"))
    kinds = [k for k in spec if k in DISTRIBUTIONS]
    if len(kinds) != 1:
        raise ConfigError(f"[sweep.space] {key!r} needs exactly one distribution of "
                          f"{list(DISTRIBUTIONS)}, got {kinds or 'none'}")
    kind = kinds[0]
    values = spec[kind]
    if not isinstance(values, list) or not values:
        raise ConfigError(f"[sweep.space] {key!r}: {kind} needs a non-empty list, got {values!r}")
    if kind in ("loguniform", "uniform", "randint"):
        if len(values) != 2 or not all(_number(v) for v in values):
            raise ConfigError(f"[sweep.space] {key!r}: {kind} needs [low, high], two finite "
                              f"numbers, got {values!r}")
        low, high = values
        if not low < high:
            raise ConfigError(f"[sweep.space] {key!r}: {kind} needs low < high, got {values!r}")
        if kind == "loguniform" and low <= 0:
            raise ConfigError(f"[sweep.space] {key!r}: loguniform needs low > 0 (it samples "
                              f"log(value) uniformly), got {values!r}; use uniform for ranges "
                              "that include 0")
        if kind == "randint" and not all(isinstance(v, int) for v in values):
            raise ConfigError(f"[sweep.space] {key!r}: randint needs two integers [low, high) "
                              f"(high excluded, as numpy's), got {values!r}")
    also = spec.get("also", [])
    if isinstance(also, str):
        also = [also]
    if not isinstance(also, list) or not all(isinstance(a, str) for a in also):
        raise ConfigError(f"[sweep.space] {key!r}: also must be a list of dotted keys, got "
                          f"{also!r}")
    for target in also:
        resolve(config, target)
    return Dimension(key, kind, tuple(values), tuple(also))


def _metric_mode(table: dict[str, Any], config: dict[str, Any]) -> tuple[str, str]:
    has_val = float(config.get("data", {}).get("val_fraction", 0.1) or 0) > 0
    metric = table.get("metric", "val_loss" if has_val else "loss")
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"[sweep] metric must be a metric name such as 'val_accuracy', got "
                          f"{metric!r}")
    default_mode = "max" if metric.split("_")[-1] in ("accuracy", "acc") else "min"
    mode = table.get("mode", default_mode)
    if mode not in ("min", "max"):
        raise ConfigError(f"[sweep] mode must be 'min' or 'max', got {mode!r}"
                          f"{did_you_mean([mode], ['min', 'max'])}")
    return metric, mode


def _scheduler(value: Any) -> tuple[str, int, int]:
    spec = {"type": value} if isinstance(value, str) else value
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ConfigError(f"[sweep] scheduler must be 'fifo', 'asha' or {{ type = 'asha', "
                          f"grace_period = 1, reduction_factor = 2 }}, got {value!r}")
    name = spec["type"]
    if name not in SCHEDULERS:
        raise ConfigError(f"[sweep] scheduler: unknown {name!r}; choose one of "
                          f"{list(SCHEDULERS)}{did_you_mean([name], SCHEDULERS)}")
    check_keys("sweep.scheduler", spec, ASHA_KEYS if name == "asha" else ("type",))
    grace = positive_int("sweep.scheduler", "grace_period", spec.get("grace_period", 1))
    factor = positive_int("sweep.scheduler", "reduction_factor", spec.get("reduction_factor", 2))
    if factor < 2:
        raise ConfigError(f"[sweep.scheduler] reduction_factor must be at least 2, got {factor}")
    return name, grace, factor


def parse_sweep(config: dict[str, Any], **overrides: Any) -> SweepSettings:
    """Parse and check ``config["sweep"]`` (``overrides`` replace its keys, e.g. the
    arguments of ``gg.sweep``); raise ``ConfigError`` naming the key on any problem."""
    table = dict(config.get("sweep", {}))
    check_keys("sweep", table, SWEEP_KEYS)
    for name, value in overrides.items():
        if value is not None:
            table[name] = value
    check_keys("sweep", table, SWEEP_KEYS)
    space_table = table.get("space", {})
    if not isinstance(space_table, dict) or not space_table:
        raise ConfigError("[sweep.space] is missing or empty: give at least one dotted key and "
                          "its distribution, e.g. \"optimizer.lr\" = { loguniform = [1e-3, 0.3] }")
    space = [parse_dimension(k, v, config) for k, v in space_table.items()]
    search = table.get("search", "random")
    if search not in SEARCHES:
        raise ConfigError(f"[sweep] search: unknown {search!r}; choose one of {list(SEARCHES)}"
                          f"{did_you_mean([search], SEARCHES)}")
    grid = [d.key for d in space if d.kind == "grid"]
    if search == "grid":
        ranged = [d.key for d in space if not d.discrete]
        if ranged:
            raise ConfigError(f"[sweep] search = 'grid' needs listed values for every key; "
                              f"{ranged} are ranges: use grid = [...] or choice = [...] there, "
                              "or search = 'random'")
    elif grid:
        raise ConfigError(f"[sweep.space] {grid} use grid = [...], which needs search = 'grid'; "
                          f"with search = {search!r} use choice = [...]")
    size = math.prod(len(d.values) for d in space)
    trials = positive_int("sweep", "trials", table.get("trials", size if search == "grid"
                                                          else DEFAULT_TRIALS))
    if search == "grid" and trials != size:
        raise ConfigError(f"[sweep] search = 'grid' runs every combination, {size} here; "
                          f"trials = {trials} does not match (drop trials or set it to {size})")
    metric, mode = _metric_mode(table, config)
    scheduler, grace, factor = _scheduler(table.get("scheduler", "fifo"))
    max_concurrent = table.get("max_concurrent")
    if max_concurrent is not None:
        positive_int("sweep", "max_concurrent", max_concurrent)
    cpus = table.get("cpus_per_trial", 1)
    if not _number(cpus) or cpus <= 0:
        raise ConfigError(f"[sweep] cpus_per_trial must be a number > 0, got {cpus!r}")
    seed = table.get("seed", config.get("seed", 0))
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"[sweep] seed must be an integer, got {seed!r}")
    return SweepSettings(trials, metric, mode, search, scheduler, grace, factor, max_concurrent,
                         float(cpus), seed, space)


def check_metric(settings: SweepSettings, reported: list[str]) -> None:
    """Raise ConfigError if the sweep's metric is not one a trial reports."""
    if settings.metric not in reported:
        raise ConfigError(f"[sweep] metric {settings.metric!r} is not reported by the Trainer "
                          f"for this config; it reports {reported}"
                          f"{did_you_mean([settings.metric], reported)}")


def _trial_points(settings: SweepSettings) -> list[dict[str, Any]]:
    """Override sets to build before the sweep: every dimension at its first value, then
    each listed value of the model's keys (a width that breaks the network shows here)."""
    base = {d.key: d.first() for d in settings.space}
    points = [base]
    for d in settings.space:
        if d.discrete and (d.key.startswith("model.") or any(a.startswith("model.")
                                                             for a in d.also)):
            points += [{**base, d.key: v} for v in d.values[1:]]
    return points


def dry_run(config: dict[str, Any], settings: SweepSettings, base_dir=".") -> list[str]:
    """Build the run of a few points of the space and pass two training samples through
    the model and the loss; return the metric names a trial reports.

    Raises ``ConfigError`` naming the overrides when a point does not build or run,
    so a broken space stops the sweep before Ray starts a single trial.
    """
    import numpy as np

    from graphgrad.autograd.grad_mode import no_grad
    from graphgrad.autograd.tensor import Tensor
    from graphgrad.config import build_run

    reported: list[str] = []
    for point in _trial_points(settings):
        shown = ", ".join(f"{k} = {v!r}" for k, v in point.items())
        try:
            run = build_run(apply_overrides(config, point, settings.space), base_dir)
        except ConfigError as exc:
            raise ConfigError(f"[sweep.space] the trial with {shown} has a bad config: {exc}") \
                from exc
        x, y = run.data.x_train[:2], run.data.y_train[:2]
        try:
            with no_grad():
                if run.data.transform is not None:
                    x = np.asarray(run.data.transform(x))
                run.loss(run.model(Tensor(x)), Tensor(y))
        except (ValueError, TypeError, IndexError) as exc:
            raise ConfigError(
                f"[sweep.space] the model of the trial with {shown} fails on a batch: {exc}; "
                "a width that changes one layer's out_features must change the next layer's "
                "in_features too: add also = ['model.layers.N.in_features'] to that key"
            ) from exc
        names = ["loss", *[name for name, _ in run.trainer(progress=False).metrics]]
        reported = names + ([f"val_{n}" for n in names] if run.data.val_loader is not None
                            else [])
    return reported
