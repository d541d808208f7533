"""The in-place optimizer update kernels equal their NumPy twins, step after step."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from graphgrad.kernels import reference  # noqa: E402

numba_backend = pytest.importorskip("graphgrad.kernels.numba_backend")
# the numba kernels by name, as the kernel table sees them, and their twins
nb = SimpleNamespace(KERNELS=numba_backend.KERNELS, **numba_backend.KERNELS)
ref = reference
DTYPES = [np.float32, np.float64]


def _problem(dtype, shape=(7, 5), seed=0):
    rng = np.random.default_rng(seed)
    param = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(5)]
    return param, grads


def _run(update, kernels, dtype, n_state, hyper, shape=(7, 5)):
    """Run 5 steps with each kernel table; return the final (param, *state) of both."""
    results = []
    for table in kernels:
        param, grads = _problem(dtype, shape)
        state = [np.zeros_like(param) for _ in range(n_state)]
        for step, g in enumerate(grads, start=1):
            table[update](param, g, *state, *hyper(step))
        results.append((param, *state))
    return results


def _assert_same(results, dtype):
    tol = 16 * np.finfo(dtype).eps
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov, wd, l1", [
    (0.0, False, 0.0, 0.0), (0.9, False, 0.0, 0.0), (0.9, True, 1e-2, 0.0),
    (0.5, False, 1e-3, 1e-3), (0.0, False, 0.1, 0.05),
])
def test_sgd_update(momentum, nesterov, wd, l1, dtype):
    results = _run("sgd_update", (nb.KERNELS, ref.KERNELS), dtype, 1,
                   lambda step: (0.1, momentum, nesterov, wd, l1))
    _assert_same(results, dtype)
    # the numba run really moved the parameter (the update happened in place)
    param0, _ = _problem(dtype)
    assert not np.allclose(results[0][0], param0)


def test_sgd_without_momentum_ignores_buffer():
    param, (g, *_) = _problem(np.float32)
    want = param.copy()
    ref.sgd_update(want, g, None, 0.1, 0.0, False, 0.0, 0.0)
    nb.sgd_update(param, g, None, 0.1, 0.0, False, 0.0, 0.0)
    np.testing.assert_allclose(param, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_adam_update(wd, dtype):
    results = _run("adam_update", (nb.KERNELS, ref.KERNELS), dtype, 2,
                   lambda step: (1e-2, 0.9, 0.999, 1e-8, step, wd))
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_adagrad_update(wd, dtype):
    results = _run("adagrad_update", (nb.KERNELS, ref.KERNELS), dtype, 1,
                   lambda step: (0.1, 1e-10, wd))
    _assert_same(results, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd", [0.0, 1e-2])
def test_rmsprop_update(wd, dtype):
    results = _run("rmsprop_update", (nb.KERNELS, ref.KERNELS), dtype, 1,
                   lambda step: (1e-2, 0.99, 1e-8, wd))
    _assert_same(results, dtype)


def test_non_contiguous_parameter_still_updates_in_place():
    base = np.random.default_rng(1).standard_normal((6, 8))
    view = base[:, ::2]  # a strided view: the loop cannot update it through a flat view
    g = np.ones_like(view)
    want = view - 0.5
    nb.sgd_update(view, g, None, 0.5, 0.0, False, 0.0, 0.0)
    np.testing.assert_allclose(base[:, ::2], want)
    m, v = np.zeros_like(view), np.zeros_like(view)
    before = view.copy()
    nb.adam_update(view, g.T.copy().T, m, v, 0.1, 0.9, 0.999, 1e-8, 1, 0.0)
    np.testing.assert_allclose(base[:, ::2], before - 0.1, rtol=1e-6)


def test_non_contiguous_gradient_and_integer_hyperparameters():
    param, (g, *_) = _problem(np.float64, (4, 6))
    want = param.copy()
    gt = np.asfortranarray(g)
    ref.sgd_update(want, gt, np.zeros_like(want), 1, 0, False, 0, 0)
    nb.sgd_update(param, gt, np.zeros_like(param), 1, 0, False, 0, 0)
    np.testing.assert_allclose(param, want, rtol=1e-15)
