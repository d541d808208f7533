"""clip_grad_norm_ / clip_grad_value_ against torch.nn.utils (when installed) and the closed
form: total norm over every gradient, norm types 1, 2, 3.5, inf, in-place scaling, the
returned norm, error_if_nonfinite, parameters without gradients; and under gg.compile."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import graphgrad as gg

RNG = np.random.default_rng(5)
SHAPES = [(3, 4), (4,), (2, 2, 3)]


def _params(dtype, scale=1.0):
    ps = [gg.Parameter(RNG.standard_normal(s).astype(dtype)) for s in SHAPES]
    for p in ps:
        p.grad = gg.tensor((RNG.standard_normal(p.shape) * scale).astype(dtype))
    return ps


def _torch_params(torch, ps):
    ts = [torch.nn.Parameter(torch.tensor(p.data)) for p in ps]
    for t, p in zip(ts, ps, strict=True):
        t.grad = torch.tensor(p.grad.data.copy())
    return ts


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, tol):
    torch = pytest.importorskip("torch")
    ps = _params(dtype)
    ts = _torch_params(torch, ps)
    total = gg.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(ts, max_norm, norm_type=norm_type)
    assert total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=tol)
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=tol, atol=tol)


def test_clip_grad_norm_closed_form_and_in_place():
    ps = _params(np.float64, scale=3.0)
    before = [p.grad for p in ps]
    flat = np.concatenate([p.grad.data.ravel() for p in ps])
    want = np.linalg.norm(flat)
    total = gg.clip_grad_norm_(iter(ps), max_norm=1.0)  # any iterable, e.g. a generator
    assert total.item() == pytest.approx(want, rel=1e-13)
    new = np.concatenate([p.grad.data.ravel() for p in ps])
    np.testing.assert_allclose(new, flat * (1.0 / (want + 1e-6)), rtol=1e-13)
    assert all(p.grad is b for p, b in zip(ps, before, strict=True))  # in place
    inside = _params(np.float64, scale=1e-3)
    kept = [p.grad.data.copy() for p in inside]
    gg.clip_grad_norm_(inside, max_norm=10.0)
    for p, k in zip(inside, kept, strict=True):
        np.testing.assert_array_equal(p.grad.data, k)  # the factor is exactly 1


def test_a_single_tensor_and_parameters_without_grad():
    p = gg.Parameter(np.ones(4))
    assert gg.clip_grad_norm_(p, 1.0).item() == 0.0  # no gradient anywhere: norm 0
    p.grad = gg.tensor(np.full(4, 2.0))
    q = gg.Parameter(np.ones(3))  # no grad: skipped
    assert gg.clip_grad_norm_([p, q], 1.0).item() == pytest.approx(4.0)
    np.testing.assert_allclose(p.grad.data, np.full(4, 0.5 * 4 / (4 + 1e-6)))
    assert q.grad is None


def test_error_if_nonfinite():
    ps = _params(np.float64)
    ps[1].grad.data[0] = np.inf
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm .* is inf"):
        gg.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    with np.errstate(invalid="ignore"):  # PyTorch's default: scale anyway (inf·0 = NaN)
        total = gg.clip_grad_norm_(ps, 1.0)
    assert math.isinf(total.item())


@pytest.mark.parametrize("bad,error,match", [
    (dict(max_norm="1"), TypeError, "max_norm must be a number"),
    (dict(max_norm=1.0, norm_type=0), ValueError, "norm_type must be > 0"),
    (dict(max_norm=1.0, parameters=[np.ones(2)]), TypeError, "every parameter must be a Tensor"),
    (dict(max_norm=1.0, parameters=3), TypeError, "parameters must be a Tensor or an iterable"),
])
def test_bad_arguments_name_the_function(bad, error, match):
    kw = {"parameters": _params(np.float64), **bad}
    with pytest.raises(error, match=match):
        gg.clip_grad_norm_(**kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    ps = _params(dtype, scale=2.0)
    ps[0].grad.data[0, 0] = np.nan
    ps[0].grad.data[0, 1] = -np.inf
    ts = _torch_params(torch, ps)
    assert gg.clip_grad_value_(ps, 0.7) is None
    torch.nn.utils.clip_grad_value_(ts, 0.7)
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_array_equal(p.grad.data, t.grad.numpy())
    assert np.nanmax(np.abs(ps[0].grad.data)) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        gg.clip_grad_value_(ps, -1)


def test_clip_grad_norm_in_a_compiled_step_replays_as_eager():
    def trainer():
        model = gg.layers.Linear(5, 3)
        with gg.no_grad():
            model.weight.copy_(np.random.default_rng(0).standard_normal((5, 3)))
        opt = gg.optimizers.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = ((model(x) - y) ** 2).sum()
            loss.backward()
            norm = gg.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            return norm

        return model, step

    eager_model, eager = trainer()
    model, step = trainer()
    compiled = gg.compile(step)
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gg.compile.CompileWarning)
        for _ in range(4):
            x = gg.tensor(rng.standard_normal((4, 5)).astype(np.float32))
            y = gg.tensor(rng.standard_normal((4, 3)).astype(np.float32) * 5)
            np.testing.assert_allclose(compiled(x, y).data, eager(x, y).data, rtol=1e-5)
    assert "runs eager" not in compiled.explain()
    for p, q in zip(eager_model.parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-5, atol=1e-6)
