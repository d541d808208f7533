"""Data-parallel training over MPI (``mpiexec -n N``).

mpi4py is imported lazily, on the first call that needs a communicator:
``import graphgrad`` never imports it.  Without mpi4py, or in a process not
started by ``mpiexec`` (world size 1), every function here behaves as a world
of one: ``rank() == 0``, ``world_size() == 1``, reductions are identities.

- :mod:`.world` — the communicator, rank, size, barrier, rank-0 saving, abort;
- :mod:`.gradients` — the weighted all-reduce of the gradients (flat per dtype);
- :mod:`.broadcast` — rank 0's parameters and optimizer state on every rank;
- :mod:`.metrics` — metrics averaged or summed over ranks;
- :mod:`.sampler` — the DistributedSampler and a global batch's slice per rank.
"""

from .broadcast import broadcast_object, broadcast_optimizer_state, broadcast_parameters
from .gradients import GradientAllReduce, allreduce_gradients
from .metrics import average_metrics, sum_over_ranks
from .sampler import DistributedSampler, shard_batch
from .world import (abort_on_error, allgather_int, barrier, init, is_main, rank, save_on_main,
                    world_size)

__all__ = [
    "init", "rank", "world_size", "is_main", "barrier", "allgather_int", "abort_on_error",
    "save_on_main", "GradientAllReduce", "allreduce_gradients", "broadcast_parameters",
    "broadcast_object", "broadcast_optimizer_state", "average_metrics", "sum_over_ranks",
    "DistributedSampler", "shard_batch",
]

