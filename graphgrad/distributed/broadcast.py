"""Rank 0's parameters, optimizer state and JSON-able objects on every rank (no pickle).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .world import init


def broadcast_parameters(params: Iterable[Any], root: int = 0) -> None:
    """Overwrite every parameter's data in place with rank ``root``'s values."""
    comm = init()
    if comm is None:
        return
    for p in params:
        buf = np.ascontiguousarray(p.data)
        comm.Bcast(buf, root=root)
        if buf is not p.data:
            p.data[...] = buf


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Rank ``root``'s ``obj`` on every rank (JSON-able data: optimizer state,
    sampler state).  Serialised as JSON, not pickle."""
    comm = init()
    if comm is None:
        return obj
    import json
    text = json.dumps(obj) if comm.Get_rank() == root else None
    return json.loads(comm.bcast(text, root=root))


def broadcast_optimizer_state(optimizer: Any, root: int = 0) -> None:
    """Make every rank's optimizer state rank ``root``'s (arrays in the state
    are broadcast buffer by buffer, in ``state_dict`` order)."""
    comm = init()
    if comm is None:
        return
    state = optimizer.state_dict()
    for arr in _arrays(state):
        comm.Bcast(arr, root=root)
    optimizer.load_state_dict(state)


def _arrays(obj: Any) -> Iterator[np.ndarray]:
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            yield from _arrays(obj[k])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _arrays(v)
