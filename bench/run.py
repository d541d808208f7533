"""Benchmark graphgrad against PyTorch eager and hand-written NumPy.

    python bench/run.py                 # W1, W2, W3 + import and first-step times
    python bench/run.py --workloads W4,W5 --no-startup    # the CNNs
    python bench/run.py --workloads W6 --no-startup       # the transformer encoder
    python bench/run.py --workloads W2 --rounds 31
    python bench/run.py --frameworks graphgrad,graphgrad@numpy,torch,numpy

Each framework runs in its own worker process (``--worker``), so no library's
threads or allocator state leak into another's timings.  Besides wall time the
workers report CPU time (all threads): on a shared, noisy machine it shows
whether a slow round was descheduled or really worked longer.  The parent
interleaves the workers round by round (a different order each round), pauses
between rounds so idle OpenBLAS/OpenMP threads stop spinning, and reports the
median time per step over rounds with ratios against PyTorch and NumPy.
``graphgrad@numpy`` is graphgrad with the NumPy reference kernels
(``GRAPHGRAD_BACKEND=numpy``), ``graphgrad-layers+untuned`` (any graphgrad
framework with ``+untuned``) is graphgrad without its glibc malloc tuning
(``GRAPHGRAD_MALLOC_TUNING=0``).  Timings are reported, never asserted.

Fresh processes and page faults: a worker is a fresh process, and in a fresh
process glibc returns a step's large freed temporaries to the OS (``munmap``,
heap trimming), so the next step faults their pages in again; a long-lived
process that already holds a heap (a notebook, a same-process race against
PyTorch) mostly does not.  That, not threads, is why this benchmark once
measured W4 at 1.94x PyTorch where a same-process race measured 1.10x: 161
minor faults per graphgrad-layers step in the worker, none in the race
(docs/performance.md, "Page faults").  graphgrad now tunes malloc at import
(graphgrad/kernels/malloc.py), so the worker measures what a user's fresh
training script gets, and the header's "malloc tuned" says so.

Threads: ``--threads N`` (default 1) pins every thread pool of every worker to
N threads (OpenBLAS, OpenMP, MKL, Numba through their environment variables,
``torch.set_num_threads``), and the header prints the pools each worker really
has (threadpoolctl) and the load average.  One thread is the default because on
a machine whose cores are busy with other work (a shared 2-core CI box, a
laptop running anything else) a 2-thread pool waits for its descheduled second
thread at every parallel region: measured for issue 28 at load ~6 on 2 cores,
torch's W4 step went from 2.1 ms (1 thread) to 19-49 ms (2 threads, own
process) and 209 ms (2 threads, sharing the process with OpenBLAS's pool), and
the graphgrad ÷ torch ratio swung between 0.4× and 2×: a measure of the
machine's load, not of the kernels.  On an idle machine, ``--threads 2`` (or
``--threads default``, the libraries' own defaults) is what a user gets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# graphgrad / torch, from the issues
TARGETS = {"W1": 0.8, "W2": 0.3, "W3": 1.0, "W4": 1.0, "W5": 1.5}
# graphgrad-layers ÷ torch (issue 28)
LAYERS_TARGETS = {"W4": 1.0, "W5": 1.3}
# gg.compile (issues 16, 25, 28): [(baseline framework, ratio)]
COMPILED_TARGETS = {"W1": [("numpy", 1.0)],
                    "W2": [("jax-jit", 0.3), ("torch", 0.1)],
                    "W3": [("jax-jit", 0.6), ("torch-compile", 0.65)],
                    "W4": [("torch", 0.8)], "W5": [("torch", 1.1)],
                    "W6": [("torch", 1.0)]}  # issue 24: faster than PyTorch eager
JIT_FRAMEWORKS = ("jax-jit", "torch-compile")  # bench/workloads_jit.py, W1-W3 (+ W6's torch)
#: The environment variables that size each library's thread pool.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS")


# ------------------------------------------------------------------- worker
def worker(framework: str, workload: str) -> None:
    """Serve timing requests on stdin: "N" runs N steps and prints the seconds per step."""
    sys.path.insert(0, str(HERE))
    threads = os.environ.get("GRAPHGRAD_BENCH_THREADS")
    if _base(framework) in ("torch", "torch-compile"):
        import torch

        torch.set_num_threads(int(threads) if threads else os.cpu_count())
    import workloads

    step = workloads.build(_base(framework), workload)
    step()
    pools = _thread_pools()
    t0 = time.perf_counter()
    warm = 0
    while warm < 5 or time.perf_counter() - t0 < 1.0:  # compile, caches, allocator
        step()
        warm += 1
    print(json.dumps({"ready": (time.perf_counter() - t0) / warm, "pools": pools}), flush=True)
    for line in sys.stdin:
        n = int(line)
        step.reset()  # start weights: no drift into denormals over many rounds
        for _ in range(max(2, n // 20)):  # untimed: caches and clocks recover from the pause
            step()
        t, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            step()
        print(json.dumps({"per_step": (time.perf_counter() - t) / n,
                          "cpu_per_step": (time.process_time() - cpu) / n}), flush=True)


#: ``<framework>+untuned``: graphgrad without its glibc malloc tuning
#: (graphgrad/kernels/malloc.py), to measure what the tuning is worth.
_UNTUNED_MALLOC = {"GRAPHGRAD_MALLOC_TUNING": "0"}


def _thread_pools() -> str:
    """The thread pools loaded in this process and their sizes, e.g. "openblas 1, openmp 1"."""
    pools = []
    try:
        from threadpoolctl import threadpool_info

        pools = [f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()]
    except ImportError:
        pools = ["threadpoolctl not installed"]
    if "torch" in sys.modules:
        pools.append(f"torch {sys.modules['torch'].get_num_threads()}")
    numba = sys.modules.get("numba")
    if numba is not None:
        pools.append(f"numba {numba.config.NUMBA_NUM_THREADS}")
    malloc = sys.modules.get("graphgrad.kernels.malloc")
    if malloc is not None and malloc.STATE is not None:
        pools.append("malloc tuned" if malloc.STATE["applied"]
                     else f"malloc untuned ({malloc.STATE['reason']})")
    return ", ".join(sorted(set(pools)))


def _base(framework: str) -> str:
    return framework.split("@")[0].split("+")[0]


_THREADS = ["1"]  # set by main(): --threads


def _env(framework: str) -> dict:
    env = dict(os.environ)
    if _THREADS[0] != "default":
        env.update({var: _THREADS[0] for var in THREAD_VARS}, GRAPHGRAD_BENCH_THREADS=_THREADS[0])
    if framework.endswith("+untuned"):
        env.update(_UNTUNED_MALLOC)
        framework = framework[:-len("+untuned")]
    if "@" in framework:
        env["GRAPHGRAD_BACKEND"] = framework.split("@")[1]
    return env


class Worker:
    """One framework × workload in a subprocess."""

    def __init__(self, framework: str, workload: str):
        self.framework = framework
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", framework, workload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(framework))
        ready = self._read()
        self.estimate, self.pools = ready["ready"], ready["pools"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker {self.framework} died (see its stderr above)")
        return json.loads(line)

    def time(self, steps: int) -> tuple[float, float]:
        """Run `steps` steps: (wall seconds, CPU seconds of all threads) per step."""
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        answer = self._read()
        return answer["per_step"], answer["cpu_per_step"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(workload: str, frameworks: list[str], rounds: int, round_seconds: float,
            pause: float) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds per step of each framework, interleaved round by round."""
    workers = [Worker(f, workload) for f in frameworks]
    for w in workers:
        print(f"  {w.framework} thread pools: {w.pools}")
    try:
        steps = {w.framework: max(1, int(round_seconds / w.estimate)) for w in workers}
        times = {w.framework: [] for w in workers}
        for r in range(rounds):
            order = workers[r % len(workers):] + workers[:r % len(workers)]
            for w in order:
                time.sleep(pause)  # let the previous worker's idle threads go to sleep
                times[w.framework].append(w.time(steps[w.framework]))
    finally:
        for w in workers:
            w.close()
    return {f: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts))
            for f, ts in times.items()}


# ------------------------------------------------------- start-up timings
_IMPORT = "import time; t = time.perf_counter(); import graphgrad; print(time.perf_counter() - t)"
_FIRST_STEP = """
import sys, time
t = time.perf_counter()
import graphgrad
t_import = time.perf_counter() - t
sys.path.insert(0, {here!r})
import workloads
step = workloads.build("graphgrad", {workload!r})
t = time.perf_counter()
step()
t_first = time.perf_counter() - t
t = time.perf_counter()
step()
print(t_import, t_first, time.perf_counter() - t, "numba" in sys.modules)
"""


_FIRST_COMPILED = """
import sys, time
sys.path.insert(0, {here!r})
import workloads
t = time.perf_counter()
step = workloads.build("graphgrad-compiled", {workload!r})
while step.compiled.plan is None:  # two recorded calls; the second builds and compiles the plan
    step()
t_plan = time.perf_counter() - t
t = time.perf_counter()
step()
print(t_plan, time.perf_counter() - t)
"""


def compiled_startup(workload: str = "W2") -> dict[str, float]:
    """gg.compile's first calls (two recordings, fusion, Numba compilation), cold and warm."""
    result = {}
    code = _FIRST_COMPILED.format(here=str(HERE), workload=workload)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, GRAPHGRAD_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            t_plan, t_replay = _python(code, env).split()
            result[f"{workload} compiled: to plan, {label}"] = float(t_plan)
            result[f"{workload} compiled: 1st replay, {label}"] = float(t_replay)
    return result


def _python(code: str, env=None) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return out.stdout.strip()


def startup(workload: str = "W1", repeats: int = 5) -> dict[str, float]:
    """`import graphgrad` time, and the first training step with a cold and a warm cache."""
    imports = [float(_python(_IMPORT)) for _ in range(repeats)]
    result = {"import": statistics.median(imports)}
    code = _FIRST_STEP.format(here=str(HERE), workload=workload)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            t_import, t_first, t_second, _ = _python(code, env).split()
            result[f"first step, {label} cache"] = float(t_first)
            result[f"second step, {label} cache"] = float(t_second)
    return result


# ---------------------------------------------------------------------- main
_SKIPPED_NOTED: set[str] = set()


def _runnable(framework: str) -> bool:
    """False, with one printed note, for a jit framework whose library is not installed."""
    if framework not in JIT_FRAMEWORKS:
        return True
    sys.path.insert(0, str(HERE))
    import workloads_jit

    why = workloads_jit.available(framework)
    if why and framework not in _SKIPPED_NOTED:
        _SKIPPED_NOTED.add(framework)
        print(f"  note: {why}")
    return why is None

def _row(name, value, unit="ms"):
    scale = 1e3 if unit == "ms" else 1e6
    return f"  {name:34s}{value * scale:10.1f} {unit}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--frameworks",
                        default="graphgrad,graphgrad-layers,graphgrad-compiled,torch,"
                                "jax-jit,torch-compile,numpy")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--round-seconds", type=float, default=0.25)
    parser.add_argument("--pause", type=float, default=0.15)
    parser.add_argument("--no-startup", action="store_true")
    parser.add_argument("--threads", default="1",
                        help="threads of every library's pool in every worker (an integer, or "
                             "'default' for the libraries' own choice); see the module docstring")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return

    _THREADS[0] = args.threads
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load average {load}, "
          f"threads {args.threads}, {args.rounds} rounds of ~{args.round_seconds}s per "
          "framework, medians")
    if not args.no_startup:
        print("start-up (W1, graphgrad):")
        for name, value in startup().items():
            print(_row(name, value))
        if "graphgrad-compiled" in args.frameworks:
            print("gg.compile first calls (record twice, fuse, compile; then one replay):")
            for name, value in compiled_startup().items():
                print(_row(name, value))
    for workload in args.workloads.split(","):
        frameworks = args.frameworks.split(",")
        if workload == "W3":
            frameworks = [f for f in frameworks if _base(f) != "graphgrad-layers"]
        if workload in ("W4", "W5"):  # no hand-written NumPy CNN, no jit variants
            frameworks = [f for f in frameworks if _base(f) not in ("numpy", *JIT_FRAMEWORKS)]
        if workload == "W6":  # the transformer: no hand-written NumPy, no JAX variant
            frameworks = [f for f in frameworks if _base(f) not in ("numpy", "jax-jit")]
        frameworks = [f for f in frameworks if _runnable(f)]
        timings = compare(workload, frameworks, args.rounds, args.round_seconds, args.pause)
        result = {f: wall for f, (wall, _) in timings.items()}
        print(f"{workload}: wall time per step (CPU time of all threads in brackets)")
        for f, t in result.items():
            extra = f"  [{timings[f][1] * 1e6:9.1f} µs]"
            if "torch" in result and f != "torch":
                extra += f"   {t / result['torch']:5.2f}x torch"
            for jit in JIT_FRAMEWORKS:
                if jit in result and f == "graphgrad-compiled":
                    extra += f"   {t / result[jit]:5.2f}x {jit}"
            if "numpy" in result and f != "numpy":
                extra += f"   {t / result['numpy']:5.2f}x numpy"
            print(_row(f, t, "µs") + extra)
        if "graphgrad" in result and "torch" in result and workload in TARGETS:
            ratio = result["graphgrad"] / result["torch"]
            verdict = "met" if ratio <= TARGETS[workload] else "MISSED"
            print(f"  target graphgrad <= {TARGETS[workload]}x torch: {verdict} ({ratio:.2f}x)")
        if "graphgrad-layers" in result and "torch" in result and workload in LAYERS_TARGETS:
            ratio = result["graphgrad-layers"] / result["torch"]
            target = LAYERS_TARGETS[workload]
            verdict = "met" if ratio <= target else "MISSED"
            print(f"  target graphgrad-layers <= {target}x torch: {verdict} ({ratio:.2f}x)")
        compiled = result.get("graphgrad-compiled")
        for base, target in COMPILED_TARGETS.get(workload, []) if compiled else []:
            if base in result:
                ratio = compiled / result[base]
                verdict = "met" if ratio <= target else "MISSED"
                print(f"  target graphgrad-compiled <= {target}x {base}: {verdict} "
                      f"({ratio:.2f}x)")
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
