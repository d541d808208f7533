"""Data-parallel scaling of the digits CNN: samples/s on 1 and 2 ranks, the all-reduce's share.

    python bench/distributed.py                 # 3 rounds, eager and compiled
    python bench/distributed.py --rounds 5 --modes eager
    python bench/distributed.py --modes eager,compiled,eager+yield

The model is bench/workloads.py's W4 (conv 1→16, conv 16→32, linear 128→10)
trained by ``gg.Trainer`` on scikit-learn's digits (1797 images 8×8, global
batch 64, SGD momentum 0.9).  Every run is a worker process launched by this
script: ``python bench/distributed.py --worker`` for 1 rank (an ordinary
single-process Trainer) and ``mpiexec -n 2 python bench/distributed.py
--worker`` for 2; each pool of every rank is pinned to 1 thread, so 2 ranks use
the 2 cores.  The parent alternates 1-rank and 2-rank workers round by round
and reports medians over rounds, with ``uptime`` before and after (the numbers
of a shared, loaded machine are a measure of the load as much as of the code).

Each worker trains 1 epoch to warm up (Numba's cache, gg.compile's recording)
and times the next ``--epochs``; on 2 ranks it also reports

* ``allreduce``: the time inside the Trainer's all-reduce per step (copy into the
  flat arena, ``Allreduce``, copy back) — it includes waiting for the other rank;
* ``wire``: the same ``Allreduce`` of the same arena, timed alone right after a
  barrier (no waiting for a late rank): what overlapping it with the backward
  could hide at most;
* ``overlap``: forward + backward of this rank's shard followed by a blocking
  ``Allreduce`` of the arena, against ``Iallreduce`` started before the same
  forward + backward and waited for after it — whether MPI moves the data while
  the rank computes (it has no progress thread: MPICH advances a non-blocking
  collective only inside MPI calls).

``eager+yield`` is the eager 2-rank run with ``MPIR_CVAR_ENABLE_HEAVY_YIELD=1``
(MPICH yields the core while it waits instead of spinning on it).

Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BATCH = 64
THREADS = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                            "NUMBA_NUM_THREADS")}


# ------------------------------------------------------------------- worker
def _model():
    import graphgrad as gg

    L = gg.layers
    gg.manual_seed(0)
    return gg.Sequential(L.Conv2d(1, 16, 3, padding=1), L.ReLU(), L.MaxPool2d(2),
                         L.Conv2d(16, 32, 3, padding=1), L.ReLU(), L.MaxPool2d(2),
                         L.Flatten(), L.Linear(128, 10))


def _median_us(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _wire_and_overlap(trainer, x, y):
    """(wire µs, blocking µs, overlapped µs) on this rank; see the module docstring."""
    import numpy as np
    from mpi4py import MPI

    import graphgrad as gg
    from graphgrad import distributed as dist

    comm = dist.init()
    arena = np.concatenate([p.grad.data.ravel() for p in trainer.model.parameters()])
    xs, ys = dist.shard_batch((x[:BATCH], y[:BATCH]))
    xs = gg.tensor(xs)

    def wire():
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, arena, op=MPI.SUM)
        return time.perf_counter() - t0

    def compute():
        trainer.model.zero_grad()
        gg.softmax_cross_entropy(trainer.model(xs), ys).mean().backward()

    def blocking():
        compute()
        comm.Allreduce(MPI.IN_PLACE, arena, op=MPI.SUM)

    def overlapped():
        req = comm.Iallreduce(MPI.IN_PLACE, arena, op=MPI.SUM)
        compute()
        req.Wait()

    wires = [wire() for _ in range(300)][50:]
    res = {"wire_us": statistics.median(wires) * 1e6, "wire_min_us": min(wires) * 1e6,
           "arena_bytes": arena.nbytes}
    for name, fn in (("blocking_us", blocking), ("overlapped_us", overlapped)):
        comm.Barrier()
        res[name] = _median_us(fn, 60)
    comm.Barrier()
    res["compute_us"] = _median_us(compute, 60)
    return res


def worker(mode: str, epochs: int) -> None:
    import numpy as np
    from sklearn.datasets import load_digits

    import graphgrad as gg
    from graphgrad import distributed as dist
    from graphgrad.data import ArrayDataset, DataLoader

    d = load_digits()
    x = (d.images[:, None] / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    model = _model()
    opt = gg.optimizers.SGD(model.parameters(), lr=0.01, momentum=0.9)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(), opt, metrics=(), progress=False,
                         compile=(mode == "compiled"))
    loader = DataLoader(ArrayDataset(x, y), batch_size=BATCH, seed=0)
    trainer.fit(loader, epochs=1)  # warm-up: JIT cache, recording
    if trainer._allreduce is not None:
        trainer._allreduce.seconds = 0.0
    steps0 = trainer.step
    dist.barrier()
    t0 = time.perf_counter()
    trainer.fit(loader, epochs=1 + epochs)
    seconds = time.perf_counter() - t0
    steps = trainer.step - steps0
    out = {"ranks": dist.world_size(), "mode": mode, "samples_per_s": epochs * len(x) / seconds,
           "step_ms": seconds / steps * 1e3}
    if trainer._allreduce is not None:
        share = trainer._allreduce.seconds / seconds
        shares = dist.sum_over_ranks({"allreduce": share})
        out["allreduce_share"] = shares["allreduce"] / dist.world_size()
        out["allreduce_ms"] = out["allreduce_share"] * out["step_ms"]
        out.update(_wire_and_overlap(trainer, x, y))
    if trainer.compile:
        out["replays"] = trainer._compiled.replays
    if dist.is_main():
        print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------------- parent
def _mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else "mpiexec"


def _tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _launch(ranks: int, mode: str, epochs: int) -> dict:
    env = dict(os.environ, **THREADS,
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if mode.endswith("+yield"):
        mode = mode[:-len("+yield")]
        env["MPIR_CVAR_ENABLE_HEAVY_YIELD"] = "1"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode,
           "--epochs", str(epochs)]
    if ranks > 1:
        cmd = [_mpiexec(), "-n", str(ranks)] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:  # mpiexec and every process under it (they call setsid)
            for pid in _tree(proc.pid):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            proc.wait()
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker ({ranks} rank(s), {mode}) failed:\n{out}")
    return json.loads(lines[-1][len("RESULT "):])


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=["eager", "compiled"])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--modes", default="eager,compiled")
    ap.add_argument("--json", help="also write every run's result to this file")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.epochs)
        return
    modes = args.modes.split(",")
    print(f"digits CNN, global batch {BATCH}, {args.epochs} timed epochs per run, "
          f"{args.rounds} rounds, {os.cpu_count()} CPUs, 1 thread per rank")
    print("uptime before:", _uptime(), flush=True)
    runs: dict[tuple, list] = {}
    for r in range(args.rounds):
        order = [(m, n) for m in modes for n in (1, 2) if n == 2 or "+" not in m]
        if r % 2:
            order.reverse()
        for mode, n in order:
            res = dict(_launch(n, mode, args.epochs), mode=mode)
            runs.setdefault((mode, n), []).append(res)
            replays = f" ({res['replays']} compiled replays)" if "replays" in res else ""
            print(f"  round {r + 1}: {mode:11s} {n} rank(s): "
                  f"{res['samples_per_s']:8.0f} samples/s{replays}", flush=True)
    print("uptime after: ", _uptime())
    if args.json:
        Path(args.json).write_text(json.dumps([dict(x, mode=k[0]) for k, v in runs.items()
                                               for x in v], indent=1))
    med = {k: {f: statistics.median(x[f] for x in v) for f in v[0] if f != "mode"}
           for k, v in runs.items()}
    print(f"\n{'mode':11s} {'ranks':>5s} {'samples/s':>10s} {'step ms':>8s} {'speed-up':>8s} "
          f"{'allreduce':>14s} {'wire µs min/med':>15s} {'fwd+bwd µs':>10s} {'+blocking':>10s} "
          f"{'overlapped':>10s}")
    for (mode, n), m in sorted(med.items()):
        base = med.get((mode.split("+")[0], 1), {}).get("samples_per_s")
        speed = f"{m['samples_per_s'] / base:7.2f}x" if base else ""
        ar = (f"{m['allreduce_ms']:5.2f} ms {100 * m['allreduce_share']:4.1f}%"
              if "allreduce_ms" in m else "")
        wire = f"{m.get('wire_min_us', 0):.0f}/{m.get('wire_us', 0):.0f}"
        extra = (f"{wire:>15s} {m['compute_us']:10.0f} {m['blocking_us']:10.0f} "
                 f"{m['overlapped_us']:10.0f}" if "wire_us" in m else "")
        print(f"{mode:11s} {n:5d} {m['samples_per_s']:10.0f} {m['step_ms']:8.2f} {speed:>8s} "
              f"{ar:>14s} {extra}")
    if any("arena_bytes" in m for m in med.values()):
        size = next(m["arena_bytes"] for m in med.values() if "arena_bytes" in m)
        print(f"\ngradient arena: {size / 1024:.1f} KiB float32 per all-reduce")


if __name__ == "__main__":
    main()
