"""The evidence behind the serial JIT policy: a parallel Numba loop against a serial one.

    python bench/parallel.py

Times ``out = g·(1 − y²)`` (tanh's backward) compiled serially and with
``parallel=True``, on idle cores and right after a (784×256) matmul, the
situation of every training step.  This script compiles its own loops with
the same flags as graphgrad's kernels; graphgrad's package code imports numba
only in graphgrad/kernels/numba_backend/_jit.py.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from graphgrad.kernels.numba_backend._jit import FASTMATH


def _body(g, y, out):
    for i in numba.prange(g.size):
        out[i] = g[i] * (1 - y[i] * y[i])


serial = numba.njit(fastmath=set(FASTMATH), error_model="numpy")(_body)
parallel = numba.njit(fastmath=set(FASTMATH), error_model="numpy", parallel=True)(_body)


def _median(fn, repeat=100):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def main():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    b = rng.standard_normal((784, 256)).astype(np.float32)
    print(f"numba threads: {numba.config.NUMBA_NUM_THREADS}")
    print(f"{'elements':>10s}{'serial µs':>12s}{'parallel µs':>13s}"
          f"{'after matmul: serial':>23s}{'parallel':>10s}")
    matmul = _median(lambda: a @ b)
    for n in (2**15, 2**18, 2**20, 2**22):
        args = (rng.standard_normal(n).astype(np.float32),
                rng.standard_normal(n).astype(np.float32), np.empty(n, np.float32))
        row = [_median(lambda k=k, args=args: k(*args)) for k in (serial, parallel)]
        for kernel in (serial, parallel):
            # the matmul is timed too; subtract it to see the kernel
            row.append(_median(lambda k=kernel, args=args: (a @ b, k(*args))) - matmul)
        print(f"{n:>10d}{row[0]:>12.1f}{row[1]:>13.1f}{row[2]:>23.1f}{row[3]:>10.1f}")


if __name__ == "__main__":
    main()
