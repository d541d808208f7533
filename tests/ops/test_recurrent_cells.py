"""The fused recurrent-step ops gg.lstm_cell and gg.gru_cell: against the same step written
with elementary graphgrad ops, against finite differences (first and second order), and
the Numba kernels against their NumPy twins."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck
from graphgrad.kernels import reference

REF = reference.KERNELS


def _t(shape, seed, scale=1.5, grad=True):
    a = np.random.default_rng(seed).standard_normal(shape) * scale
    return gg.tensor(a, requires_grad=grad)


def _lstm_by_hand(gates, c):
    h = c.shape[-1]
    i, f, g, o = (gates[:, k * h:(k + 1) * h] for k in range(4))
    c2 = gg.sigmoid(f) * c + gg.sigmoid(i) * gg.tanh(g)
    return gg.sigmoid(o) * gg.tanh(c2), c2


def _gru_by_hand(gi, gh, h):
    n = h.shape[-1]
    r = gg.sigmoid(gi[:, :n] + gh[:, :n])
    z = gg.sigmoid(gi[:, n:2 * n] + gh[:, n:2 * n])
    cand = gg.tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
    return (1 - z) * cand + z * h


def test_lstm_cell_equals_the_step_written_by_hand():
    gates, c = _t((3, 16), 0), _t((3, 4), 1)
    h1, c1 = gg.lstm_cell(gates, c)
    h2, c2 = _lstm_by_hand(gates, c)
    np.testing.assert_allclose(h1.data, h2.data, atol=1e-14)
    np.testing.assert_allclose(c1.data, c2.data, atol=1e-14)
    w1, w2 = np.random.default_rng(9).standard_normal((2, 3, 4))
    g1 = gg.grad((h1 * w1).sum() + (c1 * w2).sum(), [gates, c])
    g2 = gg.grad((h2 * w1).sum() + (c2 * w2).sum(), [gates, c])
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a.data, b.data, atol=1e-14)


def test_gru_cell_equals_the_step_written_by_hand():
    gi, gh, h = _t((3, 12), 0), _t((3, 12), 1), _t((3, 4), 2)
    y1, y2 = gg.gru_cell(gi, gh, h), _gru_by_hand(gi, gh, h)
    np.testing.assert_allclose(y1.data, y2.data, atol=1e-14)
    w = np.random.default_rng(9).standard_normal((3, 4))
    for a, b in zip(gg.grad((y1 * w).sum(), [gi, gh, h]), gg.grad((y2 * w).sum(), [gi, gh, h]),
                    strict=True):
        np.testing.assert_allclose(a.data, b.data, atol=1e-14)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_gradcheck_and_gradgradcheck(backend):
    old = gg.kernels.get_backend()
    gg.set_backend(backend)
    try:
        gates, c = _t((2, 12), 3), _t((2, 3), 4)
        assert gradcheck(lambda g, s: gg.lstm_cell(g, s), [gates, c])
        assert gradgradcheck(lambda g, s: gg.lstm_cell(g, s), [gates, c])
        gi, gh, h = _t((2, 9), 5), _t((2, 9), 6), _t((2, 3), 7)
        assert gradcheck(gg.gru_cell, [gi, gh, h])
        assert gradgradcheck(gg.gru_cell, [gi, gh, h])
    finally:
        gg.set_backend(old)


def test_only_one_output_used_still_differentiates():
    gates, c = _t((2, 8), 0), _t((2, 2), 1)
    assert gradcheck(lambda g, s: gg.lstm_cell(g, s)[0], [gates, c])
    assert gradcheck(lambda g, s: gg.lstm_cell(g, s)[1], [gates, c])


def test_bad_shapes_and_dtypes_name_the_op():
    with pytest.raises(ValueError, match=r"lstm_cell: gates must have shape \(\.\.\., 4·H\)"):
        gg.lstm_cell(np.zeros((2, 7)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"gru_cell: gh must have shape"):
        gg.gru_cell(np.zeros((2, 6)), np.zeros((2, 5)), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="lstm_cell: gates .float32. and the state .float64."):
        gg.lstm_cell(np.zeros((2, 8), np.float32), np.zeros((2, 2)))


# --------------------------------------------------------------- kernel twins
nb = pytest.importorskip("graphgrad.kernels.numba_backend").KERNELS


def _close(got, want, dtype):
    tol = 16 * np.finfo(dtype).eps
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, np.abs(w).max()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 33)])
def test_numba_kernels_equal_their_twins(dtype, shape):
    n, h = shape
    rng = np.random.default_rng(n * 100 + h)
    arr = lambda *s, k=3.0: (rng.standard_normal(s) * k).astype(dtype)  # noqa: E731
    gates, c = arr(n, 4 * h), arr(n, h)
    gates[0, 0] = 60.0  # saturated gates: σ = 1, tanh = ±1 without overflow or NaN
    gates[-1, -1] = -60.0
    want, got = REF["lstm_cell"](gates, c), nb["lstm_cell"](gates, c)
    _close(got, want, dtype)
    dh, dc = arr(n, h), arr(n, h)
    _close(nb["lstm_cell_backward"](dh, dc, want[2], c, want[1]),
           REF["lstm_cell_backward"](dh, dc, want[2], c, want[1]), dtype)
    gi, gh, hs = arr(n, 3 * h), arr(n, 3 * h), arr(n, h)
    want, got = REF["gru_cell"](gi, gh, hs), nb["gru_cell"](gi, gh, hs)
    _close(got, want, dtype)
    _close(nb["gru_cell_backward"](dh, want[1], gh, hs), REF["gru_cell_backward"](
        dh, want[1], gh, hs), dtype)


def test_numba_wrappers_fall_back_on_layouts_the_loops_do_not_take():
    g3, c3 = np.ones((2, 2, 8)), np.ones((2, 2, 2))  # 3-D: the twin runs
    for a, b in zip(nb["lstm_cell"](g3, c3), REF["lstm_cell"](g3, c3), strict=True):
        np.testing.assert_array_equal(a, b)
    gates = np.random.default_rng(0).standard_normal((8, 3)).T  # non-contiguous, (3, 8)
    c = np.zeros((3, 2))
    for a, b in zip(nb["lstm_cell"](gates, c), REF["lstm_cell"](gates, c), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-15)
