"""The fused LayerNorm/RMSNorm Numba kernels equal their NumPy twins (kernels/reference_norms.py)
on ordinary data, offset rows, several trailing axes, absent γ/β and strided inputs; the
twins themselves against the closed form written with plain NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from graphgrad.kernels import reference_norms as ref

nb = pytest.importorskip("graphgrad.kernels.numba_backend").KERNELS


def _close(got, want, dtype, scale=1.0):
    tol = 32 * np.finfo(dtype).eps
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * scale * max(1.0, np.abs(w).max()))


def _data(shape, dtype, seed, offset=0.0):
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + offset).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,n_axes", [((1, 1), 1), ((5, 7), 1), ((2, 3, 33), 2),
                                          ((4, 2, 3), 3)])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_layer_norm_kernels_equal_their_twins(dtype, shape, n_axes, affine, offset):
    x = _data(shape, dtype, 0, offset)
    trailing = shape[len(shape) - n_axes:]
    w = _data(trailing, dtype, 1) if affine != "none" else None
    b = _data(trailing, dtype, 2) if affine == "both" else None
    want = ref.layer_norm(x, w, b, n_axes, 1e-5)
    _close(nb["layer_norm"](x, w, b, n_axes, 1e-5), want, dtype, scale=1 + offset / 2)
    g = _data(shape, dtype, 3)
    _close(nb["layer_norm_backward"](g, x, want[1], want[2], w),
           ref.layer_norm_backward(g, x, want[1], want[2], w), dtype,
           scale=max(1.0, want[2].max()) * (1 + offset / 2))  # FMA: r·(ĝ − mean ĝ) rounds


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,n_axes", [((1, 1), 1), ((5, 7), 1), ((2, 3, 33), 2)])
@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm_kernels_equal_their_twins(dtype, shape, n_axes, weighted):
    x = _data(shape, dtype, 0, 0.5)
    w = _data(shape[len(shape) - n_axes:], dtype, 1) if weighted else None
    want = ref.rms_norm(x, w, n_axes, 1e-6)
    _close(nb["rms_norm"](x, w, n_axes, 1e-6), want, dtype)
    g = _data(shape, dtype, 3)
    _close(nb["rms_norm_backward"](g, x, want[1], w), ref.rms_norm_backward(g, x, want[1], w),
           dtype, scale=max(1.0, want[1].max()))


def test_strided_and_mixed_inputs_give_the_twins_answer():
    x = _data((8, 6), np.float64, 0).T  # non-contiguous (6, 8)
    w = _data((8,), np.float64, 1)
    _close(nb["layer_norm"](x, w, None, 1, 1e-5), ref.layer_norm(x, w, None, 1, 1e-5),
           np.float64)
    _close(nb["rms_norm"](x[:, ::2], None, 1, 1e-5), ref.rms_norm(x[:, ::2], None, 1, 1e-5),
           np.float64)
    mixed = nb["layer_norm"](x.astype(np.float32), w, None, 1, 1e-5)  # γ float64: the twin
    _close(mixed, ref.layer_norm(x.astype(np.float32), w, None, 1, 1e-5), np.float32)


def test_twins_against_the_closed_form():
    x = _data((3, 2, 5), np.float64, 4, 3.0)
    w, b = _data((2, 5), np.float64, 5), _data((2, 5), np.float64, 6)
    mu = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    y, mean, rstd = ref.layer_norm(x, w, b, 2, 1e-3)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-3) * w + b, rtol=1e-13)
    np.testing.assert_allclose(mean, mu.ravel(), rtol=1e-14)
    y, rstd = ref.rms_norm(x, w, 2, 1e-3)
    np.testing.assert_allclose(y, x / np.sqrt((x * x).mean(axis=(1, 2), keepdims=True) + 1e-3)
                               * w, rtol=1e-13)


def test_the_backward_twins_against_finite_differences():
    rng = np.random.default_rng(8)
    x, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    dx, dw, db = ref.layer_norm_backward(g, x, *ref.layer_norm(x, w, b, 1, 1e-5)[1:], w)
    (rdx, rdw) = ref.rms_norm_backward(g, x, ref.rms_norm(x, w, 1, 1e-5)[1], w)
    h = 1e-6
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        fd = (np.sum(g * ref.layer_norm(x + e, w, b, 1, 1e-5)[0])
              - np.sum(g * ref.layer_norm(x - e, w, b, 1, 1e-5)[0])) / (2 * h)
        assert abs(fd - dx[k]) < 1e-7
        fd = (np.sum(g * ref.rms_norm(x + e, w, 1, 1e-5)[0])
              - np.sum(g * ref.rms_norm(x - e, w, 1, 1e-5)[0])) / (2 * h)
        assert abs(fd - rdx[k]) < 1e-7
    y0 = ref.layer_norm(x, None, None, 1, 1e-5)[0]
    np.testing.assert_allclose(dw, (g * y0).sum(0), rtol=1e-12)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-12)
    np.testing.assert_allclose(rdw, (g * ref.rms_norm(x, None, 1, 1e-5)[0]).sum(0), rtol=1e-12)


# ------------------------------------------------------------------ batch norm
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 1), (7, 3), (4, 3, 5), (3, 4, 2, 3)])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
@pytest.mark.parametrize("given", [False, True])
@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_batch_norm_kernels_equal_their_twins(dtype, shape, affine, given, offset):
    x = _data(shape, dtype, 0, offset)
    c = shape[1]
    w = _data((c,), dtype, 1) if affine != "none" else None
    b = _data((c,), dtype, 2) if affine == "both" else None
    stats = (_data((c,), np.float64, 3), np.abs(_data((c,), np.float64, 4)) + 0.5) if given \
        else (None, None)
    want = ref.batch_norm(x, w, b, *stats, 1e-5)
    _close(nb["batch_norm"](x, w, b, *stats, 1e-5), want, dtype, scale=1 + offset)
    g = _data(shape, dtype, 5)
    _close(nb["batch_norm_backward"](g, x, w, want[1], want[2], 1e-5, not given),
           ref.batch_norm_backward(g, x, w, want[1], want[2], 1e-5, not given), dtype,
           scale=(1 + offset) / np.sqrt(want[2].min() + 1e-5))


def test_batch_norm_kernels_on_strided_and_mixed_inputs_and_stat_copies():
    x = _data((5, 3, 4), np.float64, 0).transpose(0, 1, 2)[:, :, ::2]  # non-contiguous
    _close(nb["batch_norm"](x, None, None, None, None, 1e-5),
           ref.batch_norm(x, None, None, None, None, 1e-5), np.float64)
    w = _data((3,), np.float64, 1)
    mixed = nb["batch_norm"](x.astype(np.float32), w, None, None, None, 1e-5)  # γ float64: twin
    _close(mixed, ref.batch_norm(x.astype(np.float32), w, None, None, None, 1e-5), np.float32)
    running = np.ones(3)
    for kernel in (nb["batch_norm"], ref.batch_norm):  # the saved statistics are copies
        _, mean, var = kernel(x, None, None, running, running, 1e-5)
        assert not np.shares_memory(mean, running) and not np.shares_memory(var, running)


def test_batch_norm_twins_against_the_closed_form_and_finite_differences():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 2, 3)) * 3 + 2
    w, b = rng.standard_normal(2), rng.standard_normal(2)
    mu, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    y, mean, v = ref.batch_norm(x, w, b, None, None, 1e-3)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-3) * w[:, None] + b[:, None],
                               rtol=1e-13)
    np.testing.assert_allclose(mean, mu.ravel(), rtol=1e-14)
    np.testing.assert_allclose(v, var.ravel(), rtol=1e-14)
    rm, rv = rng.standard_normal(2), rng.uniform(0.5, 2, 2)
    y = ref.batch_norm(x, w, b, rm, rv, 1e-3)[0]
    np.testing.assert_allclose(y, (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-3) * w[:, None]
                               + b[:, None], rtol=1e-13)
    g = rng.standard_normal(x.shape)
    h = 1e-6
    for stats, batch in (((None, None), True), ((rm, rv), False)):
        _, m, s = ref.batch_norm(x, w, b, *stats, 1e-3)
        dx, dw, db = ref.batch_norm_backward(g, x, w, m, s, 1e-3, batch)
        for k in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[k] = h
            fd = (np.sum(g * ref.batch_norm(x + e, w, b, *stats, 1e-3)[0])
                  - np.sum(g * ref.batch_norm(x - e, w, b, *stats, 1e-3)[0])) / (2 * h)
            assert abs(fd - dx[k]) < 1e-7
        xhat = ref.batch_norm(x, None, None, *stats, 1e-3)[0]
        np.testing.assert_allclose(dw, (g * xhat).sum(axis=(0, 2)), rtol=1e-12)
        np.testing.assert_allclose(db, g.sum(axis=(0, 2)), rtol=1e-12)
