"""Atomic, code-free storage of named arrays: ``.npz`` plus a JSON metadata record.

A file is written to a temporary file in the destination's directory, flushed
and fsync'ed, then moved over the destination with ``os.replace`` (atomic on
POSIX and Windows).  A crash mid-write leaves the previous file intact, never a
half-written one.  Loading uses ``allow_pickle=False``, so a file can hold only
plain numeric/bool/string arrays and can never run code.

The metadata dict is stored as JSON text in the reserved entry ``META_KEY``.
Used by ``Module.save``/``Module.load`` and by the trainer's checkpoints;
``atomic_open`` and ``write_text_atomic`` are the same atomic write for any
other file a user keeps (histories, run records, Graphviz sources).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

META_KEY = "__graphgrad_meta__"


class SerializationError(ValueError):
    """A file could not be written or read as a graphgrad .npz archive."""


def _check_arrays(arrays: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    checked = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name == META_KEY or "/" in name:
            raise SerializationError(
                f"save_npz_atomic({str(path)!r}): array name {name!r} is not allowed; use a "
                f"non-empty string without '/' other than {META_KEY!r}"
            )
        arr = np.asarray(value)  # a Tensor converts through __array__
        if arr.dtype.hasobject:
            raise SerializationError(
                f"save_npz_atomic({str(path)!r}): array {name!r} has dtype object, which "
                "cannot be stored without pickle; convert it to a numeric array"
            )
        checked[name] = arr
    return checked


def save_npz_atomic(path, arrays: dict[str, Any], meta: dict[str, Any] | None = None,
                    compress: bool = False) -> Path:
    """Write ``arrays`` (name → ndarray) and ``meta`` (a JSON-able dict) to ``path`` atomically.

    The file is named exactly ``path`` (no ``.npz`` is appended).  Steps: write a
    temporary file next to it, ``flush`` + ``fsync``, ``os.replace`` onto
    ``path``, then fsync the directory so the rename itself survives a crash.
    Returns the path written.
    """
    path = Path(path)
    arrays = _check_arrays(dict(arrays), path)
    try:
        meta_text = json.dumps({} if meta is None else meta, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise SerializationError(
            f"save_npz_atomic({str(path)!r}): meta must be JSON-serialisable ({exc})"
        ) from exc
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(
            f"save_npz_atomic: directory {str(directory)!r} does not exist; create it first"
        )
    with atomic_open(path, "wb") as f:
        writer = np.savez_compressed if compress else np.savez
        writer(f, **arrays, **{META_KEY: np.array(meta_text)})
    return path


@contextmanager
def atomic_open(path, mode: str = "wb", **open_kwargs) -> Iterator[IO]:
    """Open a temporary file next to `path` for writing; on a clean exit move it onto `path`.

    The one way graphgrad writes a file a user keeps: the temporary file is
    flushed and fsync'ed, ``os.replace``'d over `path` (atomic on POSIX and
    Windows), then the directory is fsync'ed so the rename survives a crash.  If
    the block raises, the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see ``atomic_open``); returns the path."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_npz(path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by ``save_npz_atomic``: returns ``(arrays, meta)``.

    Any ``.npz`` without pickled entries can be read (its meta is then ``{}``).
    A missing file raises ``FileNotFoundError``; a truncated, corrupt or
    pickle-requiring file raises ``SerializationError`` naming the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"load_npz: no file at {str(path)!r}; check the path (a file saved with "
            "Module.save / save_npz_atomic is named exactly as given)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a corrupt file
        # zipfile alone raises BadZipFile, NotImplementedError ("zip file version
        # 21.0" after a flipped byte), RuntimeError, zlib.error, struct.error...
        raise SerializationError(
            f"load_npz: {str(path)!r} is not a readable .npz archive ({type(exc).__name__}: "
            f"{exc}); the file is corrupt or truncated, or holds pickled objects, which "
            "graphgrad never loads"
        ) from exc
    meta: dict[str, Any] = {}
    if META_KEY in arrays:
        text = arrays.pop(META_KEY)
        try:
            meta = json.loads(str(text))
            if not isinstance(meta, dict):
                raise json.JSONDecodeError("the record is not a JSON object", str(text), 0)
        except json.JSONDecodeError as exc:
            raise SerializationError(
                f"load_npz: the metadata record of {str(path)!r} is not valid JSON ({exc})"
            ) from exc
    return arrays, meta
