"""Trainer, History, EarlyStopping, checkpoints/resume, NaN stop and the event hooks."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import registry
from graphgrad.data import ArrayDataset, DataLoader, HardExampleSampler
from graphgrad.training.callbacks import Callback, EpochLogger, SaveCheckpoint
from graphgrad.training.checkpoint import CheckpointError
from graphgrad.training.metrics import accuracy
from graphgrad.training.trainer import NonFiniteLossError


def blobs(n=120, d=4, seed=0):
    """Two Gaussian classes separated along the first two features."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[:, :2] += (2.0 * y[:, None] - 1.0) * 1.5
    return x, y.astype(np.int64)


def mlp(d=4, hidden=8, classes=2, dropout=0.0, seed=0):
    layers = [gg.layers.Linear(d, hidden, rng=seed), gg.layers.ReLU()]
    if dropout:
        layers.append(gg.layers.Dropout(dropout))
    return gg.Sequential(*layers, gg.layers.Linear(hidden, classes, rng=seed + 1))


def make_trainer(model, lr=0.1, momentum=0.9, schedule=True, **kwargs):
    opt = gg.optimizers.SGD(model.parameters(), lr=lr, momentum=momentum)
    sched = gg.schedules.StepDecay(opt, step_size=2, gamma=0.5) if schedule else None
    return gg.Trainer(model, gg.losses.CrossEntropy(), opt, sched, progress=False, **kwargs)


def loaders(x, y, split=80, seed=1, batch_size=16):
    train = DataLoader(ArrayDataset(x[:split], y[:split]), batch_size=batch_size, seed=seed)
    val = DataLoader(ArrayDataset(x[split:], y[split:]), batch_size=64, shuffle=False)
    return train, val


def params(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


# -- fit, history, evaluate, predict --------------------------------------------------


def test_fit_learns_and_records_history(tmp_path):
    x, y = blobs()
    model = mlp()
    trainer = make_trainer(model)
    train, val = loaders(x, y)
    history = trainer.fit(train, val, epochs=6)
    assert len(history) == 6 and trainer.epoch == 6
    assert trainer.step == 6 * len(train)
    assert history.keys() == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                              "time"]
    assert history["epoch"] == list(range(6))
    assert history["lr"] == [0.1 * 0.5 ** (e // 2) for e in range(6)]  # StepDecay formula
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.9
    # the last validation row equals evaluate() and an independent NumPy computation
    metrics = trainer.evaluate(val)
    assert metrics["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    logits = trainer.predict(x[80:])
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    nll = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), y[80:]]
    assert metrics["loss"] == pytest.approx(nll.mean(), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y[80:]))
    assert model.training  # evaluate/predict restore the mode

    path = history.save(tmp_path / "history.json")
    again = gg.History.load(path)
    assert again.to_dict() == json.loads(json.dumps(history.to_dict()))
    fig = history.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert len(fig.axes) == 3  # loss, accuracy, learning rate


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    history = gg.History([{"epoch": 0, "loss": 1.0}])
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"graphgrad\[examples\]"):
        history.plot()


def test_accuracy_metric_and_errors():
    pred = np.array([[0.1, 0.9], [2.0, -1.0], [0.0, 1.0]])
    assert accuracy(pred, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(pred, np.eye(2)[[1, 0, 0]]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"shape \(N, C\)"):
        accuracy(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        make_trainer(mlp(), metrics=("f1",))

    def agreement(prediction, target):
        return float(np.mean(prediction.argmax(1) == target))

    trainer = make_trainer(mlp(), metrics=("accuracy", agreement))
    x, y = blobs(40)
    trainer.fit(*loaders(x, y, split=30), epochs=1)
    assert trainer.history["agreement"] == trainer.history["accuracy"]


def test_fit_argument_errors():
    x, y = blobs(40)
    trainer = make_trainer(mlp())
    train, _ = loaders(x, y, split=30)
    with pytest.raises(ValueError, match="needs a val_loader"):
        trainer.fit(train, epochs=2, early_stopping=gg.EarlyStopping())
    trainer.fit(train, epochs=1)
    with pytest.raises(ValueError, match="already completed 1"):
        trainer.fit(train, epochs=1)
    with pytest.raises(ValueError, match="schedule_interval"):
        make_trainer(mlp(), schedule_interval="batch")


def test_schedule_interval_step_steps_per_batch():
    x, y = blobs(64)
    trainer = make_trainer(mlp(), schedule_interval="step")
    train = DataLoader(ArrayDataset(x, y), batch_size=32, seed=0)  # 2 steps per epoch
    trainer.fit(train, epochs=3)
    # StepDecay(step_size=2) stepped per batch halves the rate once per epoch here
    assert trainer.history["lr"] == [0.1, 0.05, 0.025]


def test_epoch_logger_prints_one_line_per_epoch():
    x, y = blobs(40)
    out = io.StringIO()
    make_trainer(mlp()).fit(*loaders(x, y, split=30), epochs=2,
                            callbacks=[EpochLogger(file=out)])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch   2/2  loss ")
    assert "val_accuracy" in lines[0]


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    x, y = blobs(40)
    trainer = make_trainer(mlp())
    trainer.progress = True
    trainer.fit(*loaders(x, y, split=30), epochs=1)
    assert capsys.readouterr().out == ""  # pytest's stdout is not a terminal

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    trainer.fit(*loaders(x, y, split=30), epochs=2)
    monkeypatch.undo()
    assert "loss=" in screen.getvalue() and "epoch 2/2" in screen.getvalue()


# -- early stopping ---------------------------------------------------------------------


class Snapshots(Callback):
    """Record the weights after every epoch."""

    def __init__(self):
        self.states = []

    def on_epoch_end(self, trainer, epoch, metrics):
        self.states.append(params(trainer.model))


def test_early_stopping_stops_and_restores_the_best_weights():
    x, y = blobs(120)
    train = DataLoader(ArrayDataset(x[:80], y[:80]), batch_size=16, seed=3)
    # validation labels are flipped: the better the model fits, the worse val_loss gets
    val = DataLoader(ArrayDataset(x[80:], 1 - y[80:]), batch_size=64, shuffle=False)
    model = mlp()
    trainer = make_trainer(model, schedule=False)
    snaps = Snapshots()
    stopper = gg.EarlyStopping(monitor="val_loss", patience=2)
    history = trainer.fit(train, val, epochs=20, callbacks=[snaps], early_stopping=stopper)
    best = int(np.argmin(history["val_loss"]))
    assert history.stop_reason == "early_stopping"
    assert history.best_epoch == best == stopper.best_epoch
    assert len(history) == best + 1 + 2  # patience epochs without improvement
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, snaps.states[best][name])
    assert trainer.evaluate(val)["loss"] == pytest.approx(min(history["val_loss"]), rel=1e-6)


def test_early_stopping_rules_min_delta_and_mode():
    class Fake:
        model = mlp()

    stopper = gg.EarlyStopping(monitor="val_accuracy", patience=2, min_delta=0.05, mode="max",
                               restore_best=False)
    values = [0.5, 0.6, 0.62, 0.64, 0.7, 0.71, 0.72]
    stops = [stopper.on_epoch_end(Fake, e, {"val_accuracy": v}) for e, v in enumerate(values)]
    # improvements (> best + 0.05): epochs 0, 1, 4; stop after 2 epochs without one
    assert stops == [False, False, False, True, False, False, True]
    assert stopper.best == 0.7 and stopper.best_epoch == 4
    with pytest.raises(KeyError, match="monitor 'val_accuracy' is not among"):
        stopper.on_epoch_end(Fake, 7, {"loss": 1.0})
    assert not gg.EarlyStopping().improved(float("nan"))
    with pytest.raises(ValueError, match="mode must be"):
        gg.EarlyStopping(mode="lowest")


# -- checkpoints -----------------------------------------------------------------------


def image_setup(seed=0):
    """Images + augmentation + hard-example sampler + dropout: every kind of random state."""
    rng = np.random.default_rng(42)
    x = rng.standard_normal((96, 1, 4, 4)).astype(np.float32)
    y = (x[:, 0, :2].sum(axis=(1, 2)) > 0).astype(np.int64)
    transform = gg.transforms.Compose([
        gg.transforms.Standardize(mode="global"),
        gg.transforms.RandomFlip(seed=5),
        gg.transforms.Contrast(seed=6),
    ]).fit(x[:64])
    sampler = HardExampleSampler(64, seed=7)
    train = DataLoader(ArrayDataset(x[:64], y[:64]), batch_size=16, sampler=sampler,
                       seed=8, transform=transform)
    val = DataLoader(ArrayDataset(x[64:], y[64:]), batch_size=16, seed=9, transform=transform)
    gg.manual_seed(seed)
    model = gg.Sequential(gg.layers.Flatten(), gg.layers.Linear(16, 12), gg.layers.ReLU(),
                          gg.layers.Dropout(0.2), gg.layers.Linear(12, 2))
    opt = gg.optimizers.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = gg.schedules.StepDecay(opt, step_size=1, gamma=0.8)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(), opt, sched, progress=False)
    stopper = gg.EarlyStopping(monitor="val_loss", patience=10)
    return trainer, train, val, stopper


def without_time(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history.rows]


def test_resume_equals_an_uninterrupted_run(tmp_path):
    straight, train, val, stopper = image_setup()
    straight.fit(train, val, epochs=4, early_stopping=stopper)

    first, train, val, stopper = image_setup()
    first.fit(train, val, epochs=2, early_stopping=stopper)
    path = first.save_checkpoint(tmp_path / "ckpt.npz")
    gg.manual_seed(123)  # anything that happens in between must not matter
    first.fit(train, val, epochs=3)

    fresh, train, val, stopper = image_setup(seed=99)  # different initial weights
    resumed = gg.Trainer.resume(path, fresh.model, fresh.loss, fresh.optimizer, fresh.schedule,
                                progress=False)
    assert resumed.epoch == 2 and resumed.step == 8
    resumed.fit(train, val, epochs=4, early_stopping=stopper)

    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value, err_msg=name)
    assert without_time(resumed.history) == without_time(straight.history)
    assert resumed.optimizer.param_groups[0]["lr"] == straight.optimizer.param_groups[0]["lr"]
    np.testing.assert_array_equal(train.sampler.losses, straight.train_loader.sampler.losses)


def test_corrupt_checkpoint_is_a_clear_error_and_the_file_is_kept(tmp_path, monkeypatch):
    x, y = blobs(40)
    trainer = make_trainer(mlp())
    trainer.fit(*loaders(x, y, split=30), epochs=1)
    path = trainer.save_checkpoint(tmp_path / "ckpt.npz")
    good = path.read_bytes()

    broken = tmp_path / "broken.npz"
    broken.write_bytes(good[: len(good) // 2])
    before = params(trainer.model)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        trainer.load_checkpoint(broken)
    assert broken.read_bytes() == good[: len(good) // 2]
    for name, value in trainer.model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])

    with pytest.raises(CheckpointError, match="no checkpoint at"):
        trainer.load_checkpoint(tmp_path / "missing.npz")
    trainer.model.save(tmp_path / "weights.npz")
    with pytest.raises(CheckpointError, match="not a graphgrad trainer checkpoint"):
        trainer.load_checkpoint(tmp_path / "weights.npz")

    # a save that fails half-way through writing leaves the previous checkpoint intact
    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    trainer.fit(*loaders(x, y, split=30), epochs=2)  # new state to write
    monkeypatch.setattr("graphgrad.serialize.np.savez", disk_full)
    with pytest.raises(CheckpointError, match="No space left.*previous file at that path is "
                                              "unchanged"):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.npz", "ckpt.npz",
                                                          "weights.npz"]  # no temp file left
    monkeypatch.undo()
    trainer.optimizer.param_groups[0]["bad"] = object()  # state that cannot be stored
    with pytest.raises(CheckpointError, match="cannot store a object"):
        trainer.save_checkpoint(path)
    assert path.read_bytes() == good


def test_mismatched_checkpoint_changes_nothing(tmp_path):
    x, y = blobs(40)
    trainer = make_trainer(mlp(hidden=8))
    trainer.fit(*loaders(x, y, split=30), epochs=1)
    path = trainer.save_checkpoint(tmp_path / "ckpt.npz")

    other = make_trainer(mlp(hidden=6, seed=5))
    before = params(other.model)
    with pytest.raises(CheckpointError, match=r"shape mismatch: 0\.weight: checkpoint \(4, 8\) "
                                              r"vs model \(4, 6\)"):
        other.load_checkpoint(path)
    for name, value in other.model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert other.epoch == 0

    model = mlp(hidden=8)
    adam = gg.Trainer(model, gg.losses.CrossEntropy(),
                      gg.optimizers.Adam(model.parameters()), progress=False)
    with pytest.raises(CheckpointError, match="optimizer is SGD, the trainer's is Adam"):
        adam.load_checkpoint(path)


def test_save_checkpoint_callback_writes_every_epoch(tmp_path):
    x, y = blobs(40)
    trainer = make_trainer(mlp())
    trainer.fit(*loaders(x, y, split=30), epochs=2,
                callbacks=[SaveCheckpoint(tmp_path / "last.npz")])
    again = make_trainer(mlp(seed=3)).load_checkpoint(tmp_path / "last.npz")
    assert again.epoch == 2 and len(again.history) == 2


# -- NaN stop and event hooks --------------------------------------------------------------


def test_nan_loss_stops_naming_epoch_and_step():
    x, y = blobs(60)
    x[45, 0] = np.nan  # sample 45: batch 2 of the second epoch with unshuffled batches of 20
    trainer = make_trainer(mlp(), schedule=False)
    clean = DataLoader(ArrayDataset(x[:40], y[:40]), batch_size=20, shuffle=False)
    trainer.fit(clean, epochs=1)
    poisoned = DataLoader(ArrayDataset(x, y), batch_size=20, shuffle=False)
    before = params(trainer.model)
    with pytest.raises(NonFiniteLossError, match=r"is nan at epoch 1 .*batch 2 of that epoch, "
                                                 r"global step 4"):
        trainer.fit(poisoned, epochs=3)
    after = params(trainer.model)
    assert all(np.isfinite(v).all() for v in after.values())
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # batches 0, 1 ran


@pytest.fixture
def fresh_registry():
    registry.reload()
    yield
    registry.reload()


def test_event_hooks_are_called_and_can_stop_training(fresh_registry):
    calls = []

    class Spy:
        @gg.hookimpl
        def graphgrad_train_start(self, trainer):
            calls.append(("start", trainer.epoch))

        @gg.hookimpl
        def graphgrad_epoch_end(self, trainer, epoch, metrics):
            calls.append(("epoch", epoch, round(metrics["loss"], 6)))
            return epoch == 1  # ask to stop after the second epoch

        @gg.hookimpl
        def graphgrad_train_end(self, trainer, history):
            calls.append(("end", len(history)))

    class Quiet:
        @gg.hookimpl
        def graphgrad_epoch_end(self, epoch):  # takes only what it needs; never stops
            calls.append(("quiet", epoch))

    registry.register_plugin(Spy(), name="spy")
    registry.register_plugin(Quiet(), name="quiet")
    x, y = blobs(40)
    trainer = make_trainer(mlp())
    history = trainer.fit(*loaders(x, y, split=30), epochs=5)
    assert history.stop_reason == "plugin" and len(history) == 2
    losses = [round(v, 6) for v in history["loss"]]
    assert calls[0] == ("start", 0) and calls[-1] == ("end", 2)
    assert sorted(calls[1:-1]) == sorted([("epoch", 0, losses[0]), ("quiet", 0),
                                          ("epoch", 1, losses[1]), ("quiet", 1)])


def test_an_epoch_end_hook_returning_a_non_bool_warns_once_and_does_not_stop(fresh_registry):
    class Chatty:
        @gg.hookimpl
        def graphgrad_epoch_end(self, epoch):
            return "no"  # not True: training must go on

    registry.register_plugin(Chatty(), name="chatty")
    x, y = blobs(40)
    trainer = make_trainer(mlp())
    with pytest.warns(UserWarning, match=r"returned 'no' \(str\); only True stops") as caught:
        history = trainer.fit(*loaders(x, y, split=30), epochs=3)
    assert len(history) == 3 and history.stop_reason is None
    assert sum("graphgrad_epoch_end hook" in str(w.message) for w in caught) == 1
