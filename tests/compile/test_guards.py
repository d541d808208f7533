"""Guards re-record, fallbacks run eager with one warning naming the op, randomness stays fresh."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile import CompileWarning


def _model_step(model, opt=None):
    def step(x):
        if opt is not None:
            opt.zero_grad()
        loss = model(x).tanh().sum()
        if opt is not None:
            loss.backward()
            opt.step()
        return loss

    return step


def _x(*shape, seed=0):
    return gg.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


# ------------------------------------------------------------------ guards
def test_train_eval_switch_records_a_plan_per_mode(backend):
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(4, 3), gg.layers.Dropout(0.5))
    step = gg.compile(_model_step(model))
    x = _x(5, 4)
    for _ in range(3):
        step(x)
    assert step.replays == 1
    model.eval()
    expected = model(x).tanh().sum().data  # eval: no dropout, deterministic
    outs = [step(x).data for _ in range(3)]
    for out in outs:
        np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert step.recordings == 4 and step.replays == 2
    model.train()
    step(x)
    assert step.replays == 3, "the train-mode plan is still cached"


def test_new_input_shape_or_dtype_records_again():
    model = gg.layers.Linear(4, 3)
    step = gg.compile(_model_step(model))
    for _ in range(3):
        step(_x(5, 4))
    out = step(_x(7, 4, seed=1))
    np.testing.assert_allclose(out.data, model(_x(7, 4, seed=1)).tanh().sum().data, rtol=1e-6)
    assert step.recordings == 3
    x64 = gg.tensor(np.ones((5, 4)))
    step(x64)
    assert step.recordings == 4


def test_grad_mode_is_part_of_the_signature():
    model = gg.layers.Linear(4, 3)
    step = gg.compile(lambda x: model(x).sum())
    x = _x(2, 4)
    for _ in range(3):
        step(x)
    with gg.no_grad():
        step(x)
    assert step.recordings == 3


def test_rebound_parameter_data_records_again():
    model = gg.layers.Linear(3, 2)
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1)
    step = gg.compile(_model_step(model, opt))
    x = _x(4, 3)
    for _ in range(3):
        step(x)
    model.weight.data = np.zeros((3, 2), np.float32)  # a new array, not an in-place change
    expected = 4 * np.tanh(model.bias.data).sum()  # x @ 0 + b on each of the 4 rows
    out = step(x)
    assert "new data" in step.last_reason
    assert step.recordings == 3
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)


def test_in_place_changes_to_parameters_are_seen_without_recording():
    model = gg.layers.Linear(3, 2)
    step = gg.compile(lambda x: model(x).sum())
    x = _x(4, 3)
    for _ in range(3):
        step(x)
    with gg.no_grad():
        model.weight.fill_(0.0)
        model.bias.fill_(1.0)
    assert step(x).data == pytest.approx(8.0)
    assert step.recordings == 2


def test_the_cache_is_bounded_and_warns_when_it_keeps_recording():
    model = gg.layers.Linear(3, 2)
    step = gg.compile(lambda x: model(x).sum(), max_plans=2)
    with pytest.warns(CompileWarning, match="keeps re-recording"):
        for n in range(1, 6):
            for _ in range(2):
                step(_x(n, 3))
    assert sum(len(p) for p in step._plans.values()) == 2
    assert step.evictions == 3
    assert "re-recorded often" in step.explain()


# --------------------------------------------------------------- fallbacks
class _RawCube(gg.Function):
    """x³ computed with NumPy directly: not a kernel call, so not replayable."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


def test_custom_function_with_raw_numpy_runs_eager_with_one_warning():
    w = gg.tensor(np.ones(3, np.float32), requires_grad=True)

    def step(x):
        w.grad = None
        loss = _RawCube.apply(x * w).sum()
        loss.backward()
        return loss

    compiled = gg.compile(step)
    with pytest.warns(CompileWarning, match="_RawCube") as record:
        results = [compiled(_x(3, seed=i)).data for i in range(5)]
    assert len([r for r in record if issubclass(r.category, CompileWarning)]) == 1
    expected = [float(((_x(3, seed=i).data) ** 3).sum()) for i in range(5)]
    np.testing.assert_allclose(results, expected, rtol=1e-6)
    assert compiled.replays == 0
    assert "_RawCube" in compiled.explain()


def test_item_in_the_step_runs_eager_with_a_warning():
    model = gg.layers.Linear(3, 1)
    values = []

    def step(x):
        loss = model(x).sum()
        values.append(loss.item())
        return loss

    compiled = gg.compile(step)
    with pytest.warns(CompileWarning, match=r"Tensor.item\(\)"):
        for i in range(4):
            compiled(_x(2, 3, seed=i))
    assert len(values) == 4, "eager: the Python side effect happens at every call"


def test_create_graph_runs_eager():
    x = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)

    def step():
        x.grad = None
        (g,) = gg.grad((x ** 3).sum(), x, create_graph=True)
        g.sum().backward()
        return g

    compiled = gg.compile(step)
    with pytest.warns(CompileWarning, match="create_graph"):
        for _ in range(3):
            g = compiled()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)  # d/dx Σ 3x² = 6x
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)


def test_closure_optimizer_runs_eager():
    model = gg.layers.Linear(3, 1)
    opt = gg.optimizers.LBFGS(model.parameters(), lr=0.5)
    x = _x(4, 3)

    def step():
        def closure():
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            return loss

        return opt.step(closure)

    compiled = gg.compile(step)
    with pytest.warns(CompileWarning, match="closure"):
        for _ in range(3):
            compiled()
    assert compiled.replays == 0


def test_value_dependent_control_flow_runs_eager():
    model = gg.layers.Linear(3, 1)

    def step(x):
        y = model(x)
        return y.relu() if float(y.data.sum()) > 0 else y.tanh()

    compiled = gg.compile(step)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for i in range(12):
            compiled(_x(2, 3, seed=i))
    messages = [str(r.message) for r in record if issubclass(r.category, CompileWarning)]
    # the kernels differ between two calls whenever the branch flips
    assert len(messages) <= 1
    if messages:
        assert "different kernels" in messages[0]


def test_a_hand_written_update_is_replayed(backend):
    def run(compiled):
        w = gg.tensor(np.ones((3, 2), np.float32), requires_grad=True)

        def step(x):
            nonlocal w  # `w -= ...` rebinds the name (to the same, updated tensor)
            w.grad = None
            loss = (x @ w).tanh().sum()
            loss.backward()
            with gg.no_grad():
                w -= 0.1 * w.grad
            return loss

        step = gg.compile(step) if compiled else step
        losses = [float(step(_x(4, 3, seed=i)).data) for i in range(8)]
        return losses, w.data.copy(), step

    eager, w_eager, _ = run(False)
    replayed, w_replayed, step = run(True)
    # relative to the largest loss: a fused tanh may differ from NumPy's by an ulp
    np.testing.assert_allclose(replayed, eager, rtol=1e-6, atol=1e-6 * np.abs(eager).max())
    np.testing.assert_allclose(w_replayed, w_eager, rtol=1e-6)
    assert step.replays == 6


def test_fill_inside_the_step_runs_eager_with_a_warning():
    w = gg.tensor(np.ones(3, np.float32))

    def step(x):
        w.fill_(float(len(x)))  # a NumPy write the plan could not repeat
        return (x * w).sum()

    compiled = gg.compile(step)
    with pytest.warns(CompileWarning, match=r"Tensor.fill_"):
        outs = [float(compiled(_x(n)).data) for n in (3, 3, 3)]
    assert compiled.replays == 0 and len(outs) == 3


def test_an_unsupported_step_names_the_op_and_the_users_line():
    w = gg.tensor(np.ones(3, np.float32), requires_grad=True)

    def step(x):
        y = (x * w).sum()
        return y * 2 if y.item() < 100 else y  # the line the warning must name

    line = step.__code__.co_firstlineno + 2
    compiled = gg.compile(step)
    with pytest.warns(CompileWarning, match=rf"Tensor.item\(\).*at test_guards.py:{line}\)"):
        for n in range(3):
            compiled(_x(3, seed=n))
    assert compiled.replays == 0


# -------------------------------------------------------------- randomness
@pytest.mark.parametrize("layer", [lambda: gg.layers.Dropout(0.5),
                                   lambda: gg.layers.NoisyReLU(sigma=0.5)],
                         ids=["dropout", "noisy_relu"])
def test_random_layers_draw_fresh_numbers_like_eager(layer, backend):
    x = _x(64, 8)

    def run(compiled):
        gg.manual_seed(0)
        module = layer()
        step = gg.compile(module) if compiled else module
        return [step(x).data.copy() for _ in range(6)]

    eager, replayed = run(False), run(True)
    for a, b in zip(eager, replayed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(replayed[3], replayed[4]), "each replay draws new numbers"


def test_manual_seed_between_replays_restarts_the_stream():
    module = gg.layers.Dropout(0.5)
    step = gg.compile(module)
    x = _x(32, 8)
    for _ in range(3):
        step(x)
    gg.manual_seed(42)
    a = step(x).data.copy()
    gg.manual_seed(42)
    b = step(x).data.copy()
    np.testing.assert_array_equal(a, b)


def test_manual_seed_before_every_call_still_replays_like_eager():
    # the two recordings see two different global generators; both are the
    # generator of their time, which a replay reads live (it ran eager before)
    def run(compiled):
        gg.manual_seed(0)
        module = gg.layers.Dropout(0.5)
        step = gg.compile(module) if compiled else module
        outs = []
        for i in range(5):
            gg.manual_seed(100 + i)
            outs.append(step(_x(32, 8, seed=i)).data.copy())
        return outs, step

    (eager, _), (replayed, step) = run(False), run(True)
    for a, b in zip(eager, replayed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert step.replays == 3 and not step.fallbacks


def test_batch_norm_running_statistics_update_at_replay(backend):
    def run(compiled):
        layer = gg.layers.BatchNorm(3)
        step = gg.compile(lambda x: layer(x).sum()) if compiled else (lambda x: layer(x).sum())
        for i in range(10):
            step(_x(8, 3, seed=i))
        return layer

    eager, replayed = run(False), run(True)
    np.testing.assert_allclose(replayed.running_mean, eager.running_mean, rtol=1e-6)
    np.testing.assert_allclose(replayed.running_var, eager.running_var, rtol=1e-6)
    assert int(replayed.num_batches_tracked) == 10
