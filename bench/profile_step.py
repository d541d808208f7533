"""Where one training step's time goes, op by op: forward, backward and update.

    python bench/profile_step.py [W2|W1|W4|W5] [--steps 3000]

Times (CPU time of this thread, so other processes on the machine matter
less) every ``Function.apply`` during the forward pass and every node's
``backward`` during ``loss.backward()``, grouped by op class, and the
parameter update; "engine" is the rest of ``backward()`` (ordering the graph,
routing and accumulating gradients, freeing saved values), and the "inside"
rows are the ops that the backward functions call (part of the backward rows).  The numbers are
per step; each is the median over steps.  The instrumentation itself costs
about 0.3 µs per timed call.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: E402

import graphgrad as gg  # noqa: E402
from graphgrad.autograd.function import Function  # noqa: E402
from graphgrad.kernels import K  # noqa: E402

clock = time.thread_time


def _instrument(fwd, bwd):
    """Patch Function.apply and each op's backward to add their times to fwd / bwd."""
    apply = Function.apply.__func__
    depth = [0]

    def timed_apply(cls, *args, **kwargs):
        if depth[0]:
            return apply(cls, *args, **kwargs)
        depth[0] += 1
        t = clock()
        try:
            return apply(cls, *args, **kwargs)
        finally:
            fwd[cls.__name__] += clock() - t
            depth[0] -= 1

    Function.apply = classmethod(timed_apply)
    patched = set()

    def patch(cls):
        if cls in patched or "backward" not in vars(cls):
            return
        patched.add(cls)
        inner = cls.backward

        def timed_backward(ctx, *grads):
            t = clock()
            try:
                return inner(ctx, *grads)
            finally:
                bwd[cls.__name__] += clock() - t

        cls.backward = staticmethod(timed_backward)

    return patch


def _model(workload):
    """(params, forward): the workload's parameters and a function computing its loss."""
    if workload in workloads.CNNS:
        x, y, layers = workloads._cnn_data(workload, 0)
        params = [gg.tensor(a, requires_grad=True) for pair in layers for a in pair]
        x = gg.tensor(x)

        def forward():
            if workload == "W4":
                w1, b1, w2, b2, w3, b3 = params
                h = gg.max_pool2d(gg.conv2d(x, w1, b1, padding=1).relu(), 2)
                h = gg.max_pool2d(gg.conv2d(h, w2, b2, padding=1).relu(), 2)
                return gg.softmax_cross_entropy(h.reshape(h.shape[0], -1) @ w3 + b3, y).mean()
            w1, b1, w2, b2 = params
            h = gg.conv2d(x, w1, b1, padding=1).relu()
            return gg.conv2d(h, w2, b2, padding=1).relu().mean()

        return params, forward
    sizes, batch, act = workloads.MLPS[workload]
    x, y, weights, biases = workloads._mlp_data(sizes, batch, 0)
    params = [gg.tensor(a, requires_grad=True) for pair in zip(weights, biases) for a in pair]
    x = gg.tensor(x)

    def forward():
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.relu() if act == "relu" else h.tanh()
        return gg.softmax_cross_entropy(h, y).mean()

    return params, forward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="W2", choices=["W1", "W2", "W4", "W5"])
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args(argv)
    params, forward = _model(args.workload)
    velocity = [p.data * 0 for p in params]

    fwd, bwd = collections.defaultdict(float), collections.defaultdict(float)
    patch = _instrument(fwd, bwd)
    rows = collections.defaultdict(list)
    for step in range(args.steps):
        fwd.clear()
        bwd.clear()
        t0 = clock()
        loss = forward()
        t1 = clock()
        forward_ops = dict(fwd)
        fwd.clear()  # from here on: the ops that backward functions call
        for node in gg.autograd.topological_order([loss.grad_fn]):
            patch(type(node))
        t2 = clock()
        loss.backward()
        t3 = clock()
        for p, u in zip(params, velocity):
            K.sgd_update(p.data, p.grad.data, u, workloads.LR, workloads.MOMENTUM, False, 0.0, 0.0)
            p.grad = None
        t4 = clock()
        if step < args.steps // 10:  # warm-up
            continue
        for name, t in forward_ops.items():
            rows[("forward", name)].append(t)
        for name, t in bwd.items():
            rows[("backward", name)].append(t)
        for name, t in fwd.items():
            rows[("  inside", name)].append(t)
        rows[("forward", "total")].append(t1 - t0)
        rows[("backward", "total")].append(t3 - t2)
        rows[("backward", "engine")].append((t3 - t2) - sum(bwd.values()))
        rows[("update", f"sgd_update x{len(params)}")].append(t4 - t3)
        rows[("step", "total")].append((t1 - t0) + (t4 - t2))

    print(f"{args.workload}: µs per step (median over {len(rows[('step', 'total')])} steps)")
    for (phase, name), ts in rows.items():
        print(f"  {phase:9s}{name:26s}{statistics.median(ts) * 1e6:8.1f}")


if __name__ == "__main__":
    main()
