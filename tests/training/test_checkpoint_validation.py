"""Damaged files: any unreadable model or checkpoint is the documented corrupt-file error,
and a checkpoint with an incomplete record changes nothing (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.data import ArrayDataset, DataLoader
from graphgrad.serialize import META_KEY, SerializationError, load_npz, save_npz_atomic
from graphgrad.training.checkpoint import CheckpointError


def _model(seed=0):
    return gg.Sequential(gg.layers.Linear(3, 4, rng=seed), gg.layers.ReLU(),
                         gg.layers.Linear(4, 2, rng=seed + 1))


def _trainer(model):
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return gg.Trainer(model, gg.losses.CrossEntropy(), opt,
                      gg.schedules.StepDecay(opt, step_size=1, gamma=0.5), progress=False)


def _state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_a_flipped_byte_anywhere_in_a_saved_model_is_a_serialization_error_or_harmless(tmp_path):
    model = _model()
    path = tmp_path / "model.npz"
    model.save(path)
    good = path.read_bytes()
    errors = 0
    fresh = _model(seed=7)
    before = _state(fresh)
    for i in range(0, len(good), 5):  # headers, directory, data, metadata alike
        damaged = bytearray(good)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            fresh.load(path)
        except SerializationError:
            errors += 1
            for k, v in fresh.state_dict().items():  # a failed load changes nothing
                np.testing.assert_array_equal(v, before[k])
        except (ValueError, KeyError) as exc:  # load's own checks (names, shapes), clear
            assert "model.npz" in str(exc) or "load" in str(exc), exc
            errors += 1
        else:
            fresh.load_state_dict(before)
    assert errors > len(range(0, len(good), 5)) // 2  # most damage is detected (CRCs, headers)


def test_zip_version_damage_is_the_corrupt_file_error(tmp_path):
    path = save_npz_atomic(tmp_path / "a.npz", {"w": np.ones(3)})
    data = bytearray(path.read_bytes())
    # "version needed to extract" in the central directory: 21.0 (zipfile raised
    # NotImplementedError: zip file version 21.0)
    central = data.index(b"PK\x01\x02")
    data[central + 6] = 210
    path.write_bytes(bytes(data))
    with pytest.raises(SerializationError, match="corrupt or truncated"):
        load_npz(path)


def test_metadata_that_is_not_an_object_is_the_corrupt_file_error(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(open(path, "wb"), w=np.ones(2), **{META_KEY: np.array("[1, 2]")})
    with pytest.raises(SerializationError, match="not valid JSON"):
        load_npz(path)


@pytest.mark.parametrize("drop", ["history", "epoch", "module_rngs", "rng", "loaders"])
def test_incomplete_checkpoint_record_changes_nothing(tmp_path, drop):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    trainer = _trainer(_model())
    trainer.fit(DataLoader(ArrayDataset(x, y), batch_size=8, seed=1), epochs=2)
    path = trainer.save_checkpoint(tmp_path / "ckpt.npz")
    arrays, meta = load_npz(path)
    del meta[drop]
    broken = save_npz_atomic(tmp_path / "broken.npz", arrays, meta)

    other = _trainer(_model(seed=5))
    before = _state(other.model)
    opt_before = other.optimizer.state_dict()
    with pytest.raises(CheckpointError, match=rf"lacks \['{drop}'\].*nothing was loaded"):
        other.load_checkpoint(broken)
    for k, v in other.model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert other.epoch == 0 and other.step == 0
    assert other.optimizer.state_dict()["param_groups"] == opt_before["param_groups"]


def test_damaged_checkpoint_record_changes_nothing(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    trainer = _trainer(_model())
    trainer.fit(DataLoader(ArrayDataset(x, y), batch_size=8, seed=1), epochs=1)
    path = trainer.save_checkpoint(tmp_path / "ckpt.npz")
    arrays, meta = load_npz(path)
    meta["rng"] = {"bit_generator": "NoSuchGenerator", "state": {}}
    broken = save_npz_atomic(tmp_path / "broken.npz", arrays, meta)
    other = _trainer(_model(seed=5))
    before = _state(other.model)
    with pytest.raises(CheckpointError, match="record is damaged.*nothing was loaded"):
        other.load_checkpoint(broken)
    for k, v in other.model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
