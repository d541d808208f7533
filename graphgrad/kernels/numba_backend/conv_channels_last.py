"""The channels-last (NHWC) convolution path for small images with many input channels.

``conv.py`` sends a convolution here when :func:`use` says so (the rule and its
measurement are at :data:`MIN_CHANNELS`).  Each image is first copied into a
zero-padded NHWC block xp (N, Hp, Wp, C); the im2col matrix is then built with
one row per output pixel,

    rows[(n·Ho + i)·Wo + j, (a·kw + b)·C + c] = xp[n, i·sh + a·dh, j·sw + b·dw, c],

each window cell a contiguous copy of C numbers (the NCHW column matrix reads
those C numbers one image plane apart and tests the bounds per number).  With
W_m[o, (a·kw + b)·C + c] = w[o, c, a, b] (a (Cout, kh·kw·C) matrix):

* forward:          Y = rows · W_mᵀ          (N·Ho·Wo, Cout), then NCHW + bias;
* input gradient:   R = G · W_m,  xp += the rows of R at their windows, then NCHW;
* weight gradient:  W_m = Gᵀ · rows,  back to (Cout, C, kh, kw);

G (N·Ho·Wo, Cout) is the gradient in rows.  Each is one BLAS GEMM over the
batch.  The data-movement loops are in ``loops/conv_channels_last.py`` (serial
and parallel, picked by ``conv._pick``), their NumPy twins in
``graphgrad/kernels/reference_channels_last.py``.  Scratch (xp, rows, G, R,
the GEMM product) comes from the ``buffers`` pool.  One group only.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import buffers
from graphgrad.kernels.numba_backend import conv as _conv  # noqa: F401 - a cycle: used at call time
from graphgrad.kernels.numba_backend._checks import c
from graphgrad.kernels.numba_backend._jit import lazy_module
from graphgrad.kernels.reference_channels_last import padded_hw

_loops = lazy_module("graphgrad.kernels.numba_backend.loops.conv_channels_last")

#: The channels-last path runs ungrouped convolutions with fewer than ``MAX_PIXELS``
#: output pixels per image and at least ``MIN_CHANNELS`` input channels.  Measured
#: (CPU time per call, 1 thread, 2-core AMD EPYC, load ~2, 15 interleaved rounds,
#: docs/performance.md "Channels-last"): W4 conv2 (16 → 32 channels, 4×4 output,
#: batch 64) forward 462 → 232 µs, input gradient 509 → 241 µs, weight gradient
#: 475 → 213 µs against the NCHW batched path; W4 conv1 (1 input channel, 8×8) is
#: faster NCHW (a row's window cell is a single number there, so nothing is gained by
#: contiguity), and from 256 output pixels on the per-image and Winograd paths
#: (``conv.PER_IMAGE_PIXELS``) win.
MIN_CHANNELS = 8
MAX_PIXELS = 256


def use(cin, groups, ho, wo):
    """True when a convolution with cin input channels and an (ho, wo) output per image
    runs channels-last (see :data:`MIN_CHANNELS`)."""
    return groups == 1 and cin >= MIN_CHANNELS and ho * wo < MAX_PIXELS


def _pick(twin, elements):
    """conv.py's choice of the serial or parallel loop (read at each call: tests patch it)."""
    return _conv._pick(twin, elements)


def _weight_matrix(w):
    """W_m (Cout, kh·kw·C): W_m[o, (a·kw + b)·C + c] = w[o, c, a, b]."""
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1)).reshape(w.shape[0], -1)


def _padded(x, kh, kw, stride, pads, dilation, ho, wo):
    """x (NCHW) as the zero-padded NHWC block xp, from the pool."""
    hp, wp = padded_hw(ho, wo, (kh, kw), stride, dilation)
    xp = buffers.take((x.shape[0], hp, wp, x.shape[1]), x.dtype)
    _pick(_loops.to_nhwc_padded, xp.size)(c(x), pads[0], pads[2], xp)
    return xp


def _rows(x, kh, kw, stride, pads, dilation, ho, wo):
    """The (N·Ho·Wo, kh·kw·C) row matrix of x, from the pool."""
    xp = _padded(x, kh, kw, stride, pads, dilation, ho, wo)
    rows = buffers.take((x.shape[0] * ho * wo, kh * kw * x.shape[1]), x.dtype)
    _pick(_loops.nhwc_rows, rows.size)(xp, kh, kw, stride[0], stride[1], dilation[0],
                                       dilation[1], ho, wo, rows)
    buffers.give(xp)
    return rows


def _grad_rows(g):
    """An NCHW gradient (N, O, Ho, Wo) as G (N·Ho·Wo, O), from the pool."""
    n, o = g.shape[:2]
    gr = buffers.take((g.size // o, o), g.dtype)
    _pick(_loops.nchw_to_rows, gr.size)(c(g).reshape(n, o, -1), gr)
    return gr


def conv2d(x, w, b, stride, pads, dilation, ho, wo):
    """Y = rows(x) · W_mᵀ (+ b), as NCHW; see reference.conv2d."""
    n = x.shape[0]
    cout, _, kh, kw = w.shape
    rows = _rows(x, kh, kw, stride, pads, dilation, ho, wo)
    y = buffers.take((rows.shape[0], cout), x.dtype)
    np.matmul(rows, _weight_matrix(w).T, out=y)
    buffers.give(rows)
    out = np.empty((n, cout, ho * wo), dtype=x.dtype)
    has_bias = b is not None
    _pick(_loops.rows_to_nchw, out.size)(y, c(b) if has_bias else y[0], has_bias, out)
    buffers.give(y)
    return out.reshape(n, cout, ho, wo)


def conv_transpose2d(g, w, stride, pads, dilation, out_hw):
    """The input gradient: R = G · W_m added into xp at the windows, as NCHW;
    see reference.conv_transpose2d."""
    n, cout, ho, wo = g.shape
    _, ch, kh, kw = w.shape
    gr = _grad_rows(g)
    cols = buffers.take((gr.shape[0], kh * kw * ch), g.dtype)
    np.matmul(gr, _weight_matrix(w), out=cols)
    buffers.give(gr)
    hp, wp = padded_hw(ho, wo, (kh, kw), stride, dilation)
    xp = buffers.take((n, hp, wp, ch), g.dtype)
    xp.fill(0)
    _pick(_loops.nhwc_rows_add, xp.size)(cols, kh, kw, stride[0], stride[1], dilation[0],
                                         dilation[1], ho, wo, xp)
    buffers.give(cols)
    out = np.empty((n, ch) + tuple(out_hw), dtype=g.dtype)
    _pick(_loops.from_nhwc_padded, out.size)(xp, pads[0], pads[2], out)
    buffers.give(xp)
    return out


def conv2d_weight(x, g, stride, pads, dilation, kernel_hw):
    """The weight gradient W_m = Gᵀ · rows(x), as (Cout, C, kh, kw); see
    reference.conv2d_weight."""
    ch = x.shape[1]
    cout, ho, wo = g.shape[1:]
    kh, kw = kernel_hw
    rows = _rows(x, kh, kw, stride, pads, dilation, ho, wo)
    gr = _grad_rows(g)
    gwm = np.matmul(gr.T, rows)
    buffers.give(rows)
    buffers.give(gr)
    return np.ascontiguousarray(gwm.reshape(cout, kh, kw, ch).transpose(0, 3, 1, 2))
