"""Fused attention against the composition it replaced and against PyTorch, forward + backward.

    python bench/attention.py [--rounds 15] [--shape B H L S E] [--dtype float32]

One round times each contender once (q, k, v of shape (B, H, L|S, E), the
default B=32, H=4, L=S=32, E=16 of W6's attention): the output, then
``(out · w).sum()`` backward to q, k and v.  The contenders alternate inside
every round (so machine load hits them alike) and the medians over rounds are
printed, with ``uptime``.  Contenders:

* ``fused``: ``gg.scaled_dot_product_attention``, one op (numba backend);
* ``composition``: the ops MultiheadAttention used before it, matmul,
  scale, softmax, matmul (what ``need_weights=True`` still runs);
* ``torch``: ``torch.nn.functional.scaled_dot_product_attention`` (eager, CPU),
  with torch limited to one thread as graphgrad's kernels are serial (pass
  ``--torch-threads 0`` to keep torch's default).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import time

import numpy as np

import graphgrad as gg


def composition(q, k, v, scale):
    """softmax(q·kᵀ·scale)·v with graphgrad ops (the pre-fusion attention)."""
    return gg.softmax((q @ gg.swapaxes(k, -1, -2)) * scale, axis=-1) @ v


def _gg_round(fn, arrays, w):
    q, k, v = (gg.tensor(a, requires_grad=True) for a in arrays)
    t = time.perf_counter()
    (fn(q, k, v) * w).sum().backward()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--shape", type=int, nargs=5, default=(32, 4, 32, 32, 16),
                    metavar=("B", "H", "L", "S", "E"))
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--torch-threads", type=int, default=1)
    args = ap.parse_args(argv)
    b, h, n_l, n_s, e = args.shape
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(args.dtype)
              for s in ((b, h, n_l, e), (b, h, n_s, e), (b, h, n_s, e))]
    w_np = rng.standard_normal((b, h, n_l, e)).astype(args.dtype)
    w = gg.tensor(w_np)
    scale = 1.0 / math.sqrt(e)
    gg.set_backend("numba")
    contenders = {
        "fused": lambda: _gg_round(gg.scaled_dot_product_attention, arrays, w),
        "composition": lambda: _gg_round(lambda q, k, v: composition(q, k, v, scale), arrays,
                                         w),
    }
    try:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        tw = torch.from_numpy(w_np)

        def torch_round():
            q, k, v = (torch.tensor(a, requires_grad=True) for a in arrays)
            t = time.perf_counter()
            (torch.nn.functional.scaled_dot_product_attention(q, k, v) * tw).sum().backward()
            return time.perf_counter() - t

        contenders["torch"] = torch_round
    except ImportError:
        print("torch not installed: fused and composition only")
    for fn in contenders.values():  # warm-up: JIT compilation, caches
        fn()
        fn()
    times = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            times[name].append(fn())
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"attention fwd+bwd, q/k/v {tuple(arrays[0].shape)} / {tuple(arrays[1].shape)}, "
          f"{args.dtype}, {args.rounds} interleaved rounds, medians; cpus {os.cpu_count()}; "
          f"{uptime}")
    base = np.median(times["fused"])
    for name, ts in times.items():
        med = np.median(ts)
        print(f"  {name:12s} {med * 1e3:8.3f} ms   (÷ fused {med / base:5.2f})  "
              f"min {min(ts) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
