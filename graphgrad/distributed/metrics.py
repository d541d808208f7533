"""Metrics over ranks: weighted means and plain sums.
"""

from __future__ import annotations

import numpy as np

from .world import init


def average_metrics(metrics: dict[str, float], weight: float = 1.0) -> dict[str, float]:
    """Weighted mean over ranks: ``sum_r w_r m_r / sum_r w_r`` for every key
    (``weight`` is e.g. this rank's sample count)."""
    comm = init()
    if comm is None:
        return dict(metrics)
    from mpi4py import MPI
    keys = sorted(metrics)
    buf = np.array([float(metrics[k]) * weight for k in keys] + [float(weight)], dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    return {k: float(buf[i] / buf[-1]) for i, k in enumerate(keys)}


def sum_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """``sum_r values_r[k]`` for every key ``k`` (every rank passes the same keys);
    ints stay ints.  Used for the running sums of the epoch metrics."""
    comm = init()
    if comm is None:
        return dict(values)
    from mpi4py import MPI
    keys = sorted(values)
    buf = np.array([float(values[k]) for k in keys], dtype=np.float64)
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    return {k: int(v) if isinstance(values[k], (int, np.integer)) else float(v)
            for k, v in zip(keys, buf)}
