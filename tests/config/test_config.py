"""TOML training configs: building the objects, errors that list the valid keys,
and the `graphgrad train` / `graphgrad babysit` commands."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.cli import main
from graphgrad.cli.demo import DEMO_CONFIG
from graphgrad.config import ConfigError, build_run, from_file, load_config
from graphgrad.data import HardExampleSampler, StratifiedSampler

ROOT = Path(__file__).resolve().parents[2]


def images(n=120, seed=0):
    """Two classes of 4x4 one-channel images: bright top half or bright bottom half."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(2.0, 1.0, (n, 1, 4, 4)).astype(np.float32)
    x[y == 0, :, :2] += 3.0
    x[y == 1, :, 2:] += 3.0
    return x, y.astype(np.int64)


CONFIG = """\
seed = 3

[data]
source = "npz"
path = "data.npz"
val_fraction = 0.25
test_fraction = 0.25
batch_size = 16
transforms = [
    { type = "standardize", mode = "global" },
    { type = "random_flip" },
]

[model]
layers = [
    { type = "flatten" },
    { type = "linear", in_features = 16, out_features = 8 },
    { type = "relu" },
    { type = "linear", in_features = 8, out_features = 2 },
]

[loss]
type = "cross_entropy"

[optimizer]
type = "sgd"
lr = 0.1
momentum = 0.9

[schedule]
type = "step_decay"
step_size = 1
gamma = 0.5

[early_stopping]
monitor = "val_loss"
patience = 3

[train]
epochs = 2
progress = false
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    x, y = images()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    (tmp_path / "run.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(workdir, text: str) -> Path:
    path = workdir / "edited.toml"
    path.write_text(text)
    return path


def edited(workdir, old: str, new: str) -> Path:
    assert old in CONFIG
    return write(workdir, CONFIG.replace(old, new))


# -- building ------------------------------------------------------------------------


def test_the_example_config_is_the_demo_config():
    assert load_config(ROOT / "examples" / "configs" / "digits.toml") == DEMO_CONFIG


def test_the_cnn_example_config_is_the_cnn_demo_config():
    from graphgrad.cli.demo import CNN_CONFIG

    config = load_config(ROOT / "examples" / "configs" / "digits_cnn.toml")
    assert config == CNN_CONFIG
    assert config["data"] == DEMO_CONFIG["data"]  # the MLP's split and preprocessing


def test_a_config_builds_every_object(workdir):
    run = from_file(workdir / "run.toml")
    assert isinstance(run.model, gg.Sequential) and len(run.model) == 4
    assert [p.shape for p in run.model.parameters()] == [(16, 8), (8,), (8, 2), (2,)]
    assert type(run.optimizer).__name__ == "SGD"
    assert run.optimizer.param_groups[0]["momentum"] == 0.9
    assert type(run.schedule).__name__ == "StepDecay" and run.schedule_interval == "epoch"
    assert run.early_stopping.monitor == "val_loss" and run.early_stopping.patience == 3
    assert (run.epochs, run.metrics, run.progress) == (2, ["accuracy"], False)
    data = run.data
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (60, 30, 30)
    # the split is a permutation of the file's samples
    x, _ = images()
    together = np.concatenate([data.x_train, data.x_val, data.x_test])
    assert sorted(map(bytes, together)) == sorted(map(bytes, x))
    # preprocessing is fitted on the training split only
    standardized = data.transform.eval()(data.x_train)
    assert abs(standardized.mean()) < 1e-5 and standardized.std() == pytest.approx(1, abs=1e-4)
    assert abs(data.transform(data.x_test).mean()) > 1e-3
    # everything is seeded: a second build is identical
    again = from_file(workdir / "run.toml")
    for (name, p), (_, q) in zip(run.model.named_parameters(), again.model.named_parameters(),
                                 strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    data.transform.train()
    again.data.transform.train()
    for a, b in zip(next(iter(data.train_loader)), next(iter(again.data.train_loader)),
                    strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_a_built_run_trains(workdir):
    run = from_file(workdir / "run.toml")
    history = run.trainer().fit(run.data.train_loader, run.data.val_loader, epochs=run.epochs,
                                early_stopping=run.early_stopping)
    assert history["lr"] == [0.1, 0.05]
    assert history["val_accuracy"][-1] > 0.8


def test_network_samplers_and_ready_made_splits(workdir):
    x, y = images()
    np.savez(workdir / "splits.npz", x_train=x[:80], y_train=y[:80], x_test=x[80:],
             y_test=y[80:])
    text = CONFIG.replace('path = "data.npz"', 'path = "splits.npz"\nsampler = "stratified"')
    text = text.replace('monitor = "val_loss"', 'monitor = "loss"')
    text = text[:text.index("[model]")] + textwrap.dedent("""\
        [model]
        inputs = ["x"]
        nodes = [
            { name = "flat", type = "flatten", inputs = ["x"] },
            { name = "hidden", type = "linear", in_features = 16, out_features = 16 },
            { name = "act", type = "tanh" },
            { name = "skip", type = "add", inputs = ["act", "flat"] },
            { name = "out", type = "linear", in_features = 16, out_features = 2 },
        ]
        """) + text[text.index("[loss]"):]
    run = from_file(write(workdir, text))
    assert isinstance(run.model, gg.Network)
    assert run.model.layer_names() == ["flat", "hidden", "act", "skip", "out"]
    assert len(run.data.x_train) == 80 and run.data.x_val is None and run.data.val_loader is None
    assert isinstance(run.data.train_loader.sampler, StratifiedSampler)
    out = run.model(gg.tensor(run.data.transform.eval()(x[:3])))
    assert out.shape == (3, 2)

    hard = edited(workdir, "batch_size = 16", "batch_size = 16\nsampler = { type = "
                                              "\"hard_example\", floor = 0.2 }")
    sampler = from_file(hard).data.train_loader.sampler
    assert isinstance(sampler, HardExampleSampler) and sampler.floor == 0.2


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("old,new,message", [
    ("[train]", "[training]", r"unknown key\(s\) \['training'\]; valid keys: \['babysit', "),
    ("batch_size = 16", "batchsize = 16", r"\[data\]: unknown key\(s\) \['batchsize'\]; valid "
                                          r"keys: \['batch_size'"),
    ("progress = false", "progres = false", r"\[train\]: unknown key\(s\) \['progres'\]"),
    ("in_features = 16, out", "in_feature = 16, out",
     r"\[model.layers\[1\]\] linear: unknown key\(s\) \['in_feature'\]; valid keys: "
     r"\['in_features', 'out_features', 'bias', 'init'"),
    ('{ type = "relu" }', '{ type = "relux" }', r"no layers component named 'relux'; did you "
                                                r"mean 'relu'"),
    ("momentum = 0.9", "momentom = 0.9", r"\[optimizer\] sgd: unknown key\(s\) \['momentom'\]; "
                                         r"valid keys: \['lr', 'momentum', 'nesterov'"),
    ("lr = 0.1", "lr = -1.0", r"\[optimizer\] sgd: SGD: lr must be a finite number"),
    ("step_size = 1\n", "", r"\[schedule\] step_decay: .*step_size"),
    ("patience = 3", "patients = 3", r"\[early_stopping\]: unknown key\(s\) \['patients'\]; "
                                     r"valid keys: \['min_delta', 'mode', 'monitor'"),
    ("epochs = 2", "epochs = 0", r"\[train\] epochs must be a positive integer"),
    ("batch_size = 16", "batch_size = 16\nsampler = 5",
     r"\[data\] sampler must be one of \['random', 'stratified', 'hard_example'\].*got 5"),
    ('path = "data.npz"', 'path = "nowhere.npz"', r"\[data\] path: no file at"),
    ('source = "npz"', 'source = "mnist"', r"\[data\] source must be 'digits' or 'npz'"),
    ("val_fraction = 0.25", "val_fraction = 0.0", r"monitor = 'val_loss' needs validation"),
    ('{ type = "random_flip" },', '{ type = "random_flip", p = 2.0 },',
     r"\[data.transforms\[1\]\] random_flip: RandomFlip: p must be in \[0, 1\]"),
    ("in_features = 16, out_features = 8", "in_features = 16, out_features = 4.5",
     r"\[model.layers\[1\]\] linear: Linear: out_features must be an integer >= 1, got 4.5"),
    ("[loss]\n", "[babysit]\nn_overfitt = 5\n\n[loss]\n",
     r"\[babysit\]: unknown key\(s\) \['n_overfitt'\]; valid keys: \[.*'n_overfit'"),
])
def test_config_errors_name_the_section_and_the_valid_keys(workdir, old, new, message):
    with pytest.raises(ConfigError, match=message):
        from_file(edited(workdir, old, new))


def test_structural_errors(workdir):
    without_optimizer = CONFIG[:CONFIG.index("[optimizer]")] + CONFIG[CONFIG.index("[schedule]"):]
    with pytest.raises(ConfigError, match=r"lacks the table\(s\) \['optimizer'\]"):
        from_file(write(workdir, without_optimizer))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        from_file(write(workdir, CONFIG.replace("seed = 3", "seed = ")))
    with pytest.raises(ConfigError, match=r"\[model\] needs layers"):
        build_run({**load_config(workdir / "run.toml"), "model": {"inputs": ["x"]}}, workdir)
    bad_net = {"inputs": ["x"], "nodes": [{"name": "a", "type": "relu", "inputs": ["y"]}]}
    with pytest.raises(ConfigError, match=r"network is not valid: .*missing input node.*'y'"):
        build_run({**load_config(workdir / "run.toml"), "model": bad_net}, workdir)
    np.savez(workdir / "other.npz", features=np.zeros((4, 2)))
    with pytest.raises(ConfigError, match=r"holds \['features'\]; it needs 'x' and 'y'"):
        from_file(edited(workdir, 'path = "data.npz"', 'path = "other.npz"'))


# -- the commands ---------------------------------------------------------------------------


def test_graphgrad_train_writes_a_run_folder_and_resumes(workdir, capsys):
    assert main(["train", "run.toml"]) == 0
    out = capsys.readouterr().out
    assert "epoch   2/2  loss" in out and "test: loss" in out
    folder = workdir / "runs" / "run"
    names = {p.name for p in folder.iterdir()}
    assert {"checkpoint.npz", "history.json", "curves.png", "model.npz", "metrics.json",
            "config.json", "graph.dot"} <= names
    assert f"wrote {len(names)} files to" in out  # the count names every file written
    history = json.loads((folder / "history.json").read_text())
    assert [row["epoch"] for row in history["epochs"]] == [0, 1]
    assert json.loads((folder / "config.json").read_text()) == load_config("run.toml")

    assert main(["train", "run.toml"]) == 2  # would overwrite the run
    assert "already holds a checkpoint; pass --resume" in capsys.readouterr().err

    write(workdir, CONFIG.replace("epochs = 2", "epochs = 3"))
    assert main(["train", "edited.toml", "--out", "runs/run", "--resume"]) == 0
    resumed = json.loads((folder / "history.json").read_text())["epochs"]
    assert [row["epoch"] for row in resumed] == [0, 1, 2]
    assert resumed[:2] == history["epochs"]
    assert "epoch   3/3" in capsys.readouterr().out


def test_graphgrad_train_reports_config_errors(workdir, capsys):
    edited(workdir, "momentum = 0.9", "momentom = 0.9")
    assert main(["train", "edited.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphgrad train: error: edited.toml: [optimizer] sgd: unknown key")
    assert main(["train", "missing.toml"]) == 2
    assert "no config file at 'missing.toml'" in capsys.readouterr().err


def test_graphgrad_babysit_prints_the_report(workdir, capsys):
    assert main(["babysit", "run.toml"]) == 0
    out = capsys.readouterr().out
    assert "gradient_check  OK" in out and "babysit:" in out
    assert main(["babysit", "run.toml", "--json", "--lr-find"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["babysit"]["ok"] is True
    assert len(payload["lr_find"]["lrs"]) == 11 and payload["lr_find"]["suggestion"] > 0

    edited(workdir, "lr = 0.1", "lr = 50.0")
    assert main(["babysit", "edited.toml"]) == 1  # a failed check: the rate is far too high
    assert "update_ratio    FAIL" in capsys.readouterr().out
