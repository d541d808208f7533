"""Run under mpiexec -n 2: errors every rank must raise (and none may hang on)."""
import numpy as np

import graphgrad as gg
from graphgrad import distributed as dist

r = dist.rank()
# rank 1's backward reached one gradient more: the layout check refuses on both ranks
arrays = [np.ones(3), np.ones(4)] + ([np.ones(2)] if r == 1 else [])
try:
    dist.GradientAllReduce().reduce_arrays(arrays)
except RuntimeError as exc:
    print(f"rank {r} layout refused: {exc}", flush=True)
# a global batch of 1 sample cannot be split over 2 ranks
model = gg.layers.Linear(2, 2)
tr = gg.Trainer(model, gg.losses.CrossEntropy(), gg.optimizers.SGD(model.parameters(), lr=0.1),
                progress=False, distributed=True)
try:
    tr._shard((np.ones((1, 2), np.float32), np.zeros(1, np.int64)))
except ValueError as exc:
    print(f"rank {r} batch refused: {exc}", flush=True)
dist.barrier()
