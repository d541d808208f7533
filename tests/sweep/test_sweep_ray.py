"""Sweeps on a real local Ray of 2 CPUs (needs the sweep extra, which CI installs).

One Ray for the module, always shut down. The sweeps train the digits MLP for a
couple of epochs on a few hundred samples, so that Ray's start-up dominates.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.sweep
pytest.importorskip("sklearn")
ray = pytest.importorskip("ray")

from graphgrad.cli import main  # noqa: E402
from graphgrad.config import build_run, load_config  # noqa: E402
from graphgrad.sweep import resume, sweep  # noqa: E402

CONFIG = """\
seed = 0

[data]
source = "digits"
layout = "flat"
max_samples = 600
val_fraction = 0.2
test_fraction = 0.1
batch_size = 32
transforms = [{{ type = "standardize" }}]

[model]
layers = [
    {{ type = "linear", in_features = 64, out_features = 32 }},
    {{ type = "relu" }},
    {{ type = "linear", in_features = 32, out_features = 10 }},
]

[loss]
type = "cross_entropy"

[optimizer]
type = "sgd"
lr = 0.05
momentum = 0.9

[train]
epochs = {epochs}
metrics = ["accuracy"]

[sweep]
metric = "val_accuracy"
mode = "max"
{sweep}

[sweep.space]
{space}
"""


def write_config(folder: Path, epochs: int, sweep: str, space: str) -> Path:
    path = folder / "cfg.toml"
    path.write_text(CONFIG.format(epochs=epochs, sweep=sweep, space=space), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray of 2 CPUs for the module; shut down whatever happens."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_random_sweep_writes_the_table_csv_plots_and_best_config(local_ray, tmp_path, capsys):
    config = write_config(tmp_path, 2, "trials = 4\nsearch = \"random\"\nseed = 3",
                          '"optimizer.lr" = { loguniform = [1e-3, 0.3] }\n'
                          '"optimizer.momentum" = { uniform = [0.5, 0.95] }')
    out = tmp_path / "sweep"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    rows = read_csv(out / "results.csv")
    assert len(rows) == 4 and all(r["status"] == "TERMINATED" and r["epochs"] == "2"
                                  for r in rows)
    scores = [float(r["val_accuracy"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert len({r["optimizer.lr"] for r in rows}) == 4  # four different draws
    assert all(1e-3 <= float(r["optimizer.lr"]) <= 0.3 for r in rows)
    table = (out / "results.txt").read_text()
    assert table.splitlines()[0].split()[:4] == ["trial_id", "status", "epochs", "optimizer.lr"]
    assert table.strip() in printed and "best val_accuracy" in printed
    for png in ("hyperparameters.png", "curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    best = load_config(out / "best_config.toml")
    assert "sweep" not in best
    assert best["optimizer"]["lr"] == pytest.approx(float(rows[0]["optimizer.lr"]))
    assert best["optimizer"]["momentum"] == pytest.approx(float(rows[0]["optimizer.momentum"]))
    # the kept checkpoint is the best trial's: loading it reproduces its val accuracy
    run = build_run(best, tmp_path)
    trainer = run.trainer(progress=False).load_checkpoint(out / "best_checkpoint.npz")
    assert trainer.epoch >= 1
    val = trainer.evaluate(run.data.val_loader, prefix="val_")["val_accuracy"]
    assert val == pytest.approx(scores[0], abs=1e-6)


def test_asha_stops_bad_trials_early(local_ray, tmp_path):
    # one trial at a time, good rates first: the tiny rates fall below the rung's median
    config = write_config(tmp_path, 4, "search = \"grid\"\nmax_concurrent = 1\n"
                          "scheduler = { type = \"asha\", grace_period = 1, reduction_factor = 2 }",
                          '"optimizer.lr" = { grid = [0.1, 0.05, 1e-5, 2e-5] }')
    results = sweep(str(config), out=tmp_path / "asha")
    frame = results.dataframe.set_index("optimizer.lr")
    assert len(frame) == 4 and set(frame["status"]) == {"TERMINATED"}
    assert frame.loc[0.1, "epochs"] == 4 and frame.loc[0.1, "status"] == "TERMINATED"
    stopped = frame[(frame["status"] == "TERMINATED") & (frame["epochs"] < 4)]
    assert {1e-5, 2e-5} & set(stopped.index)  # the hopeless rates did not train to the end
    assert results.best_config["optimizer"]["lr"] in (0.1, 0.05)


def test_nan_trials_are_recorded_failed_and_all_failed_exits_non_zero(local_ray, tmp_path,
                                                                       capsys):
    # a NaN loss fails its trial (recorded with its error); when all fail, exit 1. One trial
    # only: a failed trial takes its worker process with it, and a new one costs seconds
    config = write_config(tmp_path, 1, "search = \"grid\"", '"optimizer.lr" = { grid = [1e5] }')
    code = main(["sweep", str(config), "--out", str(tmp_path / "cli"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert "all 1 trials failed; the first errors: trial" in captured.err
    assert "NonFiniteLossError: Trainer.fit: the training loss is" in captured.err
    rows = read_csv(tmp_path / "cli" / "results.csv")
    assert [r["status"] for r in rows] == ["FAILED"]
    assert all("NonFiniteLossError" in r["error"] for r in rows)


def _finished(folder: Path, epochs: int) -> list[Path]:
    done = []
    for trial in folder.glob("trial_*"):
        result = trial / "result.json"
        if result.is_file() and len(result.read_text().splitlines()) >= epochs:
            done.append(trial)
    return done


def test_ctrl_c_leaves_a_folder_that_resumes_without_rerunning_finished_trials(local_ray,
                                                                               tmp_path):
    epochs = 3
    config = write_config(tmp_path, epochs, "trials = 4\nmax_concurrent = 1\nseed = 1",
                          '"optimizer.lr" = { loguniform = [0.01, 0.2] }')
    out = tmp_path / "sweep"
    # a real Ctrl-C: the sweep runs in its own process on this module's Ray
    process = subprocess.Popen(
        [sys.executable, "-m", "graphgrad", "sweep", str(config), "--out", str(out),
         "--quiet", "--address", local_ray],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # The event waited for is observable: two result files with every epoch. The
        # deadline only guards against a hang (a loaded machine may take minutes), it
        # decides nothing; the sweep ending by itself first is reported as such.
        deadline = time.monotonic() + 600
        while len(_finished(out, epochs)) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "two trials did not finish in 600 s (hung?)"
            time.sleep(0.05)
        assert process.poll() is None, ("the sweep ended before two trials had finished:\n"
                                        + process.communicate()[0])
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output
    assert f"graphgrad sweep --resume {out}" in output
    finished = {p.name: (p / "result.json").read_text() for p in _finished(out, epochs)}
    assert 2 <= len(finished) < 4
    results = resume(out)
    rows = results.dataframe
    assert len(rows) == 4 and not results.interrupted
    assert set(rows["status"]) == {"TERMINATED"} and set(rows["epochs"]) == {epochs}
    for name, text in finished.items():  # not rerun: their results are as they were
        assert (out / name / "result.json").read_text() == text
    for trial in out.glob("trial_*"):  # the unfinished ones were trained to the end
        reports = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert reports[-1]["epoch"] == epochs
    assert np.isfinite(results.best_value)
    assert tomllib.loads((out / "best_config.toml").read_text())["train"]["epochs"] == epochs


def test_an_unreachable_address_fails_fast_naming_it(tmp_path, capsys):
    config = write_config(tmp_path, 1, "trials = 1", '"optimizer.lr" = { uniform = [0.01, 0.1] }')
    started = time.monotonic()
    code = main(["sweep", str(config), "--address", "ray://127.0.0.1:9", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and time.monotonic() - started < 30
    assert "cannot reach the Ray cluster at 'ray://127.0.0.1:9'" in err
