"""Numba wrappers for convolution and pooling (reference twins in reference.py).

A convolution runs one of four ways, chosen by its shape (the rules and their
measurements are at :data:`PER_IMAGE_PIXELS`, :data:`WINOGRAD_MIN_CHANNELS` and
``conv_channels_last.MIN_CHANNELS``):

* **channels-last** (small images, at least 8 input channels, one group): the
  NHWC path of ``conv_channels_last.py``, im2col rows of contiguous channel runs
  and one GEMM over the batch per product;
* **batched** (the other small images): im2col of the whole batch into one column matrix
  (C·kh·kw, N·Ho·Wo) and one BLAS GEMM per group for the forward product, the
  weight gradient (cols · gᵀ) and the input gradient (wᵀ · g, then col2im);
* **per image** (at least 256 output pixels): im2col of one image into a column
  block that stays in the L2 cache and one GEMM per image that writes straight
  into the NCHW result (the bias rides in the GEMM as a row of ones), so there
  is no transpose pass and no batch-sized column matrix;
* **Winograd** (3×3, stride 1, ≥ 16 input and output channels, per image):
  F(2×2, 3×3) for the forward and the input gradient, F(3×3, 2×2) for the
  weight gradient: 16 GEMMs on transformed 4×4 tiles, 2.25× fewer
  multiplications.

col2im is a Numba loop for small images, NumPy slice additions for large ones
in the batched path, and a gather loop for stride 1 in the per-image path.
Pooling runs direct loops over the windows.

Scratch arrays that live only during one kernel call (column matrices, GEMM
products, Winograd tiles) come from the size-class pool
``graphgrad.kernels.buffers`` and go back to it before the kernel returns, so
a training step reuses the same, already paged-in memory every iteration.

The data-movement loops are compiled serial and parallel (``loops/conv.py``);
:func:`_pick` runs the parallel one for :data:`PARALLEL_MIN_ELEMENTS` elements
or more.

Arrays that are not float32/float64, mixed dtypes, or empty batches go to the
NumPy twin.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import buffers
from graphgrad.kernels import reference as ref
from graphgrad.kernels.numba_backend import conv_channels_last as _nhwc
from graphgrad.kernels.numba_backend._checks import c
from graphgrad.kernels.numba_backend._jit import lazy_module

_loops = lazy_module("graphgrad.kernels.numba_backend.loops.conv")


#: The parallel (Numba ``prange``) loops run from this many output elements on;
#: below it the serial loop runs.  Measured on the 2-core EPYC shared with other
#: jobs (load ~6), interleaved serial/parallel medians at the W4 and W5 shapes
#: (10^3 to 2.9·10^6 output elements): the ``omp`` layer stalled 15-40 ms per
#: launch against 0.03-2.5 ms serial, ``workqueue`` ran 0.87-1.36x the serial
#: time; no size paid reliably, so the threshold is out of reach (parallel off).
#: Lower it on an idle many-core machine; docs/performance.md has the table.
PARALLEL_MIN_ELEMENTS = 1 << 62


def _pick(twin, elements):
    """The parallel or the serial compilation of a twin loop, by the size of its output."""
    return twin.parallel if elements >= PARALLEL_MIN_ELEMENTS else twin.serial


def _ok(*arrays) -> bool:
    first = arrays[0]
    return all(type(a) is np.ndarray and a.dtype.char in "fd" and a.dtype == first.dtype
               and a.size > 0 for a in arrays)


def _cols(x, kh, kw, stride, pads, dilation, ho, wo):
    """The (C·kh·kw, N·Ho·Wo) column matrix of x (a reshape only for 1×1, stride 1, no pad)."""
    n, ch = x.shape[:2]
    if (kh, kw) == (1, 1) and stride == (1, 1) and pads[0] == pads[2] == 0 and n == 1:
        return x.reshape(ch, ho * wo)
    cols = buffers.take((ch * kh * kw, n * ho * wo), x.dtype)
    _pick(_loops.im2col, cols.size)(c(x), kh, kw, stride[0], stride[1], pads[0], pads[2],
                                    dilation[0], dilation[1], ho, wo, cols)
    return cols


def _out_hw(in_hw, kernel_hw, stride, pads, dilation):
    return tuple((size + p0 + p1 - d * (k - 1) - 1) // s + 1 for size, k, s, p0, p1, d in
                 zip(in_hw, kernel_hw, stride, pads[0::2], pads[1::2], dilation))


def _to_nchw(y2, n, out_c, ho, wo, bias):
    out = np.empty((n, out_c, ho * wo), dtype=y2.dtype)
    has_bias = bias is not None
    _pick(_loops.to_nchw, out.size)(y2, c(bias) if has_bias else y2[:, 0], has_bias, out)
    return out.reshape(n, out_c, ho, wo)


def _from_nchw(g):
    n, o = g.shape[:2]
    out = buffers.take((o, n * g.shape[2] * g.shape[3]), g.dtype)
    _pick(_loops.from_nchw, out.size)(c(g).reshape(n, o, -1), out)
    return out


#: From this many output pixels per image on, col2im adds kh·kw strided slices with
#: NumPy (2x faster at 32×32, measured in bench/kernels.py --conv); below it the
#: Numba loop is (2x faster at 4×4 and 8×8, where a slice is a few elements).
SLICED_COL2IM_PIXELS = 256


def _col2im(cols, out_shape, kh, kw, stride, pads, dilation, ho, wo):
    """Add the (C·kh·kw, N·Ho·Wo) columns into zeros of out_shape (N, C, H, W)."""
    n, ch, h, w = out_shape
    (sh, sw), (dh, dw), pt, pl = stride, dilation, pads[0], pads[2]
    if ho * wo < SLICED_COL2IM_PIXELS:
        out = np.zeros(out_shape, dtype=cols.dtype)
        _pick(_loops.col2im, out.size)(cols, kh, kw, sh, sw, pt, pl, dh, dw, ho, wo, out)
        return out
    full_h, full_w = (ho - 1) * sh + dh * (kh - 1) + 1, (wo - 1) * sw + dw * (kw - 1) + 1
    buf = buffers.take((ch, n, max(full_h, pt + h), max(full_w, pl + w)), cols.dtype)
    buf.fill(0)
    c6 = cols.reshape(ch, kh, kw, n, ho, wo)
    for a in range(kh):
        for b in range(kw):
            buf[:, :, a * dh: a * dh + (ho - 1) * sh + 1: sh,
                b * dw: b * dw + (wo - 1) * sw + 1: sw] += c6[:, a, b]
    out = np.ascontiguousarray(buf[:, :, pt: pt + h, pl: pl + w].transpose(1, 0, 2, 3))
    buffers.give(buf)
    return out


#: From this many output pixels per image on, a convolution runs image by image: im2col
#: of one image into a (C·kh·kw, Ho·Wo) block that stays in the L2 cache, and one GEMM
#: per image that writes straight into the NCHW output (no transpose pass, no
#: batch-sized column matrix).  Below it the whole batch is one column matrix and one
#: GEMM (a GEMM over a few dozen pixels is too small for BLAS).  Measured at 1 thread
#: on the 2-core EPYC, docs/performance.md: W5 conv2 (32×32 images) forward 19 -> 14 ms,
#: input gradient 22.5 -> 18 ms, weight gradient 19 -> 15 ms; W4 (8×8, 4×4 images) is
#: faster batched.
PER_IMAGE_PIXELS = 256


def _im2col_into(x, kh, kw, stride, pads, dilation, ho, wo, cols):
    _pick(_loops.im2col, cols.size)(x, kh, kw, stride[0], stride[1], pads[0], pads[2],
                                    dilation[0], dilation[1], ho, wo, cols)


def _pointwise(kh, kw, stride, pads):
    return (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and not any(pads)


def conv2d(x, w, b, stride, pads, dilation, groups):
    """im2col + GEMM (per image or over the batch); see reference.conv2d."""
    if not (_ok(x, w) and (b is None or _ok(x, b)) and x.ndim == 4):
        return ref.conv2d(x, w, b, stride, pads, dilation, groups)
    n = x.shape[0]
    cout, cg, kh, kw = w.shape
    ho, wo = _out_hw(x.shape[2:], (kh, kw), stride, pads, dilation)
    if _winograd_ok(w, stride, dilation, groups, ho, wo):
        return _winograd3x3(c(x), w, b, pads[0], pads[2], ho, wo)
    if ho * wo >= PER_IMAGE_PIXELS:
        return _conv2d_per_image(c(x), c(w), b, stride, pads, dilation, groups, ho, wo)
    if _nhwc.use(x.shape[1], groups, ho, wo):
        return _nhwc.conv2d(x, w, b, stride, pads, dilation, ho, wo)
    cols = _cols(x, kh, kw, stride, pads, dilation, ho, wo)
    y2 = buffers.take((groups, cout // groups, n * ho * wo), x.dtype)
    np.matmul(c(w).reshape(groups, cout // groups, cg * kh * kw),
              cols.reshape(groups, cg * kh * kw, -1), out=y2)
    buffers.give(cols)
    y = _to_nchw(y2.reshape(cout, -1), n, cout, ho, wo, b)
    buffers.give(y2)
    return y


def _conv2d_per_image(x, w, b, stride, pads, dilation, groups, ho, wo):
    """y[n] = W · cols(x[n]) (+ b), one GEMM per image into the NCHW output.

    With one group the bias rides in the GEMM: a row of ones under the columns and
    the bias as an extra column of W, [W | b] · [cols; 1] = W · cols + b, which
    costs one more of C·kh·kw products per pixel instead of a pass over y.
    """
    n, ch = x.shape[:2]
    cout, cg, kh, kw = w.shape
    pixels, cgk = ho * wo, cg * kh * kw
    y = np.empty((n, cout, pixels), dtype=x.dtype)
    pointwise = _pointwise(kh, kw, stride, pads)
    bias_row = b is not None and groups == 1 and not pointwise
    cols = None if pointwise else buffers.take((ch * kh * kw + bias_row, pixels), x.dtype)
    if bias_row:
        cols[-1] = 1
        wm = np.concatenate([w.reshape(cout, cgk), c(b).reshape(cout, 1)], axis=1)
    else:
        wm = w.reshape(groups, cout // groups, cgk)
    for i in range(n):
        if pointwise:
            block = x[i].reshape(groups, cgk, pixels)
        else:
            _im2col_into(x[i: i + 1], kh, kw, stride, pads, dilation, ho, wo,
                         cols[:ch * kh * kw])
            block = cols if bias_row else cols.reshape(groups, cgk, pixels)
        np.matmul(wm, block, out=y[i] if bias_row else y[i].reshape(groups, -1, pixels))
    if cols is not None:
        buffers.give(cols)
    if b is not None and not bias_row:
        y += c(b).reshape(1, cout, 1)
    return y.reshape(n, cout, ho, wo)


#: Winograd (F(2×2, 3×3) forward and input gradient, F(3×3, 2×2) weight gradient)
#: runs the 3×3, stride-1, undilated, ungrouped convolutions of at least
#: PER_IMAGE_PIXELS output pixels whose input and output channels are both this many
#: or more: 16 GEMMs of (Cout, C)·(C, tiles) per image, 2.25x fewer multiplications
#: than im2col's.  With fewer channels (a first layer's 1 or 3) one GEMM dimension is
#: too short for BLAS and im2col is faster.  Measured at 1 thread: W5 conv2 (32 -> 64
#: channels) forward 16.4 -> 12.8 ms, input gradient 16.8 -> 13.5 ms, weight gradient
#: 16.8 -> 14.3 ms; the input gradient of W5 conv1 (32 -> 3) 1.5 -> 3.8 ms
#: (docs/performance.md).
WINOGRAD_MIN_CHANNELS = 16

#: G of F(2×2, 3×3), the weight transform U = G w Gᵀ (4×4 per filter).
_WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def _winograd_ok(w, stride, dilation, groups, ho, wo):
    return (w.shape[2:] == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and min(w.shape[:2]) >= WINOGRAD_MIN_CHANNELS
            and ho * wo >= PER_IMAGE_PIXELS)


def _winograd3x3(x, w, b, pt, pl, ho, wo):
    """y = w ⋆ x (+ b), a 3×3 stride-1 cross-correlation by Winograd F(2×2, 3×3):

    per 2×2 output tile y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A summed over input channels,
    where d is the 4×4 input tile; the channel sum of the element-wise products is
    16 GEMMs U[k] (Cout, C) · V[k] (C, tiles), one set per image.  Each image is
    first copied into a zero-padded plane (pt rows above, pl columns left, up to
    the tiles' extent), so the transforms need no bounds tests.
    """
    n, ch, h, w_ = x.shape
    cout = w.shape[0]
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    tiles = th * tw
    u = np.ascontiguousarray(
        np.einsum("ia,ocab,jb->ijoc", _WINOGRAD_G, w, _WINOGRAD_G).reshape(16, cout, ch),
        dtype=x.dtype)
    y = np.empty((n, cout, ho, wo), dtype=x.dtype)
    even = ho == 2 * th and wo == 2 * tw
    tile_out = None if even else np.empty((cout, 2 * th, 2 * tw), dtype=x.dtype)
    xp = np.zeros((ch, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    # the part of x the tiles reach, and where it lands in xp (pads may be negative)
    r0, q0 = max(0, -pt), max(0, -pl)
    r1, q1 = min(h, 2 * th + 2 - pt), min(w_, 2 * tw + 2 - pl)
    v = buffers.take((16, ch, tiles), x.dtype)
    m = buffers.take((16, cout, tiles), x.dtype)
    has_bias = b is not None
    bias = c(b) if has_bias else u[0, :, 0]
    for i in range(n):
        xp[:, r0 + pt: r1 + pt, q0 + pl: q1 + pl] = x[i, :, r0:r1, q0:q1]
        _pick(_loops.winograd_input, v.size)(xp, th, tw, v)
        np.matmul(u, v, out=m)
        target = y[i] if even else tile_out
        _pick(_loops.winograd_output, target.size)(m, bias, has_bias, th, tw, target)
        if not even:
            y[i] = tile_out[:, :ho, :wo]
    buffers.give(v)
    buffers.give(m)
    return y


def _winograd3x3_weight(x, g, pt, pl):
    """The weight gradient of a 3×3 stride-1 correlation, W = Σ_{n,i,j} g[n,:,i,j] ⊗
    xp[n,:,i+a,j+b], by Winograd F(3×3, 2×2), the transpose of the forward's
    F(2×2, 3×3) (the same trilinear form differentiated in the weight):

        W[o, c] = Gᵀ [Σ_tiles (A e Aᵀ)[o] ⊙ (Bᵀ d B)[c]] G

    with e the 2×2 tile of g, d the 4×4 tile of the padded input, A the forward's
    output transform transposed.  The tile sum is 16 GEMMs (O, tiles)·(tiles, C)
    per image, added up; the 3×3 transform runs once at the end.
    """
    n, ch, h, w_ = x.shape
    cout, ho, wo = g.shape[1:]
    th, tw = (ho + 1) // 2, (wo + 1) // 2
    tiles = th * tw
    xp = np.zeros((ch, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    gp = np.zeros((cout, 2 * th, 2 * tw), dtype=x.dtype)
    r0, q0 = max(0, -pt), max(0, -pl)
    r1, q1 = min(h, 2 * th + 2 - pt), min(w_, 2 * tw + 2 - pl)
    v = buffers.take((16, ch, tiles), x.dtype)
    ug = buffers.take((16, cout, tiles), x.dtype)
    total = np.zeros((16, cout, ch), dtype=x.dtype)
    part = np.empty_like(total)
    for i in range(n):
        xp[:, r0 + pt: r1 + pt, q0 + pl: q1 + pl] = x[i, :, r0:r1, q0:q1]
        _pick(_loops.winograd_input, v.size)(xp, th, tw, v)
        gp[:, :ho, :wo] = g[i]
        _pick(_loops.winograd_grad_tiles, ug.size)(gp, th, tw, ug)
        np.matmul(ug, v.transpose(0, 2, 1), out=part)
        total += part
    buffers.give(v)
    buffers.give(ug)
    gw = np.einsum("ka,kloc,lb->ocab", _WINOGRAD_G,
                   total.reshape(4, 4, cout, ch), _WINOGRAD_G)
    return np.ascontiguousarray(gw, dtype=x.dtype)


def conv_transpose2d(g, w, stride, pads, dilation, groups, out_hw):
    """wᵀ·g as GEMMs, then col2im (per image or over the batch); see reference.conv_transpose2d."""
    if not (_ok(g, w) and g.ndim == 4):
        return ref.conv_transpose2d(g, w, stride, pads, dilation, groups, out_hw)
    n, cout, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    if _winograd_ok(w.transpose(1, 0, 2, 3), stride, dilation, groups, *out_hw):
        # the transposed 3×3 stride-1 convolution is the correlation of g with the
        # flipped, transposed kernel, padded by 2 − p before
        flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        return _winograd3x3(c(g), flipped, None, 2 - pads[0], 2 - pads[2], *out_hw)
    if ho * wo >= PER_IMAGE_PIXELS:
        return _conv_transpose2d_per_image(c(g), c(w), stride, pads, dilation, groups,
                                           tuple(out_hw))
    if _nhwc.use(groups * cg, groups, ho, wo):
        return _nhwc.conv_transpose2d(g, w, stride, pads, dilation, out_hw)
    g2 = _from_nchw(g)
    w2 = c(w).reshape(groups, cout // groups, cg * kh * kw)
    cols = buffers.take((groups, cg * kh * kw, g2.shape[1]), g.dtype)
    np.matmul(w2.transpose(0, 2, 1), g2.reshape(groups, cout // groups, -1), out=cols)
    buffers.give(g2)
    out = _col2im(cols.reshape(groups * cg * kh * kw, -1), (n, groups * cg) + tuple(out_hw),
                  kh, kw, stride, pads, dilation, ho, wo)
    buffers.give(cols)
    return out


def _conv_transpose2d_per_image(g, w, stride, pads, dilation, groups, out_hw):
    """out[n] = col2im(Wᵀ · g[n]): one GEMM per image into an L2-sized column block, then
    the gather col2im (stride 1) or the scatter loop into that image's output."""
    n, cout, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    pixels, cgk, ch = ho * wo, cg * kh * kw, groups * cg
    wt = w.reshape(groups, cout // groups, cgk).transpose(0, 2, 1)
    gi = g.reshape(n, groups, cout // groups, pixels)
    if _pointwise(kh, kw, stride, pads) and tuple(out_hw) == (ho, wo):
        out = np.empty((n, groups, cgk, pixels), dtype=g.dtype)
        for i in range(n):
            np.matmul(wt, gi[i], out=out[i])
        return out.reshape((n, ch) + tuple(out_hw))
    stride1 = tuple(stride) == (1, 1)
    out = (np.empty if stride1 else np.zeros)((n, ch) + tuple(out_hw), dtype=g.dtype)
    cols = buffers.take((groups, cgk, pixels), g.dtype)
    flat_cols = cols.reshape(groups * cgk, pixels)
    (sh, sw), (dh, dw), pt, pl = stride, dilation, pads[0], pads[2]
    for i in range(n):
        np.matmul(wt, gi[i], out=cols)
        if stride1:
            _pick(_loops.col2im_stride1, out[i].size)(flat_cols, kh, kw, pt, pl, dh, dw, ho,
                                                      wo, out[i])
        else:
            _pick(_loops.col2im, out[i].size)(flat_cols, kh, kw, sh, sw, pt, pl, dh, dw, ho,
                                              wo, out[i: i + 1])
    buffers.give(cols)
    return out


def conv2d_weight(x, g, stride, pads, dilation, groups, kernel_hw):
    """g·colsᵀ as GEMMs (per image or over the batch); see reference.conv2d_weight."""
    if not (_ok(x, g) and x.ndim == 4):
        return ref.conv2d_weight(x, g, stride, pads, dilation, groups, kernel_hw)
    cin = x.shape[1]
    cout, ho, wo = g.shape[1:]
    kh, kw = kernel_hw
    if (tuple(kernel_hw) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and min(cin, cout) >= WINOGRAD_MIN_CHANNELS
            and ho * wo >= PER_IMAGE_PIXELS):
        return _winograd3x3_weight(c(x), c(g), pads[0], pads[2])
    if ho * wo >= PER_IMAGE_PIXELS:
        return _conv2d_weight_per_image(c(x), c(g), stride, pads, dilation, groups, kh, kw)
    if _nhwc.use(cin, groups, ho, wo):
        return _nhwc.conv2d_weight(x, g, stride, pads, dilation, kernel_hw)
    cols = _cols(x, kh, kw, stride, pads, dilation, ho, wo)
    g2 = _from_nchw(g)
    cgk = cin // groups * kh * kw
    # colsᵀ-side first: OpenBLAS threads g2 · colsᵀ (long K, transposed B) very
    # badly under load (25x the CPU time of this order, measured)
    gw = np.matmul(cols.reshape(groups, cgk, -1),
                   g2.reshape(groups, cout // groups, -1).transpose(0, 2, 1))
    buffers.give(cols)
    buffers.give(g2)
    return np.ascontiguousarray(gw.transpose(0, 2, 1)).reshape(cout, cin // groups, kh, kw)


def _conv2d_weight_per_image(x, g, stride, pads, dilation, groups, kh, kw):
    """Σ_n g[n] · cols(x[n])ᵀ: im2col of one image into an L2-sized block, one GEMM per
    image into a small (Cout, C/groups·kh·kw) product, summed."""
    n, ch = x.shape[:2]
    cout, ho, wo = g.shape[1:]
    pixels, cgk = ho * wo, ch // groups * kh * kw
    pointwise = _pointwise(kh, kw, stride, pads)
    cols = None if pointwise else buffers.take((ch * kh * kw, pixels), x.dtype)
    gi = g.reshape(n, groups, cout // groups, pixels)
    total = np.zeros((groups, cout // groups, cgk), dtype=x.dtype)
    part = np.empty_like(total)
    for i in range(n):
        if pointwise:
            block = x[i].reshape(groups, cgk, pixels)
        else:
            _im2col_into(x[i: i + 1], kh, kw, stride, pads, dilation, ho, wo, cols)
            block = cols.reshape(groups, cgk, pixels)
        np.matmul(gi[i], block.transpose(0, 2, 1), out=part)
        total += part
    if cols is not None:
        buffers.give(cols)
    return total.reshape(cout, ch // groups, kh, kw)


def im2col(x, kernel_hw, stride, pads, dilation):
    """The windows (N, C, Ho, Wo, kh, kw); see reference.im2col."""
    if not (_ok(x) and x.ndim == 4):
        return ref.im2col(x, kernel_hw, stride, pads, dilation)
    n, ch = x.shape[:2]
    kh, kw = kernel_hw
    ho, wo = _out_hw(x.shape[2:], kernel_hw, stride, pads, dilation)
    cols = buffers.take((ch * kh * kw, n * ho * wo), x.dtype)
    _pick(_loops.im2col, cols.size)(c(x), kh, kw, stride[0], stride[1], pads[0], pads[2],
                                    dilation[0], dilation[1], ho, wo, cols)
    out = np.ascontiguousarray(cols.reshape(ch, kh, kw, n, ho, wo).transpose(3, 0, 4, 5, 1, 2))
    buffers.give(cols)
    return out


def col2im(cols, out_hw, stride, pads, dilation):
    """Scatter the windows back; see reference.col2im."""
    if not (_ok(cols) and cols.ndim == 6):
        return ref.col2im(cols, out_hw, stride, pads, dilation)
    n, ch, ho, wo, kh, kw = cols.shape
    c2 = np.ascontiguousarray(cols.transpose(1, 4, 5, 0, 2, 3)).reshape(ch * kh * kw, -1)
    return _col2im(c2, (n, ch) + tuple(out_hw), kh, kw, stride, pads, dilation, ho, wo)


def max_pool2d(x, kernel_hw, stride, pads, dilation):
    """Direct loop; see reference.max_pool2d."""
    if not (_ok(x) and x.ndim == 4):
        return ref.max_pool2d(x, kernel_hw, stride, pads, dilation)
    ho, wo = _out_hw(x.shape[2:], kernel_hw, stride, pads, dilation)
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    idx = np.empty(out.shape, dtype=np.intp)
    if (tuple(kernel_hw) == tuple(stride) == (2, 2) and tuple(dilation) == (1, 1)
            and pads[0] == pads[2] == 0 and pads[1] <= 0 and pads[3] <= 0):
        n, ch, h, w = x.shape
        _pick(_loops.max_pool2x2, out.size)(c(x).reshape(n * ch, h, w),
                                            out.reshape(n * ch, ho, wo),
                                            idx.reshape(n * ch, ho, wo))
        return out, idx
    _pick(_loops.max_pool2d, out.size)(c(x), kernel_hw[0], kernel_hw[1], stride[0], stride[1],
                                       pads[0], pads[2], dilation[0], dilation[1], out, idx)
    return out, idx


def pool_scatter(g, idx, in_hw):
    """Direct loop; see reference.pool_scatter."""
    if not (_ok(g) and g.ndim == 4 and idx.dtype == np.intp and idx.shape == g.shape):
        return ref.pool_scatter(g, idx, in_hw)
    n, ch = g.shape[:2]
    out = np.zeros((n * ch, in_hw[0] * in_hw[1]), dtype=g.dtype)
    _pick(_loops.pool_scatter, g.size)(c(g).reshape(n * ch, -1), c(idx).reshape(n * ch, -1), out)
    return out.reshape((n, ch) + tuple(in_hw))


def pool_gather(x, idx):
    """Direct loop; see reference.pool_gather."""
    if not (_ok(x) and x.ndim == 4 and idx.dtype == np.intp and idx.shape[:2] == x.shape[:2]):
        return ref.pool_gather(x, idx)
    n, ch = x.shape[:2]
    out = np.empty(idx.shape, dtype=x.dtype)
    _pick(_loops.pool_gather, out.size)(c(x).reshape(n * ch, -1), c(idx).reshape(n * ch, -1),
                       out.reshape(n * ch, -1))
    return out


def avg_pool2d(x, kernel_hw, stride, pads, divisor):
    """Direct loop; see reference.avg_pool2d."""
    if not (_ok(x, divisor) and x.ndim == 4):
        return ref.avg_pool2d(x, kernel_hw, stride, pads, divisor)
    ho, wo = _out_hw(x.shape[2:], kernel_hw, stride, pads, (1, 1))
    out = np.empty(x.shape[:2] + (ho, wo), dtype=x.dtype)
    _loops.avg_pool2d(c(x), kernel_hw[0], kernel_hw[1], stride[0], stride[1], pads[0],
                      pads[2], c(divisor), out)
    return out


def avg_pool2d_backward(g, in_hw, kernel_hw, stride, pads, divisor):
    """Direct loop; see reference.avg_pool2d_backward."""
    if not (_ok(g, divisor) and g.ndim == 4):
        return ref.avg_pool2d_backward(g, in_hw, kernel_hw, stride, pads, divisor)
    out = np.zeros(g.shape[:2] + tuple(in_hw), dtype=g.dtype)
    _loops.avg_pool2d_backward(c(g), kernel_hw[0], kernel_hw[1], stride[0], stride[1], pads[0],
                               pads[2], c(divisor), out)
    return out
