"""Kill and resume a data-parallel run (digits MLP, 3 epochs, checkpoints by rank 0).

``resume.py train CKPT KILL``: train (on as many ranks as mpiexec gives) with
``SaveCheckpoint(CKPT)``; when the checkpoint at KILL is written (``epoch``:
the end of epoch 1; ``batch``: batch 20 of epoch 2, a mid-epoch checkpoint)
print ``checkpoint written`` and wait there to be killed.
``resume.py resume CKPT OUT``: ``Trainer.resume(CKPT)`` and train to 3 epochs;
rank 0 writes the final parameters and the history's losses to OUT (.npz).
``resume.py reference OUT``: an uninterrupted 1-rank run of 3 epochs.
``resume.py stale CKPT``: rank 1 resumes from a path with no file (a host that does
not share rank 0's filesystem): every rank must refuse, naming the ranks.
"""
import sys
import time

import numpy as np
from sklearn.datasets import load_digits

import graphgrad as gg
from graphgrad import distributed as dist
from graphgrad.data import ArrayDataset, DataLoader
from graphgrad.training import CheckpointError, SaveCheckpoint

d = load_digits()
x = (d.data[:1792] / 16.0).astype(np.float64)
y = d.target[:1792].astype(np.int64)
EPOCHS = 3


def parts(seed):
    gg.manual_seed(seed)
    model = gg.Sequential(gg.layers.Linear(64, 32), gg.layers.ReLU(),
                          gg.layers.Linear(32, 10)).double()
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = gg.schedules.step_decay(opt, step_size=1, gamma=0.5)
    return model, gg.losses.CrossEntropy(), opt, sched


def loader():
    return DataLoader(ArrayDataset(x, y), batch_size=32, seed=3)


class WaitToBeKilled:
    def __init__(self, kill):
        self.kill = kill

    def _wait(self):
        if dist.is_main():
            print("checkpoint written", flush=True)
        time.sleep(600)

    def on_batch_end(self, trainer, batch):
        if self.kill == "batch" and trainer.epoch == 1 and batch + 1 == 20:
            self._wait()

    def on_epoch_end(self, trainer, epoch, metrics):
        if self.kill == "epoch" and epoch == 0:
            self._wait()


def write(out, trainer):
    if dist.is_main():
        np.savez(out, params=np.concatenate([p.data.ravel() for p in trainer.model.parameters()]),
                 loss=np.array(trainer.history["loss"]), lr=np.array(trainer.history["lr"]),
                 step=trainer.step, world=dist.world_size())


mode = sys.argv[1]
if mode == "train":
    ckpt, kill = sys.argv[2], sys.argv[3]
    model, loss, opt, sched = parts(0)
    tr = gg.Trainer(model, loss, opt, sched, progress=False)
    every_batches = 20 if kill == "batch" else None
    tr.fit(loader(), epochs=EPOCHS, callbacks=[SaveCheckpoint(ckpt, every_batches=every_batches),
                                               WaitToBeKilled(kill)])
    raise SystemExit("not killed")
elif mode == "resume":
    ckpt, out = sys.argv[2], sys.argv[3]
    model, loss, opt, sched = parts(dist.rank() + 7)  # overwritten by the checkpoint
    tr = gg.Trainer.resume(ckpt, model, loss, opt, sched, progress=False)
    tr.fit(loader(), epochs=EPOCHS)
    write(out, tr)
elif mode == "stale":
    ckpt = sys.argv[2] + (".elsewhere" if dist.rank() == 1 else "")
    model, loss, opt, sched = parts(0)
    try:
        gg.Trainer.resume(ckpt, model, loss, opt, sched, progress=False)
    except CheckpointError as exc:
        print(f"rank {dist.rank()} refused: {exc}", flush=True)
else:
    model, loss, opt, sched = parts(0)
    tr = gg.Trainer(model, loss, opt, sched, progress=False)
    tr.fit(loader(), epochs=EPOCHS)
    write(sys.argv[2], tr)
print(f"rank {dist.rank()} {mode} done", flush=True)
