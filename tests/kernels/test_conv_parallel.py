"""The parallel (prange) and serial compilations of the convolution and pooling loops
agree on the same inputs, and the scratch-array pool never lets a result alias a
reused block.

Each prange iteration writes its own (image, channel) slice and performs the same
operations in the same order as the serial loop, so the results must be equal; the
test allows 1e-6 relative (float32) / 1e-12 (float64) as the issue states, and the
NumPy reference twin is checked too so neither path can agree on a wrong answer.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("numba")

from graphgrad.kernels import buffers  # noqa: E402
from graphgrad.kernels import reference as ref  # noqa: E402
from graphgrad.kernels.numba_backend import conv as nbconv  # noqa: E402

RTOL = {np.float32: 1e-6, np.float64: 1e-12}

# (N, C, H, W, Cout, kernel, stride, pads (t, b, l, r), dilation, groups)
GEOMETRIES = [
    (3, 4, 7, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 4, 9, 8, 4, (3, 2), (2, 1), (0, 0, 1, 1), (1, 2), 2),
    (2, 3, 12, 12, 5, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),   # large image: sliced col2im
    (2, 6, 5, 5, 6, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 3),
    # >= 8 input channels, < 256 output pixels: the channels-last loops
    (3, 16, 4, 4, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 8, 7, 6, 4, (3, 2), (2, 1), (1, 0, 0, 1), (1, 2), 1),
]


def _both(monkeypatch, fn, *args):
    """fn(*args) with the serial loops, then with the parallel ones."""
    out = []
    for threshold in (1 << 62, 0):
        monkeypatch.setattr(nbconv, "PARALLEL_MIN_ELEMENTS", threshold)
        out.append(fn(*args))
    return out


def _close(a, b, dtype):
    a, b = (np.asarray(v) for v in (a, b))
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_allclose(a, b, rtol=RTOL[dtype], atol=RTOL[dtype] * np.abs(b).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_conv_parallel_equals_serial(monkeypatch, dtype, geo):
    n, c, h, w_, o, k, stride, pads, dil, groups = geo
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((o, c // groups) + k).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    ho = (h + pads[0] + pads[1] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
    wo = (w_ + pads[2] + pads[3] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
    g = rng.standard_normal((n, o, ho, wo)).astype(dtype)
    if c >= 8:  # the geometry must reach the loops this test is about
        from graphgrad.kernels.numba_backend import conv_channels_last

        assert conv_channels_last.use(c, groups, ho, wo)
    cases = [
        ("conv2d", (x, w, b, stride, pads, dil, groups)),
        ("conv_transpose2d", (g, w, stride, pads, dil, groups, (h, w_))),
        ("conv2d_weight", (x, g, stride, pads, dil, groups, k)),
        ("im2col", (x, k, stride, pads, dil)),
    ]
    for name, args in cases:
        serial, parallel = _both(monkeypatch, getattr(nbconv, name), *args)
        _close(parallel, serial, dtype)
        if name == "im2col":  # exact copies: the reference must agree too
            np.testing.assert_array_equal(serial, ref.im2col(*args))
    cols = ref.im2col(x, k, stride, pads, dil)
    serial, parallel = _both(monkeypatch, nbconv.col2im, cols, (h, w_), stride, pads, dil)
    _close(parallel, serial, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,pads", [((2, 2), (2, 2), (0, 0, 0, 0)),
                                                ((3, 3), (2, 2), (1, 1, 1, 1))])
def test_pool_parallel_equals_serial(monkeypatch, dtype, kernel, stride, pads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 8, 8)).astype(dtype)
    x[0, 0, 0, 0] = np.nan
    (y_s, i_s), (y_p, i_p) = _both(monkeypatch, nbconv.max_pool2d, x, kernel, stride, pads,
                                   (1, 1))
    y_r, i_r = ref.max_pool2d(x, kernel, stride, pads, (1, 1))
    np.testing.assert_array_equal(y_p, y_s)
    np.testing.assert_array_equal(i_p, i_s)
    np.testing.assert_array_equal(i_s, i_r)
    g = rng.standard_normal(y_s.shape).astype(dtype)
    s, p = _both(monkeypatch, nbconv.pool_scatter, g, i_s, (8, 8))
    _close(p, s, dtype)
    _close(s, ref.pool_scatter(g, i_s, (8, 8)), dtype)
    s, p = _both(monkeypatch, nbconv.pool_gather, x, i_s)
    np.testing.assert_array_equal(p, s)


# ----------------------------------------------------------------- the pool
def test_pool_reuses_blocks_and_results_never_alias_them():
    buffers.clear()
    a = buffers.take((512, 1024), np.float32)
    raw = a.base
    buffers.give(a)
    b = buffers.take((1024, 512), np.float32)
    assert b.base is raw  # the same block, already paged in
    buffers.give(b)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 8, 32, 32)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    geo = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    y1 = nbconv.conv2d(x, w, None, *geo)
    keep = y1.copy()
    nbconv.conv2d(x * 2, w, None, *geo)  # reuses the scratch blocks
    np.testing.assert_array_equal(y1, keep)
    np.testing.assert_allclose(y1, ref.conv2d(x, w, None, *geo), rtol=1e-4, atol=1e-4)
    assert buffers.held_bytes() > 0


def test_pool_ignores_arrays_it_did_not_lend_and_stays_bounded(monkeypatch):
    buffers.clear()
    user = np.zeros(1 << 20, dtype=np.uint8).view(np.float32)  # user data on a uint8 buffer
    buffers.give(user)
    assert buffers.held_bytes() == 0
    monkeypatch.setattr(buffers, "MAX_BYTES", 1 << 21)
    blocks = [buffers.take((1 << 19,), np.float32) for _ in range(4)]  # 2 MiB each
    for blk in blocks:
        buffers.give(blk)
    assert buffers.held_bytes() <= 1 << 21
    small = buffers.take((10,), np.float64)
    buffers.give(small)
    buffers.clear()
    assert buffers.held_bytes() == 0


def test_pool_is_per_thread():
    buffers.clear()
    a = buffers.take((1 << 18,), np.float32)
    buffers.give(a)
    seen = []

    def other():
        b = buffers.take((1 << 18,), np.float32)
        seen.append(b.base is a.base)
        seen.append(buffers.held_bytes())

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == [False, 0]
    buffers.clear()


def test_twin_loops_follow_the_jit_policy():
    """Each twin: a serial and a parallel build, both disk-cached under distinct names,
    numpy error model, fastmath without nnan/ninf."""
    from graphgrad.kernels.numba_backend import _jit
    from graphgrad.kernels.numba_backend.loops import conv as loops
    from graphgrad.kernels.numba_backend.loops import conv_channels_last as nhwc_loops

    twins = [v for mod in (loops, nhwc_loops) for v in vars(mod).values()
             if isinstance(v, _jit.Twin)]
    assert {"im2col", "col2im", "to_nchw", "from_nchw", "max_pool2d", "max_pool2x2",
            "pool_scatter", "pool_gather", "to_nhwc_padded", "nhwc_rows", "nhwc_rows_add",
            "from_nhwc_padded", "rows_to_nchw", "nchw_to_rows"} <= {t._fn.__name__ for t in twins}
    for t in twins:
        s, p = t.serial, t.parallel
        assert not s.targetoptions.get("parallel") and p.targetoptions.get("parallel")
        assert s.py_func.__qualname__ != p.py_func.__qualname__  # separate cache entries
        for d in (s, p):
            assert type(d._cache).__name__ == "FunctionCache"
            assert d.targetoptions["error_model"] == "numpy"
            assert set(d.targetoptions["fastmath"]) <= set(_jit.REDUCTION_FASTMATH)
