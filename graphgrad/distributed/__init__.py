"""MPI data parallelism: the same training on 1 process, N processes or a cluster.

    mpiexec -n 2 graphgrad train CONFIG            # or Trainer(..., distributed=True)

``init``/``rank``/``world_size`` describe the world (a world of one without
``mpi4py`` or outside ``mpiexec``; ``mpi4py`` is imported only by ``init``);
``GradientAllReduce``/``allreduce_gradients`` average gradients over one flat
buffer per dtype; ``broadcast_parameters``/``broadcast_optimizer_state`` start
every rank from rank 0's state; ``DistributedSampler`` shards an epoch's
order; ``average_metrics`` combines per-rank means. See docs/training.md,
"More than one process".
"""

from graphgrad.distributed.allreduce import (
    GradientAllReduce,
    allreduce_gradients,
    allreduce_sum,
    average_metrics,
)
from graphgrad.distributed.broadcast import (
    broadcast_array,
    broadcast_json,
    broadcast_optimizer_state,
    broadcast_parameters,
)
from graphgrad.distributed.sampler import DistributedSampler
from graphgrad.distributed.shard import shard_batch, shard_bounds
from graphgrad.distributed.world import abort, barrier, comm, init, is_main, rank, world_size

__all__ = ["init", "rank", "world_size", "is_main", "comm", "barrier", "abort",
           "GradientAllReduce", "allreduce_gradients", "allreduce_sum", "average_metrics",
           "broadcast_array", "broadcast_json", "broadcast_parameters",
           "broadcast_optimizer_state", "DistributedSampler", "shard_batch", "shard_bounds"]
