"""A checkpoint taken in the middle of an epoch resumes bit-identically (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.data import ArrayDataset, DataLoader, HardExampleSampler
from graphgrad.training.callbacks import Callback, SaveCheckpoint


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _build(kind):
    gg.manual_seed(11)  # dropout draws from the global generator
    model = gg.Sequential(gg.layers.Linear(4, 16, rng=0), gg.layers.ReLU(),
                          gg.layers.Dropout(0.3), gg.layers.Linear(16, 2, rng=1))
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = gg.schedules.StepDecay(opt, step_size=3, gamma=0.5)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(), opt, sched, progress=False,
                         schedule_interval="step")
    x, y = _data()
    if kind == "hard_example":
        sampler = HardExampleSampler(len(x), floor=0.2, cap=4.0, seed=3)
        train = DataLoader(ArrayDataset(x, y), batch_size=8, sampler=sampler)
    else:
        train = DataLoader(ArrayDataset(x, y), batch_size=8, seed=5)
    return trainer, train


class _Stop(Exception):
    pass


class _InterruptAt(Callback):
    """Save a checkpoint after batch `batch` of epoch `epoch`, then stop the run."""

    def __init__(self, path, epoch, batch):
        self.path, self.epoch, self.batch = path, epoch, batch

    def on_batch_end(self, trainer, batch):
        if trainer.epoch == self.epoch and batch == self.batch:
            trainer.save_checkpoint(self.path)
            raise _Stop


def _rows(history):
    return [{k: v for k, v in row.items() if k != "time"} for row in history.rows] \
        if hasattr(history, "rows") else [
            {k: history[k][i] for k in history.keys() if k != "time"} for i in range(len(history))]


@pytest.mark.parametrize("kind", ["shuffle", "hard_example"])
def test_mid_epoch_checkpoint_resumes_bit_identically(tmp_path, kind):
    straight, loader = _build(kind)
    straight.fit(loader, epochs=3)

    interrupted, loader = _build(kind)
    path = tmp_path / "mid.npz"
    with pytest.raises(_Stop):
        interrupted.fit(loader, epochs=3, callbacks=[_InterruptAt(path, epoch=1, batch=3)])

    gg.manual_seed(999)  # the resumed process starts from other random states
    resumed, loader = _build(kind)
    resumed.load_checkpoint(path)
    assert resumed.epoch == 1 and resumed.step == 8 + 4
    resumed.fit(loader, epochs=3)

    assert resumed.step == straight.step
    for (name, a), (_, b) in zip(straight.model.state_dict().items(),
                                 resumed.model.state_dict().items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert _rows(resumed.history) == _rows(straight.history)
    if kind == "hard_example":
        np.testing.assert_array_equal(loader.sampler.losses,
                                      straight.train_loader.sampler.losses)


def test_save_checkpoint_every_batches_and_a_between_epoch_checkpoint_has_no_position(tmp_path):
    trainer, loader = _build("shuffle")
    path = tmp_path / "ckpt.npz"
    trainer.fit(loader, epochs=1, callbacks=[SaveCheckpoint(path, every=1, every_batches=3)])
    from graphgrad.serialize import load_npz

    _, meta = load_npz(path)  # the last write is the end-of-epoch one
    assert meta["in_epoch"] is None
    assert "epoch" not in meta["loaders"]["train"]
    trainer, loader = _build("shuffle")
    saved = []

    class Keep(Callback):
        def on_batch_end(self, trainer, batch):
            if batch == 2:
                saved.append(load_npz(path)[1])

    trainer.fit(loader, epochs=1, callbacks=[SaveCheckpoint(path, every_batches=3), Keep()])
    assert saved[0]["in_epoch"]["batch"] == 3
    assert saved[0]["loaders"]["train"]["epoch"]["position"] == 3
