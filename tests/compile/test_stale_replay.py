"""The five ways a replay used to be silently stale (issue 23): compiled must equal eager."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile import CompileWarning

RTOL = 1e-6


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * (np.abs(b).max() + 1e-30))


# ------------------------------------------------- 1. same batch twice, then a new one
@pytest.mark.parametrize("kind", ["tensor", "numpy"])
def test_same_batch_twice_then_a_new_batch_is_not_baked_in(kind):
    w = gg.Parameter(_arr(6, 3, seed=1))

    def step(x):
        w.grad = None
        if kind == "tensor":  # a reshape of a permuted view copies outside the kernels
            h = x.permute(1, 0).reshape(2, 12).reshape(4, 6)
        else:  # the user's own NumPy on a raw array input
            h = gg.tensor(x.astype(np.float64).T.reshape(4, 6).astype(np.float32))
        loss = (h @ w).tanh().sum()
        loss.backward()
        return loss, w.grad

    compiled = gg.compile(step)
    a, b = _arr(6, 4, seed=2), _arr(6, 4, seed=3)
    if kind == "tensor":
        a, b = gg.tensor(a), gg.tensor(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for x in (a, a, b, a, b, b, a):
            got = compiled(x)
            want = step(x)
            for g, e in zip(got, want, strict=True):
                _close(g.data, e.data)


def test_a_reshape_of_a_permuted_view_replays_without_falling_back():
    """Merging attention heads (transpose, then reshape) copies through a kernel: it compiles."""
    w = gg.Parameter(_arr(6, 3, seed=1))

    def step(x):
        w.grad = None
        loss = (x.permute(1, 0).reshape(2, 12).reshape(4, 6) @ w).tanh().sum()
        loss.backward()
        return loss, w.grad

    compiled = gg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for seed in (2, 2, 3, 4):
            x = gg.tensor(_arr(6, 4, seed=seed))
            for g, e in zip(compiled(x), step(x), strict=True):
                _close(g.data, e.data)
    assert compiled.explain().count("plan") >= 1


def test_a_loss_summed_with_python_sum_compiles():
    """``sum(losses)`` starts at 0: the root's seed gradient is passed on unchanged."""
    w = gg.Parameter(_arr(4, seed=1))

    def step(x):
        w.grad = None
        loss = sum(((x * w) ** 2).sum(axis=1)[i] for i in range(3))
        loss.backward()
        return loss, w.grad

    compiled = gg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for seed in (2, 3, 4):
            x = gg.tensor(_arr(3, 4, seed=seed))
            for g, e in zip(compiled(x), step(x), strict=True):
                _close(g.data, e.data)


# ------------------------------------------------- 2. a Python number the step reads
@pytest.mark.parametrize("kind", ["mul", "add", "clip", "leaky_relu"])
def test_a_closed_over_number_that_changes_is_not_replayed_stale(kind):
    w = gg.Parameter(_arr(4, seed=1))
    s = {"b": 1.0}
    scale = [0.5]

    def step(x):
        if kind == "mul":
            return (x * w).sum() * s["b"]
        if kind == "add":
            return (x * w + s["b"]).sum()
        if kind == "clip":
            return (x * w).clip(0.0, s["b"]).sum()
        return gg.leaky_relu(x * w, s["b"] * scale[0]).sum()

    compiled = gg.compile(step)
    x = gg.tensor(_arr(3, 4, seed=2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileWarning)
        for _ in range(3):
            _close(compiled(x).data, step(x).data)
        s["b"] = 0.25
        for _ in range(3):
            _close(compiled(x).data, step(x).data)
        scale[0] = 2.0
        _close(compiled(x).data, step(x).data)
    assert any("changed" in str(w.message) for w in caught), "a re-record says why"


_SCALE = 1.0


def test_a_global_number_that_changes_re_records():
    w = gg.Parameter(_arr(4, seed=1))

    def step(x):
        return (x * w).sum() * _SCALE

    compiled = gg.compile(step)
    x = gg.tensor(_arr(3, 4, seed=2))
    global _SCALE
    try:
        for _ in range(3):
            compiled(x)
        _SCALE = 0.25
        with pytest.warns(CompileWarning, match="_SCALE"):
            got = compiled(x)
        _close(got.data, step(x).data)
    finally:
        _SCALE = 1.0


_MODEL = None


def test_a_name_rebound_to_another_object_re_records():
    # closed-over tensor and a global model: rebinding either name is seen (identity guard)
    global _MODEL
    mask = gg.tensor(np.ones(4, np.float32))
    _MODEL = gg.layers.Linear(4, 2)

    def step(x):
        return (_MODEL(x * mask) ** 2).sum()

    compiled = gg.compile(step)
    x = gg.tensor(_arr(3, 4, seed=2))
    try:
        for _ in range(3):
            _close(compiled(x).data, step(x).data)
        mask = gg.tensor(np.full(4, 3.0, np.float32))  # noqa: F841 - read by step's cell
        with pytest.warns(CompileWarning, match="'mask' now names another Tensor"):
            for _ in range(3):  # records twice, then replays the new plan
                _close(compiled(x).data, step(x).data)
        _MODEL = gg.layers.Linear(4, 2)
        with pytest.warns(CompileWarning, match="'_MODEL' now names another Linear"):
            _close(compiled(x).data, step(x).data)
        for _ in range(3):
            _close(compiled(x).data, step(x).data)
        assert compiled.replays >= 2
    finally:
        _MODEL = None


# ------------------------------------------------- 3. a module hyperparameter changes
def test_dropout_p_set_to_zero_after_compiling_is_seen():
    gg.manual_seed(0)
    drop = gg.layers.Dropout(0.4)
    compiled = gg.compile(lambda x: drop(x))
    x = gg.tensor(np.ones((50, 40), np.float32))
    for _ in range(3):
        compiled(x)
    drop.p = 0.0
    with pytest.warns(CompileWarning, match="Dropout"):
        out = compiled(x)
    _close(out.data, x.data)


@pytest.mark.parametrize("change", ["p", "mode"])
def test_a_module_that_computed_nothing_while_recording_is_still_guarded(change):
    # Dropout(p=0), or in eval mode, returns its input: no op runs inside it while
    # recording, yet its p and its mode decide what later calls compute
    lin = gg.layers.Linear(4, 6, rng=np.random.default_rng(0))
    drop = gg.layers.Dropout(0.0 if change == "p" else 0.5)
    if change == "mode":
        drop.eval()  # the dropout alone: the model around it stays in training mode
    model = gg.Sequential(lin, drop)

    def step(x):
        return (model(x) ** 2).sum()

    compiled = gg.compile(step)
    x = gg.tensor(np.ones((20, 4), np.float32))
    for i in range(3):
        gg.manual_seed(i)
        _close(compiled(x).data, (lin(x) ** 2).sum().data)
    if change == "p":
        drop.p = 0.9
    else:
        drop.train()
    for i in range(3, 6):
        gg.manual_seed(i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CompileWarning)
            got = compiled(x).data
        gg.manual_seed(i)
        _close(got, step(x).data)  # eager, with the dropout now dropping


def test_leaky_relu_slope_changed_on_the_layer_is_seen():
    layer = gg.layers.LeakyReLU(0.1)
    compiled = gg.compile(lambda x: layer(x).sum())
    x = gg.tensor(_arr(5, 4))
    for _ in range(3):
        compiled(x)
    layer.slope = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        _close(compiled(x).data, layer(x).sum().data)


# ------------------------------------------------- 4. the model is edited after compiling
def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", CompileWarning)
    return ctx


def test_network_replace_after_compiling_runs_the_new_layer():
    gg.manual_seed(0)
    net = gg.Network()
    net.add("fc", gg.layers.Linear(4, 6))
    net.add("act", gg.layers.Tanh())
    compiled = gg.compile(lambda x: net(x))
    x = gg.tensor(_arr(8, 4) * 3)
    for _ in range(3):
        compiled(x)
    net.replace("act", gg.layers.ReLU())
    ctx = _quiet()
    try:
        out = compiled(x)
    finally:
        ctx.__exit__(None, None, None)
    assert out.data.min() >= 0
    _close(out.data, net(x).data)


def test_sequential_append_after_compiling_runs_the_new_layer():
    gg.manual_seed(0)
    seq = gg.Sequential(gg.layers.Linear(4, 6))
    compiled = gg.compile(lambda x: seq(x))
    x = gg.tensor(_arr(8, 4))
    for _ in range(3):
        compiled(x)
    lin = gg.layers.Linear(6, 2)
    lin.weight.data[...] = 0
    lin.bias.data[...] = 0
    seq.append(lin)
    ctx = _quiet()
    try:
        out = compiled(x)
    finally:
        ctx.__exit__(None, None, None)
    assert out.shape == (8, 2)
    _close(out.data, np.zeros((8, 2)))


def test_assigning_a_new_parameter_after_compiling_is_seen():
    gg.manual_seed(0)
    lin = gg.layers.Linear(4, 6)
    compiled = gg.compile(lambda x: lin(x))
    x = gg.tensor(_arr(8, 4))
    for _ in range(3):
        compiled(x)
    lin.weight = gg.Parameter(np.zeros((6, 4), np.float32) if lin.weight.shape == (6, 4)
                              else np.zeros(lin.weight.shape, np.float32))
    lin.bias = gg.Parameter(np.zeros(lin.bias.shape, np.float32))
    ctx = _quiet()
    try:
        out = compiled(x)
    finally:
        ctx.__exit__(None, None, None)
    _close(out.data, np.zeros((8, 6)))


def _fix_weights(model, seed=5):
    """Deterministic weights (layer initialisers draw from more than gg.manual_seed)."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data[...] = 0.5 * rng.standard_normal(p.shape)


def _trainer_fine_tune(compile_):
    gg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    net = gg.Network()
    net.add("fc", gg.layers.Linear(5, 8))
    net.add("act", gg.layers.Tanh())
    net.add("head", gg.layers.Linear(8, 2))
    _fix_weights(net)
    opt = gg.optimizers.SGD(net.parameters(), lr=0.1, momentum=0.9)
    trainer = gg.Trainer(net, gg.losses.CrossEntropy(), opt, compile=compile_, progress=False)
    loader = gg.data.DataLoader(gg.data.ArrayDataset(x, y), batch_size=10, shuffle=False)
    ctx = _quiet()
    try:
        trainer.fit(loader, epochs=2)
        net.replace("act", gg.layers.ReLU())
        history = trainer.fit(loader, epochs=4)
    finally:
        ctx.__exit__(None, None, None)
    return history["loss"], [p.data.copy() for p in net.parameters()]


def test_trainer_fit_edit_fit_compiled_matches_eager():
    eager_loss, eager_params = _trainer_fine_tune(False)
    loss, params = _trainer_fine_tune(True)
    _close(loss, eager_loss, rtol=1e-5)
    for a, b in zip(params, eager_params, strict=True):
        _close(a, b, rtol=1e-5)


# ------------------------------------------------- 5. optimizer state reloaded
def _momentum_run(compiled_, reload_with_new_arrays):
    gg.manual_seed(0)
    lin = gg.layers.Linear(4, 3)
    _fix_weights(lin)
    opt = gg.optimizers.SGD(lin.parameters(), lr=0.1, momentum=0.9)

    def step(x):
        opt.zero_grad()
        loss = lin(x).tanh().sum()
        loss.backward()
        opt.step()
        return loss

    run = gg.compile(step) if compiled_ else step
    x = gg.tensor(_arr(6, 4))
    losses = []
    for _ in range(3):
        losses.append(run(x).data)
    saved = opt.state_dict()
    for _ in range(3):
        losses.append(run(x).data)
    if reload_with_new_arrays:  # replace the state dict's arrays by new objects
        opt.state = {p: {k: np.array(v, copy=True) for k, v in s.items()}
                     for p, s in opt.state.items()}
    opt.load_state_dict(saved)
    for _ in range(4):
        losses.append(run(x).data)
    return np.array(losses, np.float64), [p.data.copy() for p in lin.parameters()]


@pytest.mark.parametrize("new_arrays", [False, True])
def test_optimizer_load_state_dict_under_a_compiled_step(new_arrays):
    ctx = _quiet()
    try:
        eager = _momentum_run(False, new_arrays)
        compiled = _momentum_run(True, new_arrays)
    finally:
        ctx.__exit__(None, None, None)
    _close(compiled[0], eager[0])
    for a, b in zip(compiled[1], eager[1], strict=True):
        _close(a, b)


def _trainer_checkpoint(compile_, tmp_path):
    gg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    net = gg.Sequential(gg.layers.Linear(5, 8), gg.layers.Tanh(), gg.layers.Linear(8, 2))
    _fix_weights(net)
    opt = gg.optimizers.SGD(net.parameters(), lr=0.1, momentum=0.9)
    trainer = gg.Trainer(net, gg.losses.CrossEntropy(), opt, compile=compile_, progress=False)
    loader = gg.data.DataLoader(gg.data.ArrayDataset(x, y), batch_size=10, shuffle=False)
    ctx = _quiet()
    try:
        trainer.fit(loader, epochs=1)
        path = trainer.save_checkpoint(tmp_path / f"ck{int(compile_)}.npz")
        trainer.fit(loader, epochs=2)
        trainer.load_checkpoint(path)
        history = trainer.fit(loader, epochs=3)
    finally:
        ctx.__exit__(None, None, None)
    return history["loss"], [p.data.copy() for p in net.parameters()]


def test_trainer_load_checkpoint_under_compile_matches_eager(tmp_path):
    eager_loss, eager_params = _trainer_checkpoint(False, tmp_path)
    loss, params = _trainer_checkpoint(True, tmp_path)
    _close(loss, eager_loss, rtol=1e-5)
    for a, b in zip(params, eager_params, strict=True):
        _close(a, b, rtol=1e-5)
