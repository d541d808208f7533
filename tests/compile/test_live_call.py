"""A live call (the data-parallel gradient all-reduce) as an entry of a compiled plan.

``graphgrad.compile.recorder.live_call`` is how ``graphgrad.distributed`` puts
its all-reduce into a plan; here its function is a stand-in that changes the
gradients in place (halves them, with a weight read live), so the plan's
``allreduce`` entry is tested in one process against the same step run eagerly.
The MPI run itself: tests/distributed (``Trainer(compile=True, distributed=True)``).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile.recorder import live_call
from graphgrad.compile.step import CompileWarning


class Halve:
    """g <- weight * g in place, the weight read at every call (like the all-reduce's share)."""

    def __init__(self):
        self.weight, self.calls = 0.5, 0

    def __call__(self, arrays):
        self.calls += 1
        for a in arrays:
            a *= self.weight


def _run(monkeypatch, compiled, codegen="1", steps=8):
    monkeypatch.setenv("GRAPHGRAD_COMPILE_CODEGEN", codegen)
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(6, 5), gg.layers.Tanh(), gg.layers.Linear(5, 3))
    opt = gg.optimizers.SGD(model.parameters(), lr=0.2, momentum=0.9)
    halve = Halve()

    def train_step(x, y):
        opt.zero_grad()
        loss = gg.softmax_cross_entropy(model(x), y).mean()
        loss.backward()
        live_call("allreduce", "halve_gradients", halve,
                  [p.grad.data for p in model.parameters()])
        opt.step()
        return loss

    step = gg.compile(train_step) if compiled else train_step
    rng = np.random.default_rng(3)
    for i in range(steps):
        if i == 5:
            halve.weight = 0.25  # read live by the replayed entry
        step(gg.tensor(rng.standard_normal((4, 6)).astype(np.float32)), rng.integers(0, 3, 4))
    return [p.data.copy() for p in model.parameters()], halve, step


@pytest.mark.parametrize("codegen", ["1", "0"])
def test_live_call_entry_runs_at_every_replay_like_eager(monkeypatch, codegen):
    eager, eager_halve, _ = _run(monkeypatch, compiled=False)
    params, halve, step = _run(monkeypatch, compiled=True, codegen=codegen)
    assert step.replays == 6 and not step.fallbacks
    assert halve.calls == eager_halve.calls == 8
    for a, b in zip(params, eager):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # float32, fused kernels
    kinds = [e.kind for e in step.plan.entries]
    assert kinds.count("allreduce") == 1 and kinds.index("allreduce") < kinds.index("update")
    assert "allreduce halve_gradients: 4 gradient buffer(s)" in step.explain()
    if codegen == "1":
        assert step.plan.generated is not None and "halve_gradients" in step.source()


def test_live_call_on_arrays_not_from_the_step_is_not_replayed(monkeypatch):
    gg.manual_seed(0)
    lin = gg.layers.Linear(3, 2)
    outside = np.zeros(3)

    def f(x):
        out = lin(x).sum()
        live_call("allreduce", "outside", lambda arrays: None, [outside])
        return out

    step = gg.compile(f)
    with pytest.warns(CompileWarning, match="outside"):
        for _ in range(3):
            step(gg.tensor(np.ones((2, 3), dtype=np.float32)))
    assert step.fallbacks and step.fallbacks[0][0] == "outside"
