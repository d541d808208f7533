"""Numba loops of the channels-last (NHWC) convolution path (``../conv_channels_last.py``).

The path keeps an image as (N, Hp, Wp, C): a pixel's channels are contiguous,
so one window cell of an im2col row is a copy of C adjacent numbers instead of
C reads one plane apart.  The row matrix ("rows") has one row per output pixel
and the columns in (a, b, c) order:

    rows[(n·Ho + i)·Wo + j, (a·kw + b)·C + c] = xp[n, i·sh + a·dh, j·sw + b·dw, c]

where xp is the input zero-padded to the windows' extent, Hp = (Ho − 1)·sh +
(kh − 1)·dh + 1 rows (and the same for columns), its row r holding input row
r − pt (zero outside the input; a negative padding crops).

Every loop is a :func:`twin_kernel`: the outer ``prange`` runs over images, each
iteration writes only its own image's slice, so the serial and the parallel
compilation give bit-identical results.  Each has a NumPy twin of the same name
in ``graphgrad/kernels/reference_channels_last.py``.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

from graphgrad.kernels.numba_backend._jit import numba_prange, twin_kernel

prange = numba_prange()


@twin_kernel
def to_nhwc_padded(x, pt, pl, xp):
    """xp[n, r, q, c] = x[n, c, r − pt, q − pl] inside x, 0 outside (x NCHW, xp NHWC)."""
    n_, c_, h_, w_ = x.shape
    hp, wp = xp.shape[1], xp.shape[2]
    zero = xp.dtype.type(0)
    for n in prange(n_):
        for r in range(hp):
            sr = r - pt
            for q in range(wp):
                sq = q - pl
                dst = xp[n, r, q]
                if 0 <= sr < h_ and 0 <= sq < w_:
                    for c in range(c_):
                        dst[c] = x[n, c, sr, sq]
                else:
                    for c in range(c_):
                        dst[c] = zero


@twin_kernel
def nhwc_rows(xp, kh, kw, sh, sw, dh, dw, ho, wo, rows):
    """rows[(n·Ho + i)·Wo + j, (a·kw + b)·C + c] = xp[n, i·sh + a·dh, j·sw + b·dw, c]:
    each window cell is a contiguous copy of C numbers."""
    n_, _, _, c_ = xp.shape
    for n in prange(n_):
        for i in range(ho):
            for j in range(wo):
                row = rows[(n * ho + i) * wo + j]
                for a in range(kh):
                    r = i * sh + a * dh
                    for b in range(kw):
                        src = xp[n, r, j * sw + b * dw]
                        base = (a * kw + b) * c_
                        for c in range(c_):
                            row[base + c] = src[c]


@twin_kernel
def nhwc_rows_add(rows, kh, kw, sh, sw, dh, dw, ho, wo, xp):
    """xp[n, i·sh + a·dh, j·sw + b·dw, c] += rows[(n·Ho + i)·Wo + j, (a·kw + b)·C + c]:
    the adjoint of :func:`nhwc_rows` (xp must start at zero)."""
    n_, _, _, c_ = xp.shape
    for n in prange(n_):
        for i in range(ho):
            for j in range(wo):
                row = rows[(n * ho + i) * wo + j]
                for a in range(kh):
                    r = i * sh + a * dh
                    for b in range(kw):
                        dst = xp[n, r, j * sw + b * dw]
                        base = (a * kw + b) * c_
                        for c in range(c_):
                            dst[c] += row[base + c]


@twin_kernel
def from_nhwc_padded(xp, pt, pl, out):
    """out[n, c, r, q] = xp[n, r + pt, q + pl, c], 0 where that lies outside xp (input
    cells no window reaches): the adjoint of :func:`to_nhwc_padded`."""
    n_, c_, h_, w_ = out.shape
    hp, wp = xp.shape[1], xp.shape[2]
    zero = out.dtype.type(0)
    for n in prange(n_):
        for c in range(c_):
            for r in range(h_):
                sr = r + pt
                for q in range(w_):
                    sq = q + pl
                    if 0 <= sr < hp and 0 <= sq < wp:
                        out[n, c, r, q] = xp[n, sr, sq, c]
                    else:
                        out[n, c, r, q] = zero


@twin_kernel
def rows_to_nchw(y, bias, has_bias, out):
    """out[n, o, l] = y[n·L + l, o] (+ bias[o]): the GEMM's (N·L, O) product back to NCHW."""
    n_, o_, l_ = out.shape
    zero = out.dtype.type(0)
    for n in prange(n_):
        for o in range(o_):
            add = bias[o] if has_bias else zero
            dst = out[n, o]
            for k in range(l_):
                dst[k] = y[n * l_ + k, o] + add


@twin_kernel
def nchw_to_rows(g, out):
    """out[n·L + l, o] = g[n, o, l]: an NCHW gradient (N, O, L) as the (N·L, O) GEMM operand."""
    n_, o_, l_ = g.shape
    for n in prange(n_):
        for k in range(l_):
            dst = out[n * l_ + k]
            for o in range(o_):
                dst[o] = g[n, o, k]
