"""Training configs in TOML: model, data, loss, optimizer, schedule, early stopping.

``load_config(path)`` reads and checks a file; ``build_run(config)`` makes the
objects (a ``Run``); ``run.trainer()`` the ``Trainer``. The CLI commands
``graphgrad train`` / ``babysit`` and ``graphgrad demo`` use these. Every table
is checked: an unknown key is an error that lists the valid keys.

Top level: ``seed`` (int, default 0: seeds the model's initialisation, the
split, the shuffling and the augmentations) and the tables

* ``[data]`` — see ``graphgrad.config.data``;
* ``[model]`` — ``layers = [...]`` (a ``Sequential`` of registry layers), or
  ``inputs``/``outputs``/``nodes`` for a ``Network``: each node a table with
  ``name``, ``type``, optional ``inputs`` and the layer's arguments;
* ``[loss]``, ``[optimizer]`` — a component: ``type`` plus its arguments;
* ``[schedule]`` (optional) — a component plus ``interval = "epoch" | "step"``;
* ``[early_stopping]`` (optional) — ``EarlyStopping`` arguments;
* ``[train]`` — ``epochs`` (required), ``metrics``, ``progress``, ``checkpoint_every``,
  ``compile`` (``true``: the Trainer replays its step through ``gg.compile``);
* ``[babysit]`` (optional) — options of ``gg.check.babysit``;
* ``[sweep]`` (optional) — a hyperparameter sweep, read and checked by
  ``graphgrad.sweep`` (``graphgrad sweep``); training ignores it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphgrad.config.data import DataSplits, build_data
from graphgrad.config.parts import (
    ConfigError,
    accepted_keys,
    build_component,
    check_keys,
    positive_int,
)
from graphgrad.training.callbacks import EarlyStopping

__all__ = ["ConfigError", "Run", "load_config", "build_run", "from_file"]

TOP_KEYS = ("seed", "data", "model", "loss", "optimizer", "schedule", "early_stopping", "train",
            "babysit", "sweep")
REQUIRED = ("data", "model", "loss", "optimizer", "train")
TRAIN_KEYS = ("epochs", "metrics", "progress", "checkpoint_every", "compile")
NODE_KEYS = ("name", "type", "inputs")
# babysit options that the config supplies from elsewhere
_BABYSIT_SUPPLIED = ("model", "loss", "data", "optimizer", "lr", "optimizer_kwargs", "seed",
                     "verbose")


@dataclass
class Run:
    """Everything a config describes, built and ready to train."""

    config: dict[str, Any]
    seed: int
    model: Any
    loss: Any
    optimizer: Any
    schedule: Any
    schedule_interval: str
    early_stopping: EarlyStopping | None
    epochs: int
    metrics: list
    progress: bool
    checkpoint_every: int
    data: DataSplits
    babysit_options: dict[str, Any] = field(default_factory=dict)
    compile: bool = False

    def trainer(self, progress: bool | None = None):
        """A ``Trainer`` over this run's model, loss, optimizer and schedule."""
        from graphgrad.training.trainer import Trainer

        return Trainer(self.model, self.loss, self.optimizer, self.schedule,
                       metrics=self.metrics, progress=self.progress if progress is None else
                       progress, schedule_interval=self.schedule_interval,
                       compile=self.compile)

    def optimizer_spec(self) -> tuple[str, float, dict[str, Any]]:
        """``(registry name, lr, other arguments)`` of the configured optimizer."""
        spec = dict(self.config["optimizer"])
        name = spec.pop("type")
        if "lr" not in spec:
            raise ConfigError("[optimizer] needs lr = ... for babysit and lr_find")
        return name, float(spec.pop("lr")), spec

    def babysit(self, verbose: bool = True):
        """``gg.check.babysit`` of this run's model with its optimizer and training data."""
        from graphgrad.check.babysitting import babysit

        name, lr, kwargs = self.optimizer_spec()
        return babysit(self.model, self.loss, self.data.train_loader, optimizer=name, lr=lr,
                       optimizer_kwargs=kwargs, seed=self.seed, verbose=verbose,
                        **self.babysit_options)


def _toml_module():
    import tomllib  # graphgrad needs Python >= 3.11

    return tomllib


def load_config(path) -> dict[str, Any]:
    """Read a TOML training config and check its structure (keys of every table)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config {str(path)!r}: {exc}") from exc
    toml = _toml_module()
    try:
        config = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise ConfigError(f"{str(path)!r} is not valid TOML: {exc}") from exc
    check_config(config)
    return config


def check_config(config: dict[str, Any]) -> None:
    """Check the top-level tables and the fixed-key tables (components are checked when built)."""
    check_keys("top level", config, TOP_KEYS)
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ConfigError(f"the config lacks the table(s) {missing}; required: {list(REQUIRED)}")
    seed = config.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    check_keys("train", config["train"], TRAIN_KEYS)
    positive_int("train", "epochs", config["train"].get("epochs"))
    if "early_stopping" in config:
        check_keys("early_stopping", config["early_stopping"], accepted_keys(EarlyStopping))
    if "babysit" in config:
        from graphgrad.check.babysitting import babysit

        check_keys("babysit", config["babysit"], accepted_keys(babysit, _BABYSIT_SUPPLIED))
    model = config["model"]
    if not isinstance(model, dict):
        raise ConfigError(f"[model] must be a table, got {model!r}")
    if "layers" in model:
        check_keys("model", model, ("layers",))
    else:
        check_keys("model", model, ("inputs", "outputs", "nodes"))
        if "nodes" not in model:
            raise ConfigError("[model] needs layers = [...] (a Sequential) or nodes = [...] "
                              "(a Network)")


def build_model(table: dict[str, Any]):
    """A ``Sequential`` (``layers``) or a ``Network`` (``nodes``) of registry layers."""
    from graphgrad import nn

    if "layers" in table:
        layers = table["layers"]
        if not isinstance(layers, list) or not layers:
            raise ConfigError("[model] layers must be a non-empty list, e.g. "
                              "[{ type = 'linear', in_features = 64, out_features = 10 }]")
        return nn.Sequential(*[build_component("layers", spec, f"model.layers[{i}]")
                            for i, spec in enumerate(layers)])
    try:
        net = nn.Network(inputs=table.get("inputs", ("x",)), outputs=table.get("outputs"))
    except ValueError as exc:
        raise ConfigError(f"[model] {exc}") from exc
    for i, node in enumerate(table["nodes"]):
        section = f"model.nodes[{i}]"
        if not isinstance(node, dict) or "name" not in node:
            raise ConfigError(f"[{section}] needs name = '...' and type = '...'")
        spec = {k: v for k, v in node.items() if k not in ("name", "inputs")}
        layer = build_component("layers", spec, section)
        try:
            net.add(node["name"], layer, inputs=node.get("inputs"))
        except ValueError as exc:
            raise ConfigError(f"[{section}] {exc}") from exc
    try:
        net.check()
    except ValueError as exc:
        raise ConfigError(f"[model] the network is not valid: {exc}") from exc
    return net


def build_run(config: dict[str, Any], base_dir=".") -> Run:
    """Build the model, data, loss, optimizer, schedule and early stopping of a config."""
    from graphgrad.random import manual_seed

    config = copy.deepcopy(config)
    check_config(config)
    seed = config.get("seed", 0)
    data = build_data(config["data"], Path(base_dir), seed)
    manual_seed(seed)
    model = build_model(config["model"])
    loss = build_component("losses", config["loss"], "loss")
    if not isinstance(config["optimizer"], dict):
        raise ConfigError("[optimizer] must be a table with type = '...' and lr = ...")
    optimizer = build_component("optimizers", config["optimizer"], "optimizer",
                                args=(list(model.parameters()),), supplied=("params",))
    schedule, interval = None, "epoch"
    if "schedule" in config:
        spec = dict(config["schedule"]) if isinstance(config["schedule"], dict) else {
            "type": config["schedule"]}
        interval = spec.pop("interval", "epoch")
        if interval not in ("epoch", "step"):
            raise ConfigError(f"[schedule] interval must be 'epoch' or 'step', got {interval!r}")
        schedule = build_component("schedules", spec, "schedule", args=(optimizer,),
                                   supplied=("optimizer",))
    early = None
    if "early_stopping" in config:
        try:
            early = EarlyStopping(**config["early_stopping"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[early_stopping] {exc}") from exc
        if early.monitor.startswith("val_") and data.val_loader is None:
            raise ConfigError(f"[early_stopping] monitor = {early.monitor!r} needs validation "
                              "data; set [data] val_fraction > 0")
    train = config["train"]
    metrics = train.get("metrics", ["accuracy"])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"[train] metrics must be a list of names, got {metrics!r}")
    every = positive_int("train", "checkpoint_every", train.get("checkpoint_every", 1))
    compiled = train.get("compile", False)
    if not isinstance(compiled, bool):
        raise ConfigError(f"[train] compile must be true or false, got {compiled!r}")
    return Run(config, seed, model, loss, optimizer, schedule, interval, early,
               train["epochs"], metrics, bool(train.get("progress", True)), every, data,
               dict(config.get("babysit", {})), compiled)


def from_file(path) -> Run:
    """``build_run(load_config(path))`` with relative data paths resolved next to the file."""
    return build_run(load_config(path), base_dir=Path(path).resolve().parent)
