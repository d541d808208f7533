"""Rank 0's values on every rank: parameters, optimizer state, JSON-able states.

At the start of data-parallel training every rank must hold the same model
and optimizer state, whatever its own initialisation drew; after these
broadcasts they are rank 0's, bit for bit.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from graphgrad.distributed import world


def broadcast_array(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite ``array`` (C-contiguous, writable) with rank ``root``'s, in place."""
    comm = world.comm()
    if comm is not None and array.size:
        if not array.flags.c_contiguous or not array.flags.writeable:
            raise ValueError("graphgrad.distributed.broadcast_array: the array must be "
                             f"C-contiguous and writable, got flags {array.flags}")
        comm.Bcast(array, root=root)
    return array


def broadcast_json(value: Any, root: int = 0) -> Any:
    """Rank ``root``'s ``value`` (plain JSON-able data) on every rank; no pickle."""
    comm = world.comm()
    if comm is None:
        return value
    data = json.dumps(value).encode() if comm.Get_rank() == root else b""
    size = np.array([len(data)], dtype=np.int64)
    comm.Bcast(size, root=root)
    buffer = np.frombuffer(data, dtype=np.uint8).copy() if data else np.empty(
        int(size[0]), dtype=np.uint8)
    comm.Bcast(buffer, root=root)
    return json.loads(buffer.tobytes().decode())


def broadcast_parameters(params, root: int = 0) -> None:
    """Every parameter's data becomes rank ``root``'s (in place, version bumped)."""
    for p in params:
        broadcast_array(p.data, root)
        version = getattr(p, "_version", None)
        if version is not None:
            version[0] += 1


def broadcast_optimizer_state(optimizer, root: int = 0) -> None:
    """The optimizer's per-parameter state becomes rank ``root``'s.

    Rank ``root`` sends the layout (per parameter: its state keys, array shapes
    and dtypes, Python numbers) as JSON; the others create missing entries, then
    every array is broadcast in place. Hyperparameters are not sent: every rank
    builds the optimizer from the same config or code.
    """
    params = [p for g in optimizer.param_groups for p in g["params"]]
    layout = []
    for p in params:
        entry = {}
        for k, v in sorted(optimizer.state.get(p, {}).items()):
            if isinstance(v, np.ndarray):
                entry[k] = {"shape": list(v.shape), "dtype": v.dtype.str}
            else:
                entry[k] = {"value": v.item() if isinstance(v, np.generic) else v}
        layout.append(entry)
    layout = broadcast_json(layout, root)
    for p, entry in zip(params, layout):
        if not entry:
            continue
        state = optimizer.state.setdefault(p, {})
        for k, spec in entry.items():
            if "value" in spec:
                state[k] = spec["value"]
                continue
            a = state.get(k)
            if (not isinstance(a, np.ndarray) or list(a.shape) != spec["shape"]
                    or a.dtype.str != spec["dtype"] or not a.flags.c_contiguous):
                a = state[k] = np.zeros(spec["shape"], dtype=np.dtype(spec["dtype"]))
            broadcast_array(a, root)
