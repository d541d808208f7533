"""Atomic .npz storage (graphgrad/serialize.py)."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.serialize import (
    META_KEY,
    SerializationError,
    atomic_open,
    load_npz,
    save_npz_atomic,
    write_text_atomic,
)


def test_round_trip_keeps_values_dtypes_and_meta(tmp_path):
    arrays = {
        "fc1.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
        "fc1.bias": np.array([1.5, -2.0], dtype=np.float64),
        "steps": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
    }
    meta = {"format": "test", "epoch": 3, "lrs": [0.1, 0.01]}
    path = tmp_path / "model.npz"
    assert save_npz_atomic(path, arrays, meta) == path
    loaded, loaded_meta = load_npz(path)
    assert loaded_meta == meta
    assert set(loaded) == set(arrays)
    for name, arr in arrays.items():
        assert loaded[name].dtype == arr.dtype
        np.testing.assert_array_equal(loaded[name], arr)


def test_tensors_are_stored_as_arrays_and_compression_reads_back(tmp_path):
    t = gg.tensor([[1.0, 2.0]], requires_grad=True)
    path = tmp_path / "c.npz"
    save_npz_atomic(path, {"t": t}, compress=True)
    arrays, meta = load_npz(path)
    np.testing.assert_array_equal(arrays["t"], t.data)
    assert meta == {}


def test_path_is_used_exactly_and_no_temp_file_is_left(tmp_path):
    path = tmp_path / "weights.bin"
    save_npz_atomic(path, {"a": np.zeros(3)})
    assert sorted(os.listdir(tmp_path)) == ["weights.bin"]


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "m.npz"
    save_npz_atomic(path, {"a": np.zeros(3)}, {"v": 1})
    save_npz_atomic(path, {"b": np.ones(2)}, {"v": 2})
    arrays, meta = load_npz(path)
    assert list(arrays) == ["b"] and meta == {"v": 2}


def test_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_npz_atomic(path, {"a": np.arange(4.0)}, {"v": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_npz_atomic(path, {"a": np.zeros(4)}, {"v": 2})
    monkeypatch.undo()
    arrays, meta = load_npz(path)
    np.testing.assert_array_equal(arrays["a"], np.arange(4.0))
    assert meta == {"v": 1}
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_write_text_atomic_replaces_and_a_failed_write_keeps_the_old_text(tmp_path):
    path = tmp_path / "history.json"
    assert write_text_atomic(path, "first\n") == path
    assert write_text_atomic(path, "second ✓\n") == path
    assert path.read_text(encoding="utf-8") == "second ✓\n"
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write("half a fi")
            raise RuntimeError("interrupted")
    assert path.read_text(encoding="utf-8") == "second ✓\n"
    assert sorted(os.listdir(tmp_path)) == ["history.json"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_npz(tmp_path / "nope.npz")


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_npz_atomic(tmp_path / "no" / "m.npz", {"a": np.zeros(1)})


def test_truncated_file_is_a_serialization_error(tmp_path):
    path = tmp_path / "m.npz"
    save_npz_atomic(path, {"a": np.arange(100.0)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SerializationError, match="m.npz"):
        load_npz(path)


def test_garbage_file_is_a_serialization_error(tmp_path):
    path = tmp_path / "g.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(SerializationError, match="not a readable"):
        load_npz(path)


def test_pickled_entries_are_refused(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SerializationError, match="pickle"):
        load_npz(path)


def test_object_arrays_and_bad_names_are_refused_on_save(tmp_path):
    with pytest.raises(SerializationError, match="dtype object"):
        save_npz_atomic(tmp_path / "o.npz", {"o": np.array([None])})
    with pytest.raises(SerializationError, match="not allowed"):
        save_npz_atomic(tmp_path / "o.npz", {META_KEY: np.zeros(1)})
    with pytest.raises(SerializationError, match="JSON"):
        save_npz_atomic(tmp_path / "o.npz", {"a": np.zeros(1)}, {"f": object()})
    assert not list(tmp_path.iterdir())


def test_plain_npz_without_meta_loads(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, x=np.arange(3))
    arrays, meta = load_npz(path)
    assert meta == {} and list(arrays) == ["x"]
    assert zipfile.is_zipfile(path)
