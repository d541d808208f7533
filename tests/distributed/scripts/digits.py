"""Run under mpiexec -n 2: digits MLP, 3 epochs, data-parallel vs single process.

``digits.py [BATCH [N [compile]]]``: global batch size (default 32), number of
samples (default 1792: 56 global batches of 32, 16 per rank), and ``compile``
to train with ``Trainer(compile=True, distributed=True)`` (the all-reduce an
entry of the plan), checked against the eager data-parallel run.
"""
import sys

import numpy as np
from mpi4py import MPI
from sklearn.datasets import load_digits

import graphgrad as gg
from graphgrad.data import ArrayDataset, DataLoader

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 32
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1792
compiled = len(sys.argv) > 3 and sys.argv[3] == "compile"
comm = MPI.COMM_WORLD
d = load_digits()
x = (d.data[:n] / 16.0).astype(np.float64)
y = d.target[:n].astype(np.int64)


class Record:
    def __init__(self):
        self.steps = []

    def on_batch_end(self, trainer, i):
        self.steps.append(np.concatenate([p.data.ravel() for p in trainer.model.parameters()]))


def run(distributed, seed_model, compile=False):
    gg.manual_seed(seed_model)
    model = gg.Sequential(gg.layers.Linear(64, 32), gg.layers.ReLU(),
                          gg.layers.Linear(32, 10)).double()  # float64: rounding << 1e-6
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tr = gg.Trainer(model, gg.losses.CrossEntropy(), opt, progress=False,
                    distributed=distributed, compile=compile)
    rec = Record()
    hist = tr.fit(DataLoader(ArrayDataset(x, y), batch_size=batch, seed=3), epochs=3,
                  callbacks=[rec])
    return rec.steps, hist, tr


# different model seeds per rank: the start-of-fit broadcast must make them equal
steps, hist, tr = run(True, seed_model=comm.Get_rank(), compile=compiled)
if compiled:
    step = tr._compiled
    kinds = [e.kind for e in step.plan.entries]
    assert "allreduce" in kinds, kinds
    assert kinds.index("allreduce") < kinds.index("update"), kinds
    assert not step.fallbacks and step.replays > 0, (step.fallbacks, step.replays)
    print(f"rank {comm.Get_rank()} compiled: {step.replays} replays, "
          f"{step.recordings} recordings", flush=True)
    # the eager data-parallel run is the reference of the compiled one
    ref_steps, ref_hist, _ = run(True, seed_model=0)
other = comm.gather(steps, root=0)
if comm.Get_rank() == 0:
    a, b = other
    per_epoch = -(-n // batch)
    assert len(a) == len(b) == 3 * per_epoch, (len(a), len(b))
    for k, (pa, pb) in enumerate(zip(a, b)):
        assert np.array_equal(pa, pb), f"ranks differ after step {k}"
    if not compiled:
        ref_steps, ref_hist, _ = run(False, seed_model=0)
    for k, (pa, pr) in enumerate(zip(a, ref_steps)):
        np.testing.assert_allclose(pa, pr, rtol=1e-6, atol=1e-9, err_msg=f"step {k}")
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-6)
    print("digits OK", len(a), "steps", flush=True)
