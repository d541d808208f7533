"""A same-process race: several frameworks' steps of one workload built in one process.

    python bench/race.py W4                       # graphgrad-layers, graphgrad-compiled, torch
    python bench/race.py W5 --rounds 11
    python bench/race.py W4 --frameworks graphgrad-layers --no-torch-import

The counterpart of ``bench/run.py``, which runs each framework in a fresh worker
process.  Rounds are interleaved (a different order each round); each round
resets the step, runs two untimed steps and then times a fixed number of steps.
It prints, per framework, the median wall and CPU time per step, their ratios
to torch (or to the first framework) and the median minor page faults per step
(``resource.getrusage``).  Every thread pool is pinned to one thread, as in
``bench/run.py``'s default.  ``--no-torch-import`` leaves PyTorch out of the
process: importing it alone changes glibc's allocator state (its start-up
frees large blocks, raising glibc's dynamic mmap threshold), which is why a
race once had no page faults where a fresh graphgrad process had ~160 per W4
step (docs/performance.md, "Page faults").  Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy, torch or numba load their pools
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def race(workload: str, frameworks: list[str], rounds: int, steps: int) -> dict:
    """{framework: {wall_us, cpu_us, faults, wall_x, cpu_x}}, medians over rounds."""
    import workloads

    built = {f: workloads.build(f, workload) for f in frameworks}
    for step in built.values():
        for _ in range(10):  # compile, caches, allocator
            step()
    wall = {f: [] for f in frameworks}
    cpu = {f: [] for f in frameworks}
    faults = {f: [] for f in frameworks}
    for r in range(rounds):
        for f in frameworks[r % len(frameworks):] + frameworks[:r % len(frameworks)]:
            step = built[f]
            step.reset()
            step()
            step()
            f0, t, c = _faults(), time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            wall[f].append((time.perf_counter() - t) / steps)
            cpu[f].append((time.process_time() - c) / steps)
            faults[f].append((_faults() - f0) / steps)
    base = "torch" if "torch" in frameworks else frameworks[0]
    out = {}
    for f in frameworks:
        w, c = statistics.median(wall[f]), statistics.median(cpu[f])
        out[f] = {"wall_us": round(w * 1e6), "cpu_us": round(c * 1e6),
                  "faults": statistics.median(faults[f]),
                  "wall_x": round(w / statistics.median(wall[base]), 2),
                  "cpu_x": round(c / statistics.median(cpu[base]), 2)}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload")
    parser.add_argument("--frameworks", default="graphgrad-layers,graphgrad-compiled,torch")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--steps", type=int, default=0,
                        help="timed steps per round (default: 30 for W4, 5 otherwise)")
    parser.add_argument("--no-torch-import", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    frameworks = args.frameworks.split(",")
    if not args.no_torch_import:
        import torch

        torch.set_num_threads(1)
    elif "torch" in frameworks:
        parser.error("--no-torch-import cannot race torch")
    steps = args.steps or (30 if args.workload == "W4" else 5)
    load = os.getloadavg()[0]
    result = race(args.workload, frameworks, args.rounds, steps)
    if args.json:
        print(json.dumps({"workload": args.workload, "load": round(load, 1), **result}))
        return
    print(f"{args.workload}: same-process race, {args.rounds} rounds of {steps} steps, "
          f"1 thread, load average {load:.1f}, medians")
    for f, r in result.items():
        print(f"  {f:24s}{r['wall_us']:9d} µs wall {r['wall_x']:5.2f}x  "
              f"{r['cpu_us']:9d} µs CPU {r['cpu_x']:5.2f}x  {r['faults']:7.1f} faults/step")


if __name__ == "__main__":
    main()
