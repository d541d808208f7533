"""Run under mpiexec -n 2: digits MLP, 3 epochs, data-parallel vs single process."""
import numpy as np
from mpi4py import MPI
from sklearn.datasets import load_digits

import graphgrad as gg
from graphgrad import distributed as dist
from graphgrad.data import ArrayDataset, DataLoader

comm = MPI.COMM_WORLD
d = load_digits()
x = (d.data[:1792] / 16.0).astype(np.float64)  # 56 global batches of 32, 16 per rank
y = d.target[:1792].astype(np.int64)


class Record:
    def __init__(self):
        self.steps = []

    def on_batch_end(self, trainer, i):
        self.steps.append(np.concatenate([p.data.ravel() for p in trainer.model.parameters()]))


def run(distributed, seed_model):
    gg.manual_seed(seed_model)
    model = gg.Sequential(gg.layers.Linear(64, 32), gg.layers.ReLU(),
                          gg.layers.Linear(32, 10)).double()  # float64: rounding << 1e-6
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tr = gg.Trainer(model, gg.losses.CrossEntropy(), opt, progress=False,
                    distributed=distributed)
    rec = Record()
    hist = tr.fit(DataLoader(ArrayDataset(x, y), batch_size=32, seed=3), epochs=3,
                  callbacks=[rec])
    return rec.steps, hist


# different model seeds per rank: the start-of-fit broadcast must make them equal
steps, hist = run(True, seed_model=comm.Get_rank())
other = comm.gather(steps, root=0)
if comm.Get_rank() == 0:
    a, b = other
    assert len(a) == len(b) == 3 * 56
    for k, (pa, pb) in enumerate(zip(a, b)):
        assert np.array_equal(pa, pb), f"ranks differ after step {k}"
    ref, ref_hist = run(False, seed_model=0)
    for k, (pa, pr) in enumerate(zip(a, ref)):
        np.testing.assert_allclose(pa, pr, rtol=1e-6, atol=1e-9, err_msg=f"step {k}")
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-6)
    print("digits OK", len(a), "steps", flush=True)
