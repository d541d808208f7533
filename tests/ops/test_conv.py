"""Convolution and pooling ops (graphgrad/ops/conv.py, pool.py) and their kernels.

Forward against an independent direct-loop NumPy convolution and against
PyTorch when it is installed, over a grid of (kernel, stride, padding,
dilation, groups) with the edge cases of issue 15 (kernel = input size,
padding larger than k/2, stride larger than the kernel, 1×1 kernels, odd
sizes); gradients and second derivatives against finite differences in
float64; both kernel backends; the errors for bad input.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.kernels import reference

# (C, O, kernel, stride, padding, dilation, groups, H, W)
GRID = [
    (2, 3, 3, 1, 1, 1, 1, 5, 6),          # ordinary 3×3, "same"-sized output
    (4, 6, 3, 2, 0, 1, 2, 8, 7),          # stride 2, groups 2, odd width
    (2, 4, (2, 3), (2, 1), (2, 1), (1, 2), 2, 7, 9),  # rectangular everything
    (3, 3, 5, 3, 0, 1, 3, 5, 5),          # kernel = input size, depthwise
    (2, 2, 1, 1, 0, 1, 1, 3, 4),          # 1×1
    (1, 2, 2, 3, 0, 1, 1, 7, 7),          # stride larger than the kernel
    (2, 2, 3, 1, 3, 1, 1, 3, 3),          # padding larger than k/2
    (2, 4, 3, 2, 2, 2, 1, 6, 5),          # dilation and stride
    # >= 256 output pixels: the Numba kernels' per-image and Winograd paths
    (16, 16, 3, 1, 1, 1, 1, 17, 16),      # 3×3 stride 1, 16 channels: Winograd, odd height
    (3, 4, 3, 2, 1, 1, 1, 33, 32),        # stride 2: per image, scatter col2im
    (4, 6, 1, 1, 0, 1, 2, 16, 16),        # 1×1, groups 2: per image, no im2col
    (2, 3, 3, 1, 2, 2, 1, 16, 16),        # dilation 2: per image, gather col2im
    # < 256 output pixels, >= 8 input channels, one group: the channels-last path
    (16, 32, 3, 1, 1, 1, 1, 4, 4),        # W4's second convolution
    (8, 6, (3, 2), (2, 1), (1, 2), (1, 2), 1, 7, 9),  # rectangular stride and dilation
    (8, 4, 3, 1, 3, 1, 1, 3, 3),          # padding larger than k/2
    (12, 6, 3, 2, 1, 1, 3, 6, 6),         # groups 3: stays on the NCHW batched path
]


def _direct_conv(x, w, b, stride, padding, dilation, groups):
    """A plain-loop cross-correlation: the independent oracle."""
    sh, sw = stride
    ph, pw = padding
    dh, dw = dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, o, ho, wo))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(ho):
            for j in range(wo):
                patch = xp[:, g * cg:(g + 1) * cg, i * sh: i * sh + dh * (kh - 1) + 1: dh,
                           j * sw: j * sw + dw * (kw - 1) + 1: dw]
                y[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3)) + (b[oc] if b is not None
                                                                        else 0)
    return y


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _case(case, seed=0, dtype=np.float64):
    c, o, k, s, p, d, g, h, w = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // g) + _pair(k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, wt, b, _pair(s), _pair(p), _pair(d), g


@pytest.mark.parametrize("case", GRID, ids=range(len(GRID)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_forward_matches_direct_loops(case, dtype, backend):
    x, w, b, s, p, d, g = _case(case, dtype=dtype)
    y = gg.conv2d(x, w, b, s, p, d, g)
    assert y.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.data, _direct_conv(x, w, b, s, p, d, g), rtol=tol, atol=tol)


@pytest.mark.parametrize("case", GRID, ids=range(len(GRID)))
def test_conv2d_forward_and_gradients_match_torch(case, backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, s, p, d, g = _case(case)
    xs, ws, bs = (gg.tensor(a, requires_grad=True) for a in (x, w, b))
    y = gg.conv2d(xs, ws, bs, s, p, d, g)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F.conv2d(tx, tw, tb, s, p, d, g)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), atol=1e-10)
    seed = np.random.default_rng(1).standard_normal(y.shape)
    (y * seed).sum().backward()
    ty.backward(torch.tensor(seed))
    for ours, theirs in ((xs, tx), (ws, tw), (bs, tb)):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), atol=1e-10)
    # the transposed convolution with the same geometry is the input gradient
    yt = gg.conv_transpose2d(seed, w, None, s, p, 0, g, d)
    tt = F.conv_transpose2d(torch.tensor(seed), tw.detach(), None, s, p, 0, g, d)
    np.testing.assert_allclose(yt.data[:, :, :x.shape[2], :x.shape[3]],
                               tt.numpy()[:, :, :x.shape[2], :x.shape[3]], atol=1e-10)


@pytest.mark.parametrize("case", [GRID[1], GRID[2], GRID[7]], ids=["groups", "rect", "dil"])
def test_numba_kernels_match_their_reference_twins(case):
    from graphgrad.kernels import numba_backend

    k = numba_backend.KERNELS
    x, w, b, s, p, d, g = _case(case, dtype=np.float32)
    x64 = x.astype(np.float64)
    (_, _), pads = gg.ops.conv.geometry("t", x.shape[2:], w.shape[2:], s,
                                        [(q, q) for q in p], d)
    y = reference.conv2d(x, w, b, s, pads, d, g)
    np.testing.assert_allclose(k["conv2d"](x, w, b, s, pads, d, g), y, rtol=1e-4, atol=1e-4)
    gy = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(k["conv_transpose2d"](gy, w, s, pads, d, g, x.shape[2:]),
                               reference.conv_transpose2d(gy, w, s, pads, d, g, x.shape[2:]),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(k["conv2d_weight"](x, gy, s, pads, d, g, w.shape[2:]),
                               reference.conv2d_weight(x64, gy.astype(np.float64), s, pads, d,
                                                       g, w.shape[2:]), rtol=1e-4, atol=1e-3)
    cols = reference.im2col(x, w.shape[2:], s, pads, d)
    np.testing.assert_array_equal(k["im2col"](x, w.shape[2:], s, pads, d), cols)
    np.testing.assert_allclose(k["col2im"](cols, x.shape[2:], s, pads, d),
                               reference.col2im(cols, x.shape[2:], s, pads, d), rtol=1e-5)
    _, pool_pads = gg.ops.conv.geometry("t", x.shape[2:], (2, 3), s, [(1, 1), (1, 1)], d,
                                        ceil_mode=True)
    y, idx = k["max_pool2d"](x, (2, 3), s, pool_pads, d)
    ry, ridx = reference.max_pool2d(x, (2, 3), s, pool_pads, d)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)


# ------------------------------------------------------ gradients, float64
def test_conv2d_gradcheck_and_gradgradcheck(backend):
    x, w, b, s, p, d, g = _case((4, 2, (2, 3), (2, 1), (1, 2), (1, 2), 2, 4, 5))
    inputs = [gg.tensor(a, requires_grad=True) for a in (x[:1], w, b)]

    def fn(x, w, b):
        return gg.conv2d(x, w, b, s, p, d, g)

    assert gg.check.gradcheck(fn, inputs)
    assert gg.check.gradgradcheck(fn, inputs)


def test_conv1d_and_conv_transpose2d_gradchecks(backend):
    rng = np.random.default_rng(3)
    x1 = gg.tensor(rng.standard_normal((2, 2, 7)), requires_grad=True)
    w1 = gg.tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)

    def c1(x, w):
        return gg.conv1d(x, w, None, stride=2, padding=1, dilation=2)

    assert gg.check.gradcheck(c1, [x1, w1])
    assert gg.check.gradgradcheck(c1, [x1, w1])
    xt = gg.tensor(rng.standard_normal((1, 4, 3, 3)), requires_grad=True)
    wt = gg.tensor(rng.standard_normal((4, 1, 3, 2)), requires_grad=True)
    bt = gg.tensor(rng.standard_normal(2), requires_grad=True)

    def ct(x, w, b):
        return gg.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)

    assert gg.check.gradcheck(ct, [xt, wt, bt])
    assert gg.check.gradgradcheck(ct, [xt, wt, bt])


def test_pool_gradchecks(backend):
    rng = np.random.default_rng(4)
    # distinct values far apart, so finite differences do not cross a tie
    x = gg.tensor(rng.permutation(2 * 5 * 5).reshape(1, 2, 5, 5) * 0.1, requires_grad=True)
    for fn in (lambda t: gg.max_pool2d(t, 3, 2, 1, ceil_mode=True),
               lambda t: gg.max_pool2d(t, 2, 1, dilation=2),
               lambda t: gg.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
               lambda t: gg.adaptive_avg_pool2d(t, (2, 3)),
               lambda t: gg.interpolate(t, size=(7, 4), mode="bilinear"),
               lambda t: gg.interpolate(t, scale_factor=2, mode="nearest"),
               lambda t: gg.fold(gg.unfold(t, 2, padding=1, stride=2), (5, 5), 2, padding=1,
                                 stride=2)):
        assert gg.check.gradcheck(fn, [x])
        assert gg.check.gradgradcheck(fn, [x])
    x1 = gg.tensor(rng.permutation(12).reshape(2, 2, 3) * 0.1, requires_grad=True)
    assert gg.check.gradcheck(lambda t: gg.max_pool1d(t, 2, 1) + gg.avg_pool1d(t, 2, 1), [x1])


# --------------------------------------------------------------- pooling
POOLS = [(2, None, 0, 1, False), (3, 2, 1, 1, True), (3, 2, 1, 2, False), (2, 3, 1, 1, True),
         (5, 1, 2, 1, False)]


@pytest.mark.parametrize("k,s,p,d,ceil", POOLS)
def test_pools_match_torch(k, s, p, d, ceil, backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 6))
    tx = torch.tensor(x, requires_grad=True)
    xs = gg.tensor(x, requires_grad=True)
    y = gg.max_pool2d(xs, k, s, p, d, ceil)
    ty = F.max_pool2d(tx, k, s, p, d, ceil)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(xs.grad.data, tx.grad.numpy())
    if d == 1:
        for cip in (True, False):
            a = gg.avg_pool2d(x, k, s, p, ceil, cip).data
            np.testing.assert_allclose(a, F.avg_pool2d(torch.tensor(x), k, s, p, ceil,
                                                       cip).numpy(), atol=1e-12)
        a = gg.avg_pool2d(x, k, s, p, ceil, divisor_override=3).data
        np.testing.assert_allclose(a, F.avg_pool2d(torch.tensor(x), k, s, p, ceil,
                                                   divisor_override=3).numpy(), atol=1e-12)


def test_max_pool_ties_and_nan_as_torch(backend):
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 0, 1] = np.nan
    xs, tx = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = gg.max_pool2d(xs, 2)
    ty = torch.nn.functional.max_pool2d(tx, 2)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    y.backward(np.ones(y.shape))
    ty.backward(torch.ones(ty.shape, dtype=torch.float64))
    np.testing.assert_array_equal(xs.grad.data, tx.grad.numpy())


def test_max_pool_ties_go_to_the_first_maximum(backend):
    x = gg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    gg.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 0], [0, 0]])


def test_pools_1d_and_adaptive_match_torch(backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(6)
    x1 = rng.standard_normal((2, 3, 9))
    np.testing.assert_array_equal(gg.max_pool1d(x1, 3, 2, 1).data,
                                  F.max_pool1d(torch.tensor(x1), 3, 2, 1).numpy())
    np.testing.assert_allclose(gg.avg_pool1d(x1, 3, 2, 1, count_include_pad=False).data,
                               F.avg_pool1d(torch.tensor(x1), 3, 2, 1,
                                            count_include_pad=False).numpy(), atol=1e-12)
    x = rng.standard_normal((2, 3, 7, 5))
    for size in [(3, 2), (1, 1), (7, 2), (4, None)]:
        np.testing.assert_allclose(gg.adaptive_avg_pool2d(x, size).data,
                                   F.adaptive_avg_pool2d(torch.tensor(x), size).numpy(),
                                   atol=1e-12)
    w = rng.standard_normal((4, 3, 3))
    np.testing.assert_allclose(gg.conv1d(x1, w, None, 2, "valid").data,
                               F.conv1d(torch.tensor(x1), torch.tensor(w), None, 2).numpy(),
                               atol=1e-12)
    np.testing.assert_allclose(gg.conv1d(x1, w, padding="same", dilation=2).data,
                               F.conv1d(torch.tensor(x1), torch.tensor(w), padding="same",
                                        dilation=2).numpy(), atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_same_padding_with_an_even_kernel_matches_torch(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2, 4, 2))
    y = gg.conv2d(x, w, padding="same")
    assert y.shape == (1, 3, 5, 6)
    np.testing.assert_allclose(y.data, torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), padding="same").numpy(), atol=1e-12)


def test_unfold_fold_interpolate_match_torch(backend):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 7, 6))
    u = gg.unfold(x, (2, 3), dilation=2, padding=1, stride=2)
    tu = F.unfold(torch.tensor(x), (2, 3), dilation=2, padding=1, stride=2)
    np.testing.assert_array_equal(u.data, tu.numpy())
    np.testing.assert_allclose(gg.fold(u, (7, 6), (2, 3), 2, 1, 2).data,
                               F.fold(tu, (7, 6), (2, 3), 2, 1, 2).numpy(), atol=1e-12)
    for mode, ac in (("nearest", None), ("bilinear", False), ("bilinear", True)):
        for kw in ({"size": (5, 11)}, {"scale_factor": 1.5}, {"size": (14, 3)}):
            np.testing.assert_allclose(
                gg.interpolate(x, mode=mode, align_corners=ac, **kw).data,
                F.interpolate(torch.tensor(x), mode=mode, align_corners=ac, **kw).numpy(),
                atol=1e-12)
    x1 = rng.standard_normal((2, 3, 5))
    np.testing.assert_allclose(gg.interpolate(x1, size=8, mode="linear").data,
                               F.interpolate(torch.tensor(x1), size=8, mode="linear").numpy(),
                               atol=1e-12)


def test_unfold_is_the_columns_of_a_conv(backend):
    """conv2d = weight (O, C·kh·kw) @ unfold(x): the im2col identity, checked without torch."""
    x, w, b, s, p, d, g = _case(GRID[2][:6] + (1,) + GRID[2][7:])
    cols = gg.unfold(x, w.shape[2:], d, p, s)
    y = gg.conv2d(x, w, None, s, p, d)
    np.testing.assert_allclose((w.reshape(w.shape[0], -1) @ cols.data).reshape(y.shape),
                               y.data, atol=1e-10)


def test_dropout2d_drops_whole_channels_and_keeps_the_mean():
    x = gg.ones(200, 8, 3, 3)
    y = gg.dropout2d(x, 0.25, rng=0).data
    per_channel = y.reshape(200, 8, -1)
    assert np.all(per_channel.min(axis=-1) == per_channel.max(axis=-1))  # whole maps
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs(y.mean() - 1.0) < 0.05
    assert gg.dropout2d(x, 0.5, training=False) is x


# ------------------------------------------------------------------ errors
def test_bad_input_errors_say_what_is_wrong():
    x = gg.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"3 channels.*expects 4"):
        gg.conv2d(x, gg.zeros(5, 4, 3, 3))
    with pytest.raises(ValueError, match=r"larger than the padded input \(8 \+ 0 \+ 0 = 8\)"):
        gg.conv2d(x, gg.zeros(5, 3, 9, 9))
    with pytest.raises(ValueError, match="stride must be an integer"):
        gg.conv2d(x, gg.zeros(5, 3, 3, 3), stride=1.5)
    with pytest.raises(ValueError, match=r"NHWC.*NCHW is expected.*transpose\(\(0, 3, 1, 2\)\)"):
        gg.conv2d(gg.zeros(2, 8, 8, 3), gg.zeros(5, 3, 3, 3))
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\)"):
        gg.conv2d(gg.zeros(3, 8, 8), gg.zeros(5, 3, 3, 3))
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        gg.conv2d(x, gg.zeros(5, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="not divisible by groups"):
        gg.conv2d(gg.zeros(2, 4, 8, 8), gg.zeros(5, 2, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\)"):
        gg.conv2d(x, gg.zeros(5, 3, 3, 3), gg.zeros(4))
    with pytest.raises(ValueError, match="at most half"):
        gg.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        gg.conv_transpose2d(x, gg.zeros(3, 2, 3, 3), stride=1, output_padding=1)
    with pytest.raises(ValueError, match="exactly one of size and scale_factor"):
        gg.interpolate(x)


@pytest.mark.parametrize("pixels", [0, 10**9], ids=["sliced col2im", "loop col2im"])
@pytest.mark.parametrize("case", [GRID[1], GRID[2], GRID[6], GRID[7]], ids=range(4))
def test_both_col2im_paths_match_the_reference(case, pixels, monkeypatch):
    from graphgrad.kernels.numba_backend import conv as numba_conv

    monkeypatch.setattr(numba_conv, "SLICED_COL2IM_PIXELS", pixels)
    x, w, b, s, p, d, g = _case(case, dtype=np.float32)
    (ho, wo), pads = gg.ops.conv.geometry("t", x.shape[2:], w.shape[2:], s,
                                          [(q, q) for q in p], d)
    gy = np.random.default_rng(3).standard_normal((2, w.shape[0], ho, wo)).astype(np.float32)
    np.testing.assert_allclose(numba_conv.conv_transpose2d(gy, w, s, pads, d, g, x.shape[2:]),
                               reference.conv_transpose2d(gy, w, s, pads, d, g, x.shape[2:]),
                               rtol=1e-4, atol=1e-4)
    cols = reference.im2col(x, w.shape[2:], s, pads, d)
    np.testing.assert_allclose(numba_conv.col2im(cols, x.shape[2:], s, pads, d),
                               reference.col2im(cols, x.shape[2:], s, pads, d), rtol=1e-5,
                               atol=1e-5)
