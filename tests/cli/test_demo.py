"""`graphgrad demo`: the digits MLP (smoke run, full run's accuracy, missing scikit-learn)."""

from __future__ import annotations

import re
import sys
import warnings

import pytest

from graphgrad.cli import main
from graphgrad.cli.demo import DEMO_CONFIG, demo_config, run_demo

pytest.importorskip("sklearn")

EPOCH_LINE = re.compile(r"^epoch +(\d+)/(\d+)  loss ([0-9.]+)  accuracy ([0-9.]+)  "
                        r"val_loss ([0-9.]+)", re.MULTILINE)


def test_quick_demo_prints_falling_losses_and_the_test_accuracy(capsys):
    assert main(["demo", "--quick", "--no-progress"]) == 0
    out = capsys.readouterr().out
    epochs = EPOCH_LINE.findall(out)
    assert [int(e[0]) for e in epochs] == [1, 2, 3, 4, 5]
    losses = [float(e[2]) for e in epochs]
    assert losses[-1] < losses[0]
    assert re.search(r"^test accuracy: \d+\.\d\d% \(target 97%\)", out, re.MULTILINE)
    assert "280 training / 40 validation / 80 test images" in out


def test_quick_cnn_demo_trains_the_cnn_on_the_same_split(capsys):
    assert main(["demo", "--model", "cnn", "--quick", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "a CNN (conv 1->8 3x3, conv 8->16 3x3" in out
    epochs = EPOCH_LINE.findall(out)
    assert [int(e[0]) for e in epochs] == [1, 2, 3]
    assert float(epochs[-1][2]) < float(epochs[0][2])
    assert re.search(r"^test accuracy: \d+\.\d\d% \(target 99%\)", out, re.MULTILINE)
    assert "280 training / 40 validation / 80 test images" in out  # the MLP's quick split


def test_cnn_demo_config():
    config = demo_config(model="cnn")
    types = [layer["type"] for layer in config["model"]["layers"]]
    assert types.count("conv2d") == 2 and types.count("max_pool2d") == 2
    assert config["data"] == DEMO_CONFIG["data"]
    assert DEMO_CONFIG["model"]["layers"][0]["type"] == "flatten"  # the MLP stays the default
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        demo_config(model="resnet")


def test_demo_writes_a_run_folder_when_asked(tmp_path, capsys):
    result = run_demo(quick=True, epochs=2, out_dir=tmp_path, progress=False)
    capsys.readouterr()
    assert result["epochs"] == 2
    assert (tmp_path / "history.json").is_file() and (tmp_path / "checkpoint.npz").is_file()
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_full_demo_reaches_the_target_accuracy(capsys):
    result = run_demo(progress=False)
    out = capsys.readouterr().out
    assert result["test_accuracy"] >= 0.97, out
    assert result["reached"]
    losses = [float(e[2]) for e in EPOCH_LINE.findall(out)]
    assert losses[-1] < 0.25 * losses[0]


def test_full_cnn_demo_reaches_its_target(capsys):
    # The last epoch's model is tested (no early stopping): on this split it reached
    # 99.16-99.72 % under every BLAS kernel tried, where the epoch of the lowest
    # validation loss moved between 97.5 % and 100 % with the rounding (docs/training.md).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_demo(model="cnn", progress=False)
    out = capsys.readouterr().out
    assert result["epochs"] == 25 and "restored" not in out
    assert result["test_accuracy"] >= 0.99 and result["reached"], out
    fallbacks = [str(w.message) for w in caught if "eager" in str(w.message)]
    assert not fallbacks  # the compiled step replays, it never falls back


def test_demo_config_variants():
    quick = demo_config(quick=True)
    assert quick["data"]["max_samples"] == 400 and quick["train"]["epochs"] == 5
    assert demo_config(epochs=7)["schedule"]["T_max"] == 7
    assert "max_samples" not in DEMO_CONFIG["data"]  # the variants never change the original


def test_missing_scikit_learn_names_the_examples_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["demo", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "needs scikit-learn" in err and "graphgrad[examples]" in err


@pytest.mark.parametrize("command", ["train", "babysit", "demo"])
def test_each_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert f"usage: graphgrad {command}" in capsys.readouterr().out
