"""Pooling on NCHW tensors: max and average pooling (1-D and 2-D), adaptive
average pooling, interpolation and channel dropout.

Max pooling is a gather at the argmax of every window; its backward is the
adjoint scatter, whose backward is the gather again (``PoolGather`` /
``PoolScatter``), so double backward works and stays on the kernels.  Average
pooling is linear: ``AvgPool2d`` and its adjoint ``AvgPool2dBackward`` are each
other's backward.  Adaptive average pooling and interpolation are separable
linear maps, ``y = A_h · x · A_wᵀ`` with constant matrices, built from matmul.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor
from graphgrad.ops.conv import _label, check_nchw, geometry, pair
from graphgrad.ops.linalg import matmul
from graphgrad.ops.shape import reshape


class MaxPool2d(Function):
    """y[n, c, i, j] = max of window (i, j) of x (padding: −inf); ∂/∂x: g scattered to the argmax.

    Ties go to the first maximum in row-major window order, NaN wins (as PyTorch).
    """

    @staticmethod
    def forward(ctx, x, kernel_hw, geo):
        stride, pads, dilation, _ = geo
        y, idx = K.max_pool2d(x, kernel_hw, stride, pads, dilation)
        ctx.idx = (idx,)  # boxed: an ndarray argument would be drawn as a constant input
        ctx.label = _label(kernel_hw, stride, pads, dilation)
        return y

    @staticmethod
    def backward(ctx, g):
        return PoolScatter.apply(g, ctx.idx, ctx.in_shapes[0][2:]), None, None


class PoolScatter(Function):
    """y = zeros (N, C, H, W) with y[n, c, idx] += g[n, c, ...];  ∂/∂g = gather of h at idx."""

    @staticmethod
    def forward(ctx, g, idx, in_hw):
        ctx.idx = idx
        return K.pool_scatter(g, idx[0], tuple(in_hw))

    @staticmethod
    def backward(ctx, h):
        return PoolGather.apply(h, ctx.idx), None, None


class PoolGather(Function):
    """y[n, c, ...] = x[n, c, idx[n, c, ...]] (flat H·W index);  ∂/∂x = scatter of h to idx."""

    @staticmethod
    def forward(ctx, x, idx):
        ctx.idx = idx
        return K.pool_gather(x, idx[0])

    @staticmethod
    def backward(ctx, h):
        return PoolScatter.apply(h, ctx.idx, ctx.in_shapes[0][2:]), None


class AvgPool2d(Function):
    """y[n, c, i, j] = Σ window (i, j) / d[i, j];  ∂/∂x = every window gets g / d."""

    @staticmethod
    def forward(ctx, x, spec):
        kernel_hw, stride, pads, divisor = spec
        ctx.spec = spec
        ctx.label = _label(kernel_hw, stride, pads, (1, 1))
        return K.avg_pool2d(x, kernel_hw, stride, pads, divisor)

    @staticmethod
    def backward(ctx, g):
        return AvgPool2dBackward.apply(g, ctx.in_shapes[0][2:], ctx.spec), None


class AvgPool2dBackward(Function):
    """The adjoint of average pooling (linear);  its backward is average pooling."""

    @staticmethod
    def forward(ctx, g, in_hw, spec):
        kernel_hw, stride, pads, divisor = spec
        ctx.spec = spec
        return K.avg_pool2d_backward(g, tuple(in_hw), kernel_hw, stride, pads, divisor)

    @staticmethod
    def backward(ctx, h):
        return AvgPool2d.apply(h, ctx.spec), None, None


# ------------------------------------------------------------- public API
def _pool_args(op, x, kernel_size, stride, padding, dilation, spatial):
    check_nchw(op, x, spatial)
    kernel = pair(op, "kernel_size", kernel_size, spatial)
    stride = kernel if stride is None else pair(op, "stride", stride, spatial)
    padding = pair(op, "padding", padding, spatial, minimum=0)
    dilation = pair(op, "dilation", dilation, spatial)
    for p, k, d in zip(padding, kernel, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ValueError(f"{op}: padding {padding} must be at most half of the (dilated) "
                             f"kernel size {kernel}, as in PyTorch")
    if spatial == 1:
        kernel, stride, padding, dilation = ((1,) + kernel, (1,) + stride, (0,) + padding,
                                             (1,) + dilation)
    return kernel, stride, padding, dilation


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """Max over every (dilated) kernel window of NCHW x, as PyTorch (stride defaults to the kernel).

    Output size per axis ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1 (⌈⌉ with ``ceil_mode``);
    padding counts as −inf and is at most half the kernel.
    """
    x = as_tensor(x)
    k, s, p, d = _pool_args("max_pool2d", x, kernel_size, stride, padding, dilation, 2)
    _, pads = geometry("max_pool2d", x.shape[2:], k, s, p, d, ceil_mode)
    return MaxPool2d.apply(x, k, (s, pads, d, 1))


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor:
    """Max pooling of (N, C, L) x over windows of ``kernel_size`` (max_pool2d with H = 1)."""
    x = as_tensor(x)
    k, s, p, d = _pool_args("max_pool1d", x, kernel_size, stride, padding, dilation, 1)
    n, c, length = x.shape
    _, pads = geometry("max_pool1d", (1, length), k, s, p, d, ceil_mode)
    y = MaxPool2d.apply(reshape(x, (n, c, 1, length)), k, (s, pads, d, 1))
    return reshape(y, (n, c, y.shape[3]))


def _avg_divisor(in_hw, out_hw, kernel, stride, padding, count_include_pad, divisor_override):
    """PyTorch's divisor of each average-pooling window, shape (Ho, Wo)."""
    if divisor_override is not None:
        return np.full(out_hw, float(divisor_override))
    sizes = []
    for size, out, k, s, p in zip(in_hw, out_hw, kernel, stride, padding):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, size + p)
        inside = np.minimum(end, size) - np.maximum(start, 0)
        sizes.append(end - start if count_include_pad else inside)
    return np.outer(sizes[0], sizes[1]).astype(np.float64)


def _avg_pool(op, x, k, s, p, ceil_mode, count_include_pad, divisor_override):
    if divisor_override is not None and (
            not isinstance(divisor_override, numbers.Integral) or divisor_override < 1):
        raise ValueError(f"{op}: divisor_override must be a positive integer or None, "
                         f"got {divisor_override!r}")
    out_hw, pads = geometry(op, x.shape[2:], k, s, p, (1, 1), ceil_mode)
    divisor = _avg_divisor(x.shape[2:], out_hw, k, s, p, count_include_pad, divisor_override)
    return AvgPool2d.apply(x, (k, s, pads, divisor.astype(x.dtype)))


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """Mean over every kernel window of NCHW x, as PyTorch.

    y = Σ window / d with d the window's size counting the zero padding
    (``count_include_pad=True``) or only the input cells, or ``divisor_override``.
    """
    x = as_tensor(x)
    k, s, p, _ = _pool_args("avg_pool2d", x, kernel_size, stride, padding, 1, 2)
    return _avg_pool("avg_pool2d", x, k, s, p, ceil_mode, count_include_pad, divisor_override)


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True) -> Tensor:
    """Average pooling of (N, C, L) x (avg_pool2d with H = 1)."""
    x = as_tensor(x)
    k, s, p, _ = _pool_args("avg_pool1d", x, kernel_size, stride, padding, 1, 1)
    n, c, length = x.shape
    y = _avg_pool("avg_pool1d", reshape(x, (n, c, 1, length)), k, s, p, ceil_mode,
                  count_include_pad, None)
    return reshape(y, (n, c, y.shape[3]))


# ----------------------------------------------------- separable linear maps
def _adaptive_matrix(size: int, out: int, dtype) -> np.ndarray:
    """(out, size): row i averages x[⌊i·size/out⌋ : ⌈(i + 1)·size/out⌉] (PyTorch's windows)."""
    m = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m.astype(dtype)


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """Average pooling of NCHW x to a fixed (Ho, Wo), as PyTorch: output cell i along an
    axis of size H averages rows ⌊iH/Ho⌋ … ⌈(i+1)H/Ho⌉ − 1.  Computed as A_h · x · A_wᵀ;
    ``None`` in ``output_size`` keeps that axis."""
    x = as_tensor(x)
    check_nchw("adaptive_avg_pool2d", x)
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    size = tuple(h if o is None else o for o, h in zip(size, x.shape[2:]))
    ho, wo = pair("adaptive_avg_pool2d", "output_size", size)
    h, w = x.shape[2:]
    if (ho, wo) == (1, 1):
        return x.mean(axis=(2, 3), keepdims=True)
    y = x if ho == h else matmul(_adaptive_matrix(h, ho, x.dtype), x)
    return y if wo == w else matmul(y, _adaptive_matrix(w, wo, x.dtype).T)


def _linear_matrix(size: int, out: int, scale, align_corners: bool, dtype) -> np.ndarray:
    """(out, size) linear-interpolation weights, PyTorch's source coordinates."""
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        src = dst * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    frac = src - i0
    m = np.zeros((out, size))
    np.add.at(m, (np.arange(out), i0), 1.0 - frac)
    np.add.at(m, (np.arange(out), i1), frac)
    return m.astype(dtype)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None) -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) x, as ``torch.nn.functional.interpolate``.

    ``mode="nearest"``: y[i] = x[⌊i·scale⌋]; ``"linear"`` (3-D) / ``"bilinear"`` (4-D):
    y[i] = (1 − λ)·x[i₀] + λ·x[i₀ + 1] at the source coordinate (i + ½)·scale − ½
    (``align_corners=True``: i·(H − 1)/(Ho − 1)), scale = in/out (1/scale_factor when given).
    """
    x = as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"interpolate: expected (N, C, L) or (N, C, H, W) input, got shape "
                         f"{tuple(x.shape)}")
    spatial = x.ndim - 2
    linear = {3: "linear", 4: "bilinear"}[x.ndim]
    if mode not in ("nearest", linear):
        raise ValueError(f"interpolate: mode {mode!r} is not supported for a {x.ndim}-D input; "
                         f"use 'nearest' or {linear!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to the linear modes")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    in_sizes = x.shape[2:]
    if size is not None:
        out_sizes = pair("interpolate", "size", size, spatial)
        scales = [i / o for i, o in zip(in_sizes, out_sizes)]
    else:
        factors = (tuple(scale_factor) if isinstance(scale_factor, (tuple, list))
                   else (scale_factor,) * spatial)
        if len(factors) != spatial or any(not f > 0 for f in factors):
            raise ValueError(f"interpolate: scale_factor must be positive (one per spatial "
                             f"axis), got {scale_factor!r}")
        out_sizes = tuple(int(math.floor(i * f)) for i, f in zip(in_sizes, factors))
        scales = [1.0 / f for f in factors]
    y = x
    for axis, (n_in, n_out, scale) in enumerate(zip(in_sizes, out_sizes, scales)):
        dim = 2 + axis
        if mode == "nearest":
            src = np.minimum(np.floor(np.arange(n_out) * scale).astype(np.intp), n_in - 1)
            if n_out != n_in or np.any(src != np.arange(n_in)):
                y = y[(slice(None),) * dim + (src,)]
        else:
            m = _linear_matrix(n_in, n_out, scale, bool(align_corners), x.dtype)
            y = matmul(m, y) if dim == x.ndim - 2 else matmul(y, m.T)
    return y


def dropout2d(x, p=0.5, training=True, rng=None) -> Tensor:
    """Channel dropout, as ``torch.nn.functional.dropout2d``: in training, every channel map
    x[n, c] is zeroed with probability p and the kept ones scaled by 1/(1 − p), so E[y] = x;
    otherwise y = x.

    ``rng``: a ``numpy.random.Generator`` or a seed; None draws fresh entropy (ops sit
    below graphgrad's global generator: pass ``gg.random.default_rng()`` to use it, as
    the ``Dropout2d`` layer does).
    """
    x = as_tensor(x)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout2d: p is a drop probability in [0, 1], got {p}")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected (N, C, H, W) or (C, H, W) input, got shape "
                         f"{tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    # the mask through the kernel table, so gg.compile draws a fresh one at each replay
    return x * K.dropout_mask(rng, x.shape[:-2] + (1, 1), p, x.dtype)
