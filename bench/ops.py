"""Op-level benchmark of issue 14's ops: graphgrad forward against the plain NumPy
expression on 10^6 float32 values, and einsum against np.matmul.

    python bench/ops.py [--quick]

Prints the median time of each and the ratio graphgrad / NumPy (targets: the
elementwise ops within 1.2×; einsum "bij,bjk->bik" within 1.2× of np.matmul).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import graphgrad as gg


def _median(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeat = 7 if args.quick else 31
    rng = np.random.default_rng(0)
    x = rng.standard_normal(10**6).astype(np.float32)
    y = rng.standard_normal(10**6).astype(np.float32)
    t, u = gg.tensor(x), gg.tensor(y)
    pos = np.abs(x) + np.float32(0.5)
    tp = gg.tensor(pos)
    c = np.float32(math.sqrt(2 / math.pi))
    cases = {
        "sin": (lambda: gg.sin(t), lambda: np.sin(x)),
        "log1p": (lambda: gg.log1p(tp), lambda: np.log1p(pos)),
        "rsqrt": (lambda: gg.rsqrt(tp), lambda: 1 / np.sqrt(pos)),
        "arctan2": (lambda: gg.arctan2(t, u), lambda: np.arctan2(x, y)),
        "logaddexp": (lambda: gg.logaddexp(t, u), lambda: np.logaddexp(x, y)),
        "silu": (lambda: gg.silu(t), lambda: x * _sigmoid(x)),
        "gelu(tanh)": (lambda: gg.gelu(t, approximate="tanh"),
                       lambda: 0.5 * x * (1 + np.tanh(c * (x + np.float32(0.044715) * x**3)))),
        "mish": (lambda: gg.mish(t), lambda: x * np.tanh(np.logaddexp(0, x))),
        "elu": (lambda: gg.elu(t), lambda: np.where(x > 0, x, np.expm1(x))),
        "hardswish": (lambda: gg.hardswish(t), lambda: x * np.clip(x + 3, 0, 6) / 6),
        "softsign": (lambda: gg.softsign(t), lambda: x / (1 + np.abs(x))),
        "cumsum": (lambda: gg.cumsum(t), lambda: np.cumsum(x)),
    }
    a = rng.standard_normal((64, 128, 128)).astype(np.float32)
    b = rng.standard_normal((64, 128, 128)).astype(np.float32)
    ta, tb = gg.tensor(a), gg.tensor(b)
    cases["einsum bij,bjk->bik"] = (lambda: gg.einsum("bij,bjk->bik", ta, tb),
                                     lambda: np.matmul(a, b))
    cases["einsum ij,kj->ik"] = (lambda: gg.einsum("ij,kj->ik", ta[0], tb[0]),
                                 lambda: np.matmul(a[0], b[0].T))
    print(f"{'op (10^6 float32)':28s}{'graphgrad µs':>14s}{'numpy µs':>12s}{'ratio':>8s}")
    for name, (ours, theirs) in cases.items():
        t_gg, t_np = _median(ours, repeat), _median(theirs, repeat)
        print(f"{name:28s}{t_gg * 1e6:14.1f}{t_np * 1e6:12.1f}{t_gg / t_np:8.2f}")


if __name__ == "__main__":
    main()
