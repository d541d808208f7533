"""The channels-last (NHWC) convolution path (numba_backend/conv_channels_last.py).

Each of its loops, serial and parallel, against its NumPy twin
(graphgrad/kernels/reference_channels_last.py: bit for bit for the copies);
the whole path against the NCHW reference kernels and against PyTorch
(values and gradients, float32 and float64, stride, padding, dilation); the
rule that picks it.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from conv_checks import close, out_hw  # noqa: E402

import graphgrad as gg  # noqa: E402
from graphgrad.kernels import reference as ref  # noqa: E402
from graphgrad.kernels import reference_channels_last as twin  # noqa: E402
from graphgrad.kernels.numba_backend import conv as nbconv  # noqa: E402
from graphgrad.kernels.numba_backend import conv_channels_last as nhwc  # noqa: E402
from graphgrad.kernels.numba_backend.loops import conv_channels_last as loops  # noqa: E402

# (N, C, H, W, Cout, kernel, stride, pads (t, b, l, r), dilation)
GEOMETRIES = [
    (4, 16, 4, 4, 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),     # W4's second conv
    (2, 8, 7, 9, 5, (3, 2), (2, 1), (1, 1, 2, 2), (1, 2)),
    (3, 9, 6, 6, 4, (3, 3), (2, 2), (1, 0, 1, 0), (1, 1)),       # negative after-pad
    (2, 8, 5, 6, 3, (2, 3), (1, 1), (0, 1, 2, 0), (2, 1)),       # asymmetric pads
    (2, 10, 3, 3, 4, (3, 3), (1, 1), (3, 3, 3, 3), (1, 1)),      # pad > k/2
    (2, 8, 4, 5, 6, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),       # 1×1
]


def _data(geo, dtype, seed=0):
    n, c, h, w_, o, k, stride, pads, dil = geo
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((o, c) + k).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    ho, wo = out_hw(h, w_, k, stride, pads, dil)
    g = rng.standard_normal((n, o, ho, wo)).astype(dtype)
    return x, w, b, g, (ho, wo)


def test_the_rule_picks_small_images_with_many_channels():
    assert nhwc.use(16, 1, 4, 4)            # W4 conv2
    assert not nhwc.use(1, 1, 8, 8)         # W4 conv1: one input channel
    assert not nhwc.use(16, 2, 4, 4)        # grouped
    assert not nhwc.use(32, 1, 16, 16)      # 256 pixels: per image / Winograd
    assert nhwc.use(nhwc.MIN_CHANNELS, 1, 15, 17)


def test_w4_conv2_runs_channels_last(monkeypatch):
    calls = []
    for name in ("conv2d", "conv_transpose2d", "conv2d_weight"):
        real = getattr(nhwc, name)
        monkeypatch.setattr(nhwc, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    x, w, b, g, hw = _data(GEOMETRIES[0], np.float32)
    geo = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    nbconv.conv2d(x, w, b, *geo)
    nbconv.conv_transpose2d(g, w, *geo, (4, 4))
    nbconv.conv2d_weight(x, g, *geo, (3, 3))
    assert calls == ["conv2d", "conv_transpose2d", "conv2d_weight"]
    calls.clear()
    nbconv.conv2d(x[:, :1], w[:, :1], b, *geo)  # one input channel: NCHW
    assert calls == []


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_loops_match_their_numpy_twins(dtype, geo, parallel):
    n, c, h, w_, o, k, stride, pads, dil = geo
    x, w, b, g, (ho, wo) = _data(geo, dtype)
    hp, wp = twin.padded_hw(ho, wo, k, stride, dil)
    build = (lambda t: t.parallel) if parallel else (lambda t: t.serial)
    spec = (*k, *stride, *dil, ho, wo)

    xp, xp_t = np.full((n, hp, wp, c), 7, dtype), np.empty((n, hp, wp, c), dtype)
    build(loops.to_nhwc_padded)(x, pads[0], pads[2], xp)
    twin.to_nhwc_padded(x, pads[0], pads[2], xp_t)
    np.testing.assert_array_equal(xp, xp_t)

    rows, rows_t = (np.empty((n * ho * wo, k[0] * k[1] * c), dtype) for _ in range(2))
    build(loops.nhwc_rows)(xp, *spec, rows)
    twin.nhwc_rows(xp_t, *spec, rows_t)
    np.testing.assert_array_equal(rows, rows_t)

    acc, acc_t = np.zeros_like(xp), np.zeros_like(xp)
    build(loops.nhwc_rows_add)(rows, *spec, acc)
    twin.nhwc_rows_add(rows, *spec, acc_t)
    close(acc, acc_t, dtype)

    back, back_t = (np.full((n, c, h, w_), 7, dtype) for _ in range(2))
    build(loops.from_nhwc_padded)(acc, pads[0], pads[2], back)
    twin.from_nhwc_padded(acc, pads[0], pads[2], back_t)
    np.testing.assert_array_equal(back, back_t)

    y = rows[:, :o].copy()
    out, out_t = (np.empty((n, o, ho * wo), dtype) for _ in range(2))
    build(loops.rows_to_nchw)(y, b, True, out)
    twin.rows_to_nchw(y, b, True, out_t)
    np.testing.assert_array_equal(out, out_t)
    build(loops.rows_to_nchw)(y, b, False, out)
    np.testing.assert_array_equal(out, y.reshape(n, ho * wo, o).transpose(0, 2, 1))

    gr, gr_t = (np.empty((n * ho * wo, o), dtype) for _ in range(2))
    build(loops.nchw_to_rows)(g.reshape(n, o, -1), gr)
    twin.nchw_to_rows(g.reshape(n, o, -1), gr_t)
    np.testing.assert_array_equal(gr, gr_t)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_the_path_matches_the_nchw_reference(monkeypatch, dtype, geo, parallel):
    n, c, h, w_, o, k, stride, pads, dil = geo
    x, w, b, g, hw = _data(geo, dtype)
    monkeypatch.setattr(nbconv, "PARALLEL_MIN_ELEMENTS", 0 if parallel else 1 << 62)
    assert nhwc.use(c, 1, *hw)
    got = {"y": nbconv.conv2d(x, w, b, stride, pads, dil, 1),
           "y0": nbconv.conv2d(x, w, None, stride, pads, dil, 1),
           "gx": nbconv.conv_transpose2d(g, w, stride, pads, dil, 1, (h, w_)),
           "gw": nbconv.conv2d_weight(x, g, stride, pads, dil, 1, k)}
    expected = {"y": ref.conv2d(x, w, b, stride, pads, dil, 1),
                "y0": ref.conv2d(x, w, None, stride, pads, dil, 1),
                "gx": ref.conv_transpose2d(g, w, stride, pads, dil, 1, (h, w_)),
                "gw": ref.conv2d_weight(x, g, stride, pads, dil, 1, k)}
    twins = {"y": twin.conv2d(x, w, b, stride, pads, dil, hw),
             "gx": twin.conv_transpose2d(g, w, stride, pads, dil, (h, w_)),
             "gw": twin.conv2d_weight(x, g, stride, pads, dil, k)}
    for key, value in expected.items():
        close(got[key], value, dtype)
        if key in twins:
            close(twins[key], value, dtype)


def test_results_never_alias_the_pooled_scratch():
    x, w, b, g, hw = _data(GEOMETRIES[0], np.float32)
    geo = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    y1 = nbconv.conv2d(x, w, b, *geo)
    gx1 = nbconv.conv_transpose2d(g, w, *geo, (4, 4))
    keep_y, keep_gx = y1.copy(), gx1.copy()
    nbconv.conv2d(-x, w, b, *geo)
    nbconv.conv_transpose2d(-g, w, *geo, (4, 4))
    nbconv.conv2d_weight(x, g, *geo, (3, 3))
    np.testing.assert_array_equal(y1, keep_y)
    np.testing.assert_array_equal(gx1, keep_gx)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geo", GEOMETRIES[:4])
def test_values_and_gradients_match_torch(dtype, geo):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    n, c, h, w_, o, k, stride, pads, dil = geo
    x, w, b, _, _ = _data(geo, dtype, seed=3)
    # PyTorch pads symmetrically: pad the input by hand for asymmetric / negative pads
    tx = torch.tensor(x, requires_grad=True)
    txp = F.pad(tx, (pads[2], pads[3], pads[0], pads[1]))
    tw, tb = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = F.conv2d(txp, tw, tb, stride, 0, dil)
    xs, ws, bs = (gg.tensor(a, requires_grad=True) for a in (x, w, b))
    if pads[0] == pads[1] and pads[2] == pads[3]:
        y = gg.conv2d(xs, ws, bs, stride, (pads[0], pads[2]), dil)
    else:
        from graphgrad.ops.conv import Conv2d

        y = Conv2d.apply(xs, ws, bs, (stride, pads, dil, 1))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    seed = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    (y * gg.tensor(seed)).sum().backward()
    ty.backward(torch.tensor(seed))
    for ours, theirs in ((xs, tx), (ws, tw), (bs, tb)):
        assert ours.grad.data.dtype == dtype
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=tol,
                                   atol=tol * max(1, np.abs(theirs.grad.numpy()).max()))
