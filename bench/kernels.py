"""Per-kernel micro-benchmark: each Numba kernel against its NumPy reference twin.

    python bench/kernels.py [--quick] [--conv]

Prints the median time of both and their ratio (numba / numpy; < 1 means the
Numba kernel is faster) at the array sizes of the W2 (32×32), W1 (128×256) and
W3 (10^6) workloads.  Compile time is excluded (one warm-up call each).
``--conv``: the convolution and pooling kernels instead, at the shapes of the
convolutions of W4 (64×1×8×8 → 16, 64×16×4×4 → 32) and W5 (32×3×32×32 → 32,
32×32×32×32 → 64), each against its NumPy twin and PyTorch's kernel for the
same operation on the same arrays (``torch`` µs, and numba ÷ torch).
``--threads N`` (default 1) limits OpenBLAS (threadpoolctl), Numba and torch to
N threads; CPU time of the process is reported next to the wall time with
``--cpu`` (both are medians over interleaved repeats).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from graphgrad.kernels import numba_backend as nb
from graphgrad.kernels import reference as ref

SIZES = {"32x32": (32, 32), "128x256": (128, 256), "1e6": (1000, 1000)}


def _cases(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    row = rng.standard_normal(shape[1]).astype(np.float32)
    y = np.tanh(x)
    labels = rng.integers(0, shape[1], shape[0])
    probs = ref.softmax(x)
    state = [np.zeros_like(x) for _ in range(2)]
    hs = shape[1] // 4  # one LSTM step with gates x (N, 4H); a GRU step with 3H of them
    cell = np.ascontiguousarray(x[:, :hs])
    _, c_new, act = ref.KERNELS["lstm_cell"](x, cell)
    gi = np.ascontiguousarray(x[:, :3 * hs])
    _, gru_act = ref.KERNELS["gru_cell"](gi, gi, cell)
    _, mean, rstd = ref.KERNELS["layer_norm"](x, row, row, 1, 1e-5)  # rows of x normalised
    return {
        "layer_norm": (x, row, row, 1, 1e-5), "layer_norm_backward": (g, x, mean, rstd, row),
        "rms_norm": (x, row, 1, 1e-5), "rms_norm_backward": (g, x, rstd, row),
        "lstm_cell": (x, cell), "lstm_cell_backward": (cell, cell, act, cell, c_new),
        "gru_cell": (gi, gi, cell), "gru_cell_backward": (cell, gru_act, gi, cell),
        "sigmoid": (x,), "softplus": (x,),
        "relu": (x,), "leaky_relu": (x, 0.01),
        "erf": (x,), "erfc": (x,), "gelu": (x,), "silu": (x,),
        "tanh_backward": (g, y), "sigmoid_backward": (g, y), "relu_backward": (g, x),
        "leaky_relu_backward": (g, x, 0.01),
        "add[row]": (x, row), "sub[col]": (x, x[:, :1]), "maximum[row]": (x, row),
        "where": (x > 0, x, 0.0), "clip": (x, -0.5, 0.5),
        "sum": (x,), "sum[axis0]": (x, 0), "mean": (x,), "var": (x,),
        "logsumexp[axis1]": (x, 1), "sum_to_shape": (g, (shape[1],)),
        "softmax": (x,), "log_softmax": (x,), "softmax_backward": (g, probs),
        "log_softmax_backward": (g, np.log(probs)),
        "softmax_cross_entropy": (x, labels),
        "softmax_cross_entropy_backward": (g[:, 0].copy(), probs, labels),
        "index_add": (shape, labels % shape[0], g[:, :]),
        "sgd_update": (x.copy(), g, state[0], 0.01, 0.9, False, 0.0, 0.0),
        "adam_update": (x.copy(), g, state[0], state[1], 1e-3, 0.9, 0.999, 1e-8, 1, 0.0),
    }


CONV_SHAPES = {"W4 conv1": (64, 1, 8, 16), "W4 conv2": (64, 16, 4, 32),
               "W5 conv1": (32, 3, 32, 32), "W5 conv2": (32, 32, 32, 64)}


def _torch_conv_cases(cases):
    """PyTorch's kernel for each conv case, on the same arrays (None: no torch)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return {}
    x, w = (torch.from_numpy(a) for a in cases["conv2d"][:2])
    g = torch.from_numpy(cases["conv_transpose2d"][0])
    y = torch.from_numpy(cases["pool_scatter"][0])
    bwd = torch.ops.aten.convolution_backward
    _, idx = F.max_pool2d(x, 2, return_indices=True)

    def conv_input_grad(*_):
        return bwd(g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False])

    def conv_weight_grad(*_):
        return bwd(g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [False, True, False])

    return {
        "conv2d": lambda *_: F.conv2d(x, w, padding=1),
        "conv_transpose2d": conv_input_grad,
        "conv2d_weight": conv_weight_grad,
        "max_pool2d": lambda *_: F.max_pool2d(x, 2, return_indices=True),
        "pool_scatter": lambda *_: torch.ops.aten.max_pool2d_with_indices_backward(
            y, x, [2, 2], [2, 2], [0, 0], [1, 1], False, idx),
    }


def _conv_cases(n, c, size, out, rng):
    x = rng.standard_normal((n, c, size, size)).astype(np.float32)
    w = rng.standard_normal((out, c, 3, 3)).astype(np.float32)
    g = rng.standard_normal((n, out, size, size)).astype(np.float32)
    geo = ((1, 1), (1, 1, 1, 1), (1, 1))
    pool = ((2, 2), (0, 0, 0, 0), (1, 1))
    y, idx = ref.max_pool2d(x, (2, 2), *pool)
    return {
        "conv2d": (x, w, None, *geo, 1),
        "conv_transpose2d": (g, w, *geo, 1, (size, size)),
        "conv2d_weight": (x, g, *geo, 1, (3, 3)),
        "max_pool2d": (x, (2, 2), *pool),
        "pool_scatter": (y, idx, (size, size)),
    }


_CLOCK = [time.perf_counter]


def _median(fn, args, repeat):
    fn(*args)
    times = []
    for _ in range(repeat):
        t0 = _CLOCK[0]()
        fn(*args)
        times.append(_CLOCK[0]() - t0)
    return float(np.median(times))


def _interleaved(fns, args, repeat):
    """Median time of each fn, called in turn (round robin), so load hits all alike."""
    for fn in fns:
        fn(*args)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            t0 = _CLOCK[0]()
            fn(*args)
            ts.append(_CLOCK[0]() - t0)
    return [float(np.median(ts)) for ts in times]


def _limit_threads(n):
    import os

    os.environ["NUMBA_NUM_THREADS"] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--conv", action="store_true", help="the convolution kernels")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for OpenBLAS, Numba and torch (--conv)")
    parser.add_argument("--cpu", action="store_true",
                        help="time with the process CPU clock instead of the wall clock")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    if args.cpu:
        _CLOCK[0] = time.process_time
    if args.conv:
        _limit_threads(args.threads)
        clock = "CPU" if args.cpu else "wall"
        print(f"{clock} time, median of interleaved repeats, {args.threads} thread(s)")
        for label, shape in CONV_SHAPES.items():
            print(f"{label} {shape[0]}x{shape[1]}x{shape[2]}x{shape[2]} -> {shape[3]}: "
                  f"{'numba µs':>10s}{'numpy µs':>10s}{'torch µs':>10s}  numba/torch")
            cases = _conv_cases(*shape, rng)
            torch_fns = _torch_conv_cases(cases)
            for name, kargs in cases.items():
                fns = [nb.KERNELS[name], ref.KERNELS[name]]
                if name in torch_fns:
                    fns.append(torch_fns[name])
                times = _interleaved(fns, kargs, 5 if args.quick else 15)
                t_torch = times[2] if len(times) > 2 else float("nan")
                print(f"  {name:24s}{times[0] * 1e6:10.1f}{times[1] * 1e6:10.1f}"
                      f"{t_torch * 1e6:10.1f}  {times[0] / t_torch:6.2f}")
        return
    print(f"{'kernel':32s}" + "".join(f"{s:>26s}" for s in SIZES))
    print(f"{'':32s}" + "   numba µs  numpy µs ratio" * len(SIZES))
    rows = {}
    for label, shape in SIZES.items():
        repeat = (20 if args.quick else 100) if label == "1e6" else (200 if args.quick else 2000)
        for case, kargs in _cases(shape, rng).items():
            name = case.split("[")[0]
            t_nb = _median(nb.KERNELS[name], kargs, repeat)
            t_np = _median(ref.KERNELS[name], kargs, repeat)
            rows.setdefault(case, []).append((t_nb, t_np))
    for case, cells in rows.items():
        line = f"{case:32s}"
        for t_nb, t_np in cells:
            line += f"{t_nb * 1e6:11.1f}{t_np * 1e6:10.1f}{t_nb / t_np:6.2f}"
        print(line)


if __name__ == "__main__":
    main()
