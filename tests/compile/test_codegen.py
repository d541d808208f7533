"""The generated replay (codegen.py) against eager and against the entry loop it replaces."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg


def _mlp_run(monkeypatch, codegen, steps=12, momentum=0.9):
    monkeypatch.setenv("GRAPHGRAD_COMPILE_CODEGEN", "1" if codegen else "0")
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(8, 6), gg.layers.Tanh(), gg.layers.Linear(6, 3))
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1, momentum=momentum)

    def train_step(x, y):
        loss = gg.softmax_cross_entropy(model(x), y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step = gg.compile(train_step) if codegen is not None else train_step
    rng = np.random.default_rng(1)
    losses = []
    for i in range(steps):
        x = gg.tensor(rng.standard_normal((5, 8)).astype(np.float32))
        y = rng.integers(0, 3, 5)
        if i == 6:
            opt.param_groups[0]["lr"] = 0.05  # read live by the generated update
        losses.append(float(step(x, y).data))
    params = [p.data.copy() for p in model.parameters()]
    grads = [p.grad.data.copy() for p in model.parameters()]
    return losses, params, grads, step


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_generated_replay_equals_eager_and_the_entry_loop(monkeypatch, momentum):
    eager = _mlp_run(monkeypatch, None, momentum=momentum)
    gen = _mlp_run(monkeypatch, True, momentum=momentum)
    loop = _mlp_run(monkeypatch, False, momentum=momentum)
    assert gen[3].plan.generated is not None and loop[3].plan.generated is None
    assert gen[3].replays == loop[3].replays == 10
    for other in (eager, loop):
        np.testing.assert_allclose(gen[0], other[0], rtol=1e-6)
        for a, b in zip(gen[1] + gen[2], other[1] + other[2]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_source_is_readable_and_cached_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHGRAD_CACHE_DIR", str(tmp_path))
    *_, step = _mlp_run(monkeypatch, True, steps=4)
    src = step.source()
    assert "def replay(args):" in src and "np.matmul" in src
    path = step.plan.source_path
    assert path.parent == tmp_path / "compiled" and path.read_text() == src
    if gg.get_backend() == "numba":
        assert "def update_0(" in src  # the SGD step of all parameters: one @njit call
        assert "zero_grad() elided" in src
    assert not list(path.parent.glob("*.tmp"))


def test_entry_loop_is_the_fallback(monkeypatch):
    *_, step = _mlp_run(monkeypatch, False, steps=4)
    assert step.source() is None and step.plan.generated is None and step.replays == 2
