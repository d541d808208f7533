"""Trainer(compile=True) and ``compile = true`` in a config's [train] table."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.config import ConfigError, from_file


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.standard_normal((n, 6)) + y[:, None]).astype(np.float32)
    return x, y


def _fit(compile_flag, schedule_interval="step"):
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.Tanh(), gg.layers.Dropout(0.2),
                          gg.layers.Linear(8, 3))
    opt = gg.optimizers.Adam(model.parameters(), lr=0.01)
    sched = gg.schedules.StepDecay(opt, step_size=5, gamma=0.7)
    x, y = _data()
    loader = gg.data.DataLoader(gg.data.ArrayDataset(x, y), batch_size=20, shuffle=True,
                                seed=1)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(), opt, sched, progress=False,
                         schedule_interval=schedule_interval, compile=compile_flag)
    history = trainer.fit(loader, epochs=4)
    return trainer, history, [p.data.copy() for p in model.parameters()]


def test_trainer_compiled_trains_exactly_like_eager(backend):
    eager, eager_history, eager_params = _fit(False)
    compiled, history, params = _fit(True)
    np.testing.assert_allclose(history["loss"], eager_history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["accuracy"], eager_history["accuracy"])
    for a, b in zip(params, eager_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    step = compiled._compiled
    # batches of 20 and the last one of 16: two signatures, replayed after two recordings
    assert step.replays > 0 and len(step._plans) == 2
    assert compiled.step == eager.step == 20


CONFIG = """\
seed = 1

[data]
source = "npz"
path = "data.npz"
val_fraction = 0.25
batch_size = 16

[model]
layers = [
    { type = "linear", in_features = 6, out_features = 8 },
    { type = "relu" },
    { type = "linear", in_features = 8, out_features = 3 },
]

[loss]
type = "cross_entropy"

[optimizer]
type = "sgd"
lr = 0.1
momentum = 0.9

[train]
epochs = 3
progress = false
"""


def _run(tmp_path, extra):
    x, y = _data()
    np.savez(tmp_path / "data.npz", x=x, y=y)
    path = tmp_path / "run.toml"
    path.write_text(CONFIG + extra)
    run = from_file(path)
    trainer = run.trainer()
    history = trainer.fit(run.data.train_loader, run.data.val_loader, epochs=run.epochs)
    return trainer, history


def test_config_compile_true_uses_a_compiled_trainer(tmp_path):
    eager, eager_history = _run(tmp_path, "")
    compiled, history = _run(tmp_path, "compile = true\n")
    assert not eager.compile and compiled.compile
    assert compiled._compiled is not None and compiled._compiled.replays > 0
    np.testing.assert_allclose(history["loss"], eager_history["loss"], rtol=1e-5)
    np.testing.assert_allclose(history["val_loss"], eager_history["val_loss"], rtol=1e-5)


def test_config_compile_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError, match=r"\[train\] compile must be true or false"):
        _run(tmp_path, "compile = 1\n")
