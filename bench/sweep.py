"""Ray Tune's cost in a graphgrad sweep: the digits MLP sweep against a plain loop.

    python bench/sweep.py                  # 8 trials of examples/configs/digits_sweep.toml
    python bench/sweep.py --trials 4 --epochs 2

The same N trainings (the example config with N learning rates on a log grid,
FIFO, every epoch trained) run three ways, each timed from the first trial's
start to the last one's end:

1. a plain loop in this process: ``build_run`` + ``Trainer.fit`` per config;
2. ``gg.sweep`` on a local Ray of 2 CPUs, one trial at a time;
3. the same with 2 concurrent trials.

Ray's start-up (``ray.init``) is timed separately. Reported: trials per minute,
Ray's overhead per trial ((sweep time - loop time) / N, one at a time) and the
speed-up of 2 concurrent trials. Timings are printed, never asserted; the
machine is shared, so run it twice and look at the spread.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "configs" / "digits_sweep.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    from graphgrad.config import build_run, load_config
    from graphgrad.sweep import sweep
    from graphgrad.sweep.space import apply_overrides

    config = load_config(CONFIG)
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    rates = [float(r) for r in np.geomspace(0.005, 0.2, args.trials)]
    config["sweep"] = {"metric": "val_accuracy", "mode": "max", "search": "grid",
                       "scheduler": "fifo", "space": {"optimizer.lr": {"grid": rates}}}
    epochs = config["train"]["epochs"]
    print(f"{args.trials} trials of the digits MLP ({CONFIG.name}), {epochs} epochs each; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    started = time.perf_counter()
    for lr in rates:
        run = build_run(apply_overrides(config, {"optimizer.lr": lr}), CONFIG.parent)
        run.trainer(progress=False).fit(run.data.train_loader, run.data.val_loader,
                                        epochs=run.epochs)
    loop = time.perf_counter() - started
    print(f"plain loop, one process:   {loop:7.1f} s  {60 * args.trials / loop:6.1f} "
          "trials/min")

    import ray

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    print(f"ray.init (2 CPUs):         {time.perf_counter() - started:7.1f} s")
    work = Path(tempfile.mkdtemp(prefix="graphgrad-bench-sweep-"))
    try:
        times = {}
        for concurrent in (1, 2):
            config["sweep"]["max_concurrent"] = concurrent
            started = time.perf_counter()
            results = sweep(config, out=work / f"c{concurrent}")
            times[concurrent] = time.perf_counter() - started
            assert len(results.dataframe) == args.trials and not results.errors
            print(f"Ray Tune, {concurrent} at a time:     {times[concurrent]:7.1f} s  "
                  f"{60 * args.trials / times[concurrent]:6.1f} trials/min")
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(f"Ray overhead per trial (1 at a time): {(times[1] - loop) / args.trials:.2f} s")
    print(f"2 concurrent vs 1: {times[1] / times[2]:.2f}x faster")


if __name__ == "__main__":
    main()
