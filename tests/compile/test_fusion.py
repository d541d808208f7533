"""Fusion of elementwise runs into generated Numba kernels; explain() and the drawn plan."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile import fusion
from graphgrad.kernels import K
from tests.compile._harness import compare

pytest.importorskip("numba")


@pytest.fixture
def numba_backend():
    previous = gg.get_backend()
    gg.set_backend("numba")
    try:
        yield
    finally:
        gg.set_backend(previous)


def _w3(n=4096, seed=0):
    rng = np.random.default_rng(seed)
    x, w, b = (gg.tensor(rng.standard_normal(n).astype(np.float32), requires_grad=True)
               for _ in range(3))

    def step():
        out = ((x * w + b).tanh() * x.sigmoid() + x.relu() ** 2).sum()
        for t in (x, w, b):
            t.grad = None
        out.backward()
        return out

    return step, (x, w, b)


def _scale_close(actual, expected, rtol):
    np.testing.assert_allclose(actual, expected, rtol=rtol,
                               atol=rtol * float(np.abs(expected).max()))


def test_elementwise_chain_fuses_into_two_kernels_matching_numpy(numba_backend):
    step, (x, w, b) = _w3()
    compiled = gg.compile(step)
    for _ in range(3):
        out = compiled()
    plan = compiled.plan
    assert [e.kind for e in plan.entries if e.kind != "grad"] == ["fused", "fused"]
    forward, backward = plan.fused_groups
    assert forward.labels[-1] == "sum" and "tanh(" in forward.source
    assert len(backward.members) >= 8
    # NumPy closed form, float64: the independent oracle
    X, W, B = (t.data.astype(np.float64) for t in (x, w, b))
    t, s, r = np.tanh(X * W + B), 1 / (1 + np.exp(-X)), np.maximum(X, 0)
    _scale_close(out.data, np.sum(t * s + r * r), 1e-5)
    du = s * (1 - t * t)
    _scale_close(x.grad.data, du * W + t * s * (1 - s) + 2 * r, 1e-5)
    _scale_close(w.grad.data, du * X, 1e-5)
    _scale_close(b.grad.data, du, 1e-5)


def test_fused_tanh_is_within_three_ulp(numba_backend):
    x = np.concatenate([np.linspace(-12, 12, 20001), [0.0, 1e-30, -1e-8, 0.625, -0.625]])
    x = gg.tensor(x.astype(np.float32))
    step = gg.compile(lambda x: (x + 0.0).tanh())
    for _ in range(3):
        y = step(x).data
    assert step.plan.fused_groups, "add and tanh are fused"
    exact = np.tanh(x.data.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(y - exact) / ulp) <= 3.0


def test_mlp_training_fused_equals_eager_for_100_steps(numba_backend):
    def build():
        model = gg.Sequential(gg.layers.Linear(16, 12), gg.layers.Tanh(),
                              gg.layers.Linear(12, 12), gg.layers.Sigmoid(),
                              gg.layers.Linear(12, 4))
        opt = gg.optimizers.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rng = np.random.default_rng(0)
        xs = rng.standard_normal((100, 8, 16)).astype(np.float32)
        ys = rng.integers(0, 4, (100, 8))

        def step(x, y):
            loss = gg.softmax_cross_entropy(model(x), y).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step, lambda i: (gg.tensor(xs[i]), ys[i]), lambda: [
            p.data for p in model.parameters()]

    step = compare(build, 100, fuse=True)
    assert len(step.plan.fused_groups) >= 2
    assert step.plan.launches < step.plan.eager_launches


def test_a_plugin_kernel_declared_elementwise_is_fused(numba_backend, monkeypatch):
    def swish(x):
        """x·σ(x) (a plugin's kernel)."""
        return x / (1 + np.exp(-x))

    class Swish(gg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return K.swish(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            s = gg.sigmoid(x)
            return g * (s + x * s * (1 - s))

    monkeypatch.setattr(K, "swish", swish, raising=False)
    monkeypatch.setitem(fusion._TEMPLATES, "swish", None)
    gg.compile.declare_elementwise("swish", "{0} * sigmoid({0})")
    x = gg.tensor(np.linspace(-4, 4, 64).astype(np.float32))
    step = gg.compile(lambda x: Swish.apply(x * 2.0) + 1.0)
    for _ in range(3):
        y = step(x).data
    (group,) = step.plan.fused_groups
    assert group.labels == ["mul", "swish", "add"]
    z = 2.0 * x.data.astype(np.float64)
    np.testing.assert_allclose(y, z / (1 + np.exp(-z)) + 1.0, rtol=1e-5, atol=1e-6)


def test_declare_elementwise_rejects_bad_arguments():
    with pytest.raises(TypeError, match="declare_elementwise"):
        gg.compile.declare_elementwise("x", 3)


def test_numpy_backend_replays_without_fusion():
    previous = gg.get_backend()
    gg.set_backend("numpy")
    try:
        step, _ = _w3(256)
        compiled = gg.compile(step)
        for _ in range(3):
            compiled()
        assert compiled.plan.fused_groups == []
        assert compiled.plan.launches == compiled.plan.eager_launches
        assert compiled.replays == 1
    finally:
        gg.set_backend(previous)


@pytest.mark.requires_dot
def test_explain_and_the_drawn_plan(numba_backend, tmp_path):
    step, _ = _w3(512)
    compiled = gg.compile(step)
    assert "no plan yet" in compiled.explain()
    for _ in range(3):
        compiled()
    text = compiled.explain()
    assert "2 fused kernel(s)" in text and "kernel launches per step (eager: 20)" in text
    assert "mul -> add -> tanh" in text
    dot = gg.to_dot(compiled)
    assert dot.source.count("subgraph cluster_") == 2
    assert "Tanh.forward" in dot.source and "KiB" in dot.source
    path = gg.render(compiled, tmp_path / "plan.svg")
    assert path.read_text().lstrip().startswith("<?xml")
