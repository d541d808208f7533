"""Run one training setup eagerly and compiled, side by side, from the same seeds."""

from __future__ import annotations

import warnings

import numpy as np

import graphgrad as gg

RTOL = 1e-6


# Fused kernels compute exp and log with the kernels' vectorised float32
# approximations (<= 3 ulp) where eager calls NumPy's: a few ulp per step,
# which 100 training steps amplify to ~1e-5 (docs/compile.md).
APPROX_RTOL = 1e-4


def approximates(step):
    """Whether a fused kernel of the step's plan calls exp or log."""
    plan = step.plan
    groups = plan.fused_groups if plan is not None else []
    return any(f"{fn}(" in g.source.split("def fused")[1] for g in groups for fn in ("exp", "log"))


def as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def run(build, steps, compiled, seed=0, fuse=True):
    """Build with gg.manual_seed(seed), then train `steps` steps; returns (losses, setup, step).

    ``build()`` returns ``(step_fn, batch(i) -> args, inspect() -> arrays)``.
    """
    gg.manual_seed(seed)
    step_fn, batch, inspect = build()
    step = gg.compile(step_fn, fuse=fuse) if compiled else step_fn
    gg.manual_seed(seed + 1)  # the stream dropout and noise draw from
    losses = []
    for i in range(steps):
        out = step(*batch(i))
        losses.append(np.concatenate([np.asarray(o.data, np.float64).ravel()
                                      for o in as_tuple(out)]))
    return np.array(losses), inspect(), step


def compare(build, steps=100, fuse=True, rtol=RTOL, replays=True):
    """Assert that eager and compiled runs of `build` agree step by step; returns the step.

    ``replays=False``: the step is expected to fall back to eager (its
    CompileWarning is left to the caller to check).
    """
    eager, eager_state, _ = run(build, steps, compiled=False)
    with warnings.catch_warnings():
        if replays:
            warnings.simplefilter("error", gg.compile.CompileWarning)
        replayed, state, step = run(build, steps, compiled=True, fuse=fuse)
    if approximates(step):
        rtol = max(rtol, APPROX_RTOL)
    scale = np.abs(eager).max() + 1e-30
    np.testing.assert_allclose(replayed, eager, rtol=rtol, atol=rtol * scale)
    for a, b in zip(state, eager_state, strict=True):
        scale = np.abs(b).max() + 1e-30
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)
    if replays:
        assert step.replays == steps - 2, "every call after the two recordings replays"
    else:
        assert step.replays == 0 and step.fallbacks
    return step
