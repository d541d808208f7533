"""Numba loops for convolution and pooling on C-contiguous NCHW arrays.

The convolutions are BLAS GEMMs (in ``../conv.py``); the loops here only move
data around them.  The column matrix has the layout (C·kh·kw, N·Ho·Wo), row
``(c·kh + a)·kw + b``, column ``(n·Ho + i)·Wo + j`` (N = 1 when ``conv.py``
runs image by image).  The Winograd transforms turn 4×4 tiles of an image into
16 planes (16, C, tiles) and back.  Pooling is a direct loop over the windows.

Geometry arguments as in ``reference.py``: strides sh, sw, the padding before
(pt, pl) and dilations dh, dw; a window cell outside the input reads zero (or
−inf for max pooling) and is skipped when scattering back.

The data-movement loops (im2col, col2im, the NCHW transposes with the bias,
the Winograd transforms, max pooling and its scatter/gather) are
:func:`twin_kernel` loops: their outer ``prange`` runs over independent
(image, channel) blocks, each iteration writing only its own slice of the
output, so the serial and the parallel compilation give bit-identical results.
``../conv.py`` chooses between them.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels.numba_backend._jit import kernel, numba_prange, twin_kernel

prange = numba_prange()


@twin_kernel
def im2col(x, kh, kw, sh, sw, pt, pl, dh, dw, ho, wo, cols):
    """cols[(c·kh + a)·kw + b, (n·Ho + i)·Wo + j] = x[n, c, i·sh − pt + a·dh, j·sw − pl + b·dw].

    Cells outside x read 0.  Parallel over channels (each writes its kh·kw rows)."""
    n_, c_, h_, w_ = x.shape
    zero = x.dtype.type(0)
    for c in prange(c_):
        for a in range(kh):
            for b in range(kw):
                row = (c * kh + a) * kw + b
                for n in range(n_):
                    for i in range(ho):
                        r = i * sh - pt + a * dh
                        base = (n * ho + i) * wo
                        if r < 0 or r >= h_:
                            for j in range(wo):
                                cols[row, base + j] = zero
                            continue
                        for j in range(wo):
                            q = j * sw - pl + b * dw
                            cols[row, base + j] = x[n, c, r, q] if 0 <= q < w_ else zero


@twin_kernel
def col2im(cols, kh, kw, sh, sw, pt, pl, dh, dw, ho, wo, out):
    """out[n, c, i·sh − pt + a·dh, j·sw − pl + b·dw] += cols[(c·kh + a)·kw + b, (n·Ho + i)·Wo + j].

    Cells outside out are skipped (they were padding).  Parallel over (n, c) planes."""
    n_, c_, h_, w_ = out.shape
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc - n * c_
        for a in range(kh):
            for b in range(kw):
                row = (c * kh + a) * kw + b
                for i in range(ho):
                    r = i * sh - pt + a * dh
                    if r < 0 or r >= h_:
                        continue
                    base = (n * ho + i) * wo
                    for j in range(wo):
                        q = j * sw - pl + b * dw
                        if 0 <= q < w_:
                            out[n, c, r, q] += cols[row, base + j]


@twin_kernel
def col2im_stride1(cols, kh, kw, pt, pl, dh, dw, ho, wo, out):
    """col2im for stride 1 on one image, as a gather: each out[c, r, q] is written once,

    out[c, r, q] = Σ_{a,b} cols[(c·kh + a)·kw + b, (r + pt − a·dh)·Wo + q + pl − b·dw]

    over the (a, b) whose source pixel lies inside the (Ho, Wo) output grid.
    cols is (C·kh·kw, Ho·Wo), out is (C, H, W) and needs no zeroing.  Per output
    row the contributions are added as slices of a row (which LLVM vectorises):
    about 2x faster than the scatter loop at 32×32 (docs/performance.md).
    Parallel over channels."""
    c_, h_, w_ = out.shape
    zero = out.dtype.type(0)
    for c in prange(c_):
        for r in range(h_):
            dst = out[c, r]
            for q in range(w_):
                dst[q] = zero
            for a in range(kh):
                i = r + pt - a * dh
                if i < 0 or i >= ho:
                    continue
                for b in range(kw):
                    off = pl - b * dw
                    q0 = max(0, -off)
                    q1 = min(w_, wo - off)
                    if q1 <= q0:
                        continue
                    src = cols[(c * kh + a) * kw + b, i * wo + off + q0: i * wo + off + q1]
                    part = dst[q0:q1]
                    for k in range(q1 - q0):
                        part[k] += src[k]


@twin_kernel
def to_nchw(y2, bias, has_bias, out):
    """out[n, o, l] = y2[o, n·L + l] (+ bias[o]): the GEMM result (Cout, N·L) back to
    NCHW with the bias added in the same pass."""
    n_, o_, l_ = out.shape
    zero = y2.dtype.type(0)
    for no in prange(n_ * o_):
        n = no // o_
        o = no - n * o_
        add = bias[o] if has_bias else zero
        base = n * l_
        for k in range(l_):
            out[n, o, k] = y2[o, base + k] + add


@twin_kernel
def from_nchw(g, out):
    """out[o, n·L + l] = g[n, o, l]: a gradient (N, Cout, L) as the GEMM operand (Cout, N·L)."""
    n_, o_, l_ = g.shape
    for no in prange(n_ * o_):
        n = no // o_
        o = no - n * o_
        base = n * l_
        for k in range(l_):
            out[o, base + k] = g[n, o, k]


@twin_kernel
def max_pool2d(x, kh, kw, sh, sw, pt, pl, dh, dw, out, idx):
    """out = max over each window (cells outside x skipped), idx = flat r·W + q of the first
    maximum in row-major window order, or of the last NaN (PyTorch's rule)."""
    n_, c_, h_, w_ = x.shape
    ho, wo = out.shape[2], out.shape[3]
    for nc in prange(n_ * c_):
        n = nc // c_
        c = nc - n * c_
        for i in range(ho):
            for j in range(wo):
                best = -x.dtype.type(1e308) * x.dtype.type(1e308)  # −inf in either dtype
                arg = -1
                for a in range(kh):
                    r = i * sh - pt + a * dh
                    if r < 0 or r >= h_:
                        continue
                    for b in range(kw):
                        q = j * sw - pl + b * dw
                        if q < 0 or q >= w_:
                            continue
                        v = x[n, c, r, q]
                        if arg < 0 or v > best or v != v:
                            best = v
                            arg = r * w_ + q
                out[n, c, i, j] = best
                idx[n, c, i, j] = arg


@kernel(inline=True)
def _take(v, best, arg, k):
    """PyTorch's update rule: a larger value or a NaN replaces the best so far."""
    if v > best or v != v:
        return v, k
    return best, arg


@twin_kernel
def max_pool2x2(x, out, idx):
    """max_pool2d for the common 2×2 window, stride 2, no padding, on (M, H, W) planes.

    The same rule as the general loop, written out for the four cells: the
    general loop's window loops with bounds tests measured ~20× slower here.
    """
    m_, h_, w_ = x.shape
    ho, wo = out.shape[1], out.shape[2]
    for m in prange(m_):
        for i in range(ho):
            r = 2 * i
            for j in range(wo):
                q = 2 * j
                best, arg = x[m, r, q], r * w_ + q
                best, arg = _take(x[m, r, q + 1], best, arg, r * w_ + q + 1)
                best, arg = _take(x[m, r + 1, q], best, arg, (r + 1) * w_ + q)
                best, arg = _take(x[m, r + 1, q + 1], best, arg, (r + 1) * w_ + q + 1)
                out[m, i, j] = best
                idx[m, i, j] = arg


@twin_kernel
def pool_scatter(g, idx, out):
    """out[m, idx[m, k]] += g[m, k] for flat (N·C, L) g, idx and (N·C, H·W) out."""
    m_, k_ = g.shape
    for m in prange(m_):
        for k in range(k_):
            out[m, idx[m, k]] += g[m, k]


@twin_kernel
def pool_gather(x, idx, out):
    """out[m, k] = x[m, idx[m, k]] for flat (N·C, H·W) x and (N·C, L) idx."""
    m_, k_ = idx.shape
    for m in prange(m_):
        for k in range(k_):
            out[m, k] = x[m, idx[m, k]]


@kernel(reduction=True)
def avg_pool2d(x, kh, kw, sh, sw, pt, pl, divisor, out):
    """out[n, c, i, j] = Σ window cells inside x / divisor[i, j] (padding adds zero)."""
    n_, c_, h_, w_ = x.shape
    ho, wo = out.shape[2], out.shape[3]
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r0 = max(i * sh - pt, 0)
                r1 = min(i * sh - pt + kh, h_)
                for j in range(wo):
                    q0 = max(j * sw - pl, 0)
                    q1 = min(j * sw - pl + kw, w_)
                    s = 0.0
                    for r in range(r0, r1):
                        for q in range(q0, q1):
                            s += x[n, c, r, q]
                    out[n, c, i, j] = s / divisor[i, j]


@kernel
def avg_pool2d_backward(g, kh, kw, sh, sw, pt, pl, divisor, out):
    """out[n, c, r, q] += g[n, c, i, j] / divisor[i, j] for every window (i, j) holding (r, q)."""
    n_, c_, h_, w_ = out.shape
    ho, wo = g.shape[2], g.shape[3]
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r0 = max(i * sh - pt, 0)
                r1 = min(i * sh - pt + kh, h_)
                for j in range(wo):
                    q0 = max(j * sw - pl, 0)
                    q1 = min(j * sw - pl + kw, w_)
                    v = g[n, c, i, j] / divisor[i, j]
                    for r in range(r0, r1):
                        for q in range(q0, q1):
                            out[n, c, r, q] += v



@twin_kernel
def winograd_input(xp, th, tw, v):
    """Winograd F(2×2, 3×3) input transform of one zero-padded image: for each 4×4 tile d
    of xp (tile (ti, tj) starts at row 2·ti, column 2·tj),
    v[4·k + l, c, ti·tw + tj] = (Bᵀ d B)[k, l] with

        Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]].

    xp is (C, 2·th + 2, 2·tw + 2), v is (16, C, th·tw).  Per tile row, Bᵀ combines
    the four input rows whole (contiguous, vectorised), then B combines each
    row's columns tile by tile.  Parallel over channels."""
    c_, _, wp = xp.shape
    for c in prange(c_):
        rows = np.empty((4, wp), dtype=xp.dtype)
        for ti in range(th):
            d0, d1, d2, d3 = xp[c, 2 * ti], xp[c, 2 * ti + 1], xp[c, 2 * ti + 2], xp[c, 2 * ti + 3]
            for q in range(wp):
                rows[0, q] = d0[q] - d2[q]
                rows[1, q] = d1[q] + d2[q]
                rows[2, q] = d2[q] - d1[q]
                rows[3, q] = d1[q] - d3[q]
            base = ti * tw
            for k in range(4):
                e = rows[k]
                v0, v1, v2, v3 = v[4 * k, c], v[4 * k + 1, c], v[4 * k + 2, c], v[4 * k + 3, c]
                for tj in range(tw):
                    q = 2 * tj
                    v0[base + tj] = e[q] - e[q + 2]
                    v1[base + tj] = e[q + 1] + e[q + 2]
                    v2[base + tj] = e[q + 2] - e[q + 1]
                    v3[base + tj] = e[q + 1] - e[q + 3]


@twin_kernel
def winograd_output(m, bias, has_bias, th, tw, out):
    """Winograd F(2×2, 3×3) output transform of one image: the 2×2 output tile
    (ti, tj) of channel o is Aᵀ M A (+ bias[o]), M[k, l] = m[4·k + l, o, ti·tw + tj],

        Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].

    m is (16, O, th·tw), out is (O, 2·th, 2·tw) (the caller crops odd sizes).  Per
    tile row, · A combines each M row's columns tile by tile, then Aᵀ combines the
    four rows whole (contiguous, vectorised).  Parallel over output channels."""
    o_, _, w2 = out.shape
    zero = out.dtype.type(0)
    for o in prange(o_):
        add = bias[o] if has_bias else zero
        rows = np.empty((4, w2), dtype=out.dtype)
        for ti in range(th):
            base = ti * tw
            for k in range(4):
                m0, m1, m2, m3 = m[4 * k, o], m[4 * k + 1, o], m[4 * k + 2, o], m[4 * k + 3, o]
                e = rows[k]
                for tj in range(tw):
                    t = base + tj
                    e[2 * tj] = m0[t] + m1[t] + m2[t]
                    e[2 * tj + 1] = m1[t] - m2[t] - m3[t]
            y0, y1 = out[o, 2 * ti], out[o, 2 * ti + 1]
            for q in range(w2):
                y0[q] = rows[0, q] + rows[1, q] + rows[2, q] + add
                y1[q] = rows[1, q] - rows[2, q] - rows[3, q] + add


@twin_kernel
def winograd_grad_tiles(gp, th, tw, ug):
    """The gradient's side of the Winograd weight gradient F(3×3, 2×2): for each 2×2 tile
    e of gp (tile (ti, tj) at row 2·ti, column 2·tj), ug[4·k + l, o, ti·tw + tj] =
    (A e Aᵀ)[k, l] with A = [[1, 0], [1, 1], [1, −1], [0, −1]] (the transpose of
    F(2×2, 3×3)'s Aᵀ).  gp is (O, 2·th, 2·tw) (odd sizes zero-padded), ug is
    (16, O, th·tw).  Parallel over channels."""
    o_, _, w2 = gp.shape
    for o in prange(o_):
        rows = np.empty((4, w2), dtype=gp.dtype)
        for ti in range(th):
            g0, g1 = gp[o, 2 * ti], gp[o, 2 * ti + 1]
            for q in range(w2):
                rows[0, q] = g0[q]
                rows[1, q] = g0[q] + g1[q]
                rows[2, q] = g0[q] - g1[q]
                rows[3, q] = -g1[q]
            base = ti * tw
            for k in range(4):
                e = rows[k]
                u0, u1, u2, u3 = ug[4 * k, o], ug[4 * k + 1, o], ug[4 * k + 2, o], ug[4 * k + 3, o]
                for tj in range(tw):
                    a, b = e[2 * tj], e[2 * tj + 1]
                    u0[base + tj] = a
                    u1[base + tj] = a + b
                    u2[base + tj] = a - b
                    u3[base + tj] = -b
