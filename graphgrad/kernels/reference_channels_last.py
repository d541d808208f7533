"""NumPy twins of the channels-last convolution loops
(``numba_backend/loops/conv_channels_last.py``), and the whole path in NumPy.

Each loop twin takes the same arguments and fills its last (output) argument the
same way; tests/kernels/test_conv_channels_last.py requires the loops to agree
with them (bit for bit where the loop only copies).  :func:`conv2d`,
:func:`conv_transpose2d` and :func:`conv2d_weight` are the path written with
these twins and NumPy GEMMs, the readable statement of what the Numba wrapper
computes (groups = 1).
"""

from __future__ import annotations

import numpy as np


def padded_hw(ho, wo, kernel_hw, stride, dilation):
    """(Hp, Wp): the rows and columns the windows of an (Ho, Wo) output reach."""
    return tuple((o - 1) * s + (k - 1) * d + 1
                 for o, k, s, d in zip((ho, wo), kernel_hw, stride, dilation))


def _overlap(h, w, hp, wp, pt, pl):
    """(r0, r1, q0, q1): the rows and columns of an (h, w) image that lie in an
    (hp, wp) block holding it at offset (pt, pl) (negative pads crop)."""
    return max(0, -pt), min(h, hp - pt), max(0, -pl), min(w, wp - pl)


def to_nhwc_padded(x, pt, pl, xp):
    """xp[n, r, q, c] = x[n, c, r − pt, q − pl] inside x, 0 outside."""
    xp[...] = 0
    r0, r1, q0, q1 = _overlap(*x.shape[2:], *xp.shape[1:3], pt, pl)
    if r1 > r0 and q1 > q0:
        xp[:, r0 + pt: r1 + pt, q0 + pl: q1 + pl] = x[:, :, r0:r1, q0:q1].transpose(0, 2, 3, 1)


def _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo):
    """A strided view (N, Ho, Wo, kh, kw, C) of xp's windows."""
    sn, sr, sq, sc = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, (xp.shape[0], ho, wo, kh, kw, xp.shape[3]),
        (sn, sr * sh, sq * sw, sr * dh, sq * dw, sc), writeable=False)


def nhwc_rows(xp, kh, kw, sh, sw, dh, dw, ho, wo, rows):
    """rows[(n·Ho + i)·Wo + j, (a·kw + b)·C + c] = xp[n, i·sh + a·dh, j·sw + b·dw, c]."""
    rows[...] = _windows(xp, kh, kw, sh, sw, dh, dw, ho, wo).reshape(rows.shape)


def nhwc_rows_add(rows, kh, kw, sh, sw, dh, dw, ho, wo, xp):
    """xp[n, i·sh + a·dh, j·sw + b·dw, c] += rows[(n·Ho + i)·Wo + j, (a·kw + b)·C + c]."""
    r6 = rows.reshape(xp.shape[0], ho, wo, kh, kw, xp.shape[3])
    for a in range(kh):
        for b in range(kw):
            xp[:, a * dh: a * dh + (ho - 1) * sh + 1: sh,
               b * dw: b * dw + (wo - 1) * sw + 1: sw] += r6[:, :, :, a, b]


def from_nhwc_padded(xp, pt, pl, out):
    """out[n, c, r, q] = xp[n, r + pt, q + pl, c], 0 outside xp."""
    out[...] = 0
    r0, r1, q0, q1 = _overlap(*out.shape[2:], *xp.shape[1:3], pt, pl)
    if r1 > r0 and q1 > q0:
        out[:, :, r0:r1, q0:q1] = xp[:, r0 + pt: r1 + pt, q0 + pl: q1 + pl].transpose(0, 3, 1, 2)


def rows_to_nchw(y, bias, has_bias, out):
    """out[n, o, l] = y[n·L + l, o] (+ bias[o])."""
    n, o, l_ = out.shape
    out[...] = y.reshape(n, l_, o).transpose(0, 2, 1)
    if has_bias:
        out += bias.reshape(1, o, 1)


def nchw_to_rows(g, out):
    """out[n·L + l, o] = g[n, o, l]."""
    n, o, l_ = g.shape
    out[...] = g.transpose(0, 2, 1).reshape(n * l_, o)


def _geometry(out_hw, kernel_hw, stride, dilation):
    hp, wp = padded_hw(*out_hw, kernel_hw, stride, dilation)
    return hp, wp, (*kernel_hw, *stride, *dilation, *out_hw)


def conv2d(x, w, b, stride, pads, dilation, out_hw):
    """y = rows(x) · W_m (+ b), W_m[(a·kw + b)·C + c, o] = w[o, c, a, b]; NCHW out."""
    n, ch = x.shape[:2]
    cout, _, kh, kw = w.shape
    hp, wp, geo = _geometry(out_hw, (kh, kw), stride, dilation)
    xp = np.empty((n, hp, wp, ch), x.dtype)
    to_nhwc_padded(x, pads[0], pads[2], xp)
    rows = np.empty((n * out_hw[0] * out_hw[1], kh * kw * ch), x.dtype)
    nhwc_rows(xp, *geo, rows)
    y = rows @ w.transpose(0, 2, 3, 1).reshape(cout, -1).T
    out = np.empty((n, cout, out_hw[0] * out_hw[1]), x.dtype)
    rows_to_nchw(y, b, b is not None, out)
    return out.reshape(n, cout, *out_hw)


def conv_transpose2d(g, w, stride, pads, dilation, in_hw):
    """The input gradient: rows_add(g_rows · W_mᵀ) back to NCHW."""
    n, cout, ho, wo = g.shape
    _, ch, kh, kw = w.shape
    hp, wp, geo = _geometry((ho, wo), (kh, kw), stride, dilation)
    gr = np.empty((n * ho * wo, cout), g.dtype)
    nchw_to_rows(g.reshape(n, cout, -1), gr)
    cols = gr @ w.transpose(0, 2, 3, 1).reshape(cout, -1)
    xp = np.zeros((n, hp, wp, ch), g.dtype)
    nhwc_rows_add(cols, *geo, xp)
    out = np.empty((n, ch) + tuple(in_hw), g.dtype)
    from_nhwc_padded(xp, pads[0], pads[2], out)
    return out


def conv2d_weight(x, g, stride, pads, dilation, kernel_hw):
    """The weight gradient: W_m = g_rowsᵀ · rows(x), back to (O, C, kh, kw)."""
    n, ch = x.shape[:2]
    cout, ho, wo = g.shape[1:]
    kh, kw = kernel_hw
    hp, wp, geo = _geometry((ho, wo), kernel_hw, stride, dilation)
    xp = np.empty((n, hp, wp, ch), x.dtype)
    to_nhwc_padded(x, pads[0], pads[2], xp)
    rows = np.empty((n * ho * wo, kh * kw * ch), x.dtype)
    nhwc_rows(xp, *geo, rows)
    gr = np.empty((n * ho * wo, cout), g.dtype)
    nchw_to_rows(g.reshape(n, cout, -1), gr)
    return np.ascontiguousarray((gr.T @ rows).reshape(cout, kh, kw, ch).transpose(0, 3, 1, 2))
