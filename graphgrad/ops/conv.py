"""Convolutions on NCHW tensors: conv1d/conv2d, conv_transpose2d, unfold/fold.

Three bilinear Functions carry all of it, and each one's backward is written
with the other two, so gradients of any order stay on the fast kernels:

* ``Conv2d``          y = C(x, w)   (+ bias)
* ``ConvTranspose2d`` T(g, w) = C_xᵀ g, the adjoint of C in x (``⟨C(x, w), g⟩ = ⟨x, T(g, w)⟩``)
* ``Conv2dWeight``    W(x, g) = C_wᵀ g, the adjoint of C in w (``⟨C(x, w), g⟩ = ⟨w, W(x, g)⟩``)

so ∂C/∂x·g = T(g, w), ∂C/∂w·g = W(x, g); ∂T/∂g·h = C(h, w), ∂T/∂w·h = W(h, g);
∂W/∂x·h = T(g, h), ∂W/∂g·h = C(x, h).  Forward of each is one kernel call on
ndarrays (``K.conv2d``, ``K.conv_transpose2d``, ``K.conv2d_weight``).

Geometry is normalised once, in :func:`geometry`: per spatial axis a stride,
a dilation, and the padding before and after, where the padding after is
adjusted so that ``size + before + after = (out − 1)·stride + dilation·(k − 1) + 1``
(it may be negative: input rows no window reaches).  Pooling lives in
``ops/pool.py`` and shares these helpers.
"""

from __future__ import annotations

import numbers

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor
from graphgrad.ops.shape import reshape


# ------------------------------------------------------------------ geometry
def pair(op: str, name: str, value, n: int = 2, minimum: int = 1) -> tuple[int, ...]:
    """An int or a length-n sequence of ints, each >= minimum, as an n-tuple (else an error)."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{op}: {name} must be an integer or a sequence of {n} integers, "
                         f"got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in values)


def out_size(size: int, k: int, s: int, p0: int, p1: int, d: int, ceil_mode=False) -> int:
    """Output length of a window sweep: ⌊(size + p0 + p1 − d(k − 1) − 1) / s⌋ + 1.

    With ceil_mode ⌈⌉ instead, dropping a last window that would start in the
    padding after the input (as PyTorch).
    """
    span = size + p0 + p1 - d * (k - 1) - 1
    if span < 0:
        return 0
    n = (span + s - 1) // s + 1 if ceil_mode else span // s + 1
    if ceil_mode and (n - 1) * s >= size + p0:
        n -= 1
    return n


def geometry(op, in_hw, kernel_hw, stride, padding, dilation, ceil_mode=False):
    """((Ho, Wo), pads): the output size and normalised (top, bottom, left, right) pads.

    ``padding`` is (ph, pw) applied on both sides, or ((top, bottom), (left, right)).
    Raises if the (dilated) kernel is larger than the padded input.
    """
    out, pads = [], []
    for axis, (size, k, s, p, d) in enumerate(zip(in_hw, kernel_hw, stride, padding, dilation)):
        p0, p1 = p if isinstance(p, tuple) else (p, p)
        extent = d * (k - 1) + 1
        if size + p0 + p1 < extent:
            what = "height" if axis == len(in_hw) - 2 else "width"
            raise ValueError(
                f"{op}: the kernel ({extent} along the {what} with dilation {d}) is larger "
                f"than the padded input ({size} + {p0} + {p1} = {size + p0 + p1}); use a "
                "smaller kernel or dilation, more padding, or a larger input"
            )
        n = out_size(size, k, s, p0, p1, d, ceil_mode)
        out.append(n)
        pads += [p0, (n - 1) * s + extent - size - p0]
    return tuple(out), tuple(pads)


def check_nchw(op: str, x, spatial: int = 2) -> None:
    """x must be (N, C, *spatial) (NCHW for 2-D)."""
    layout = {1: "(N, C, L)", 2: "(N, C, H, W) (NCHW)"}[spatial]
    if x.ndim != spatial + 2:
        raise ValueError(f"{op}: expected a {spatial + 2}-D input {layout}, got shape "
                         f"{tuple(x.shape)}; add a batch axis with reshape if it is one sample")


def _layout_hint(x, channels: int) -> str:
    if x.ndim >= 3 and x.shape[-1] == channels and x.shape[1] != channels:
        axes = (0, x.ndim - 1) + tuple(range(1, x.ndim - 1))
        return (f"; the input looks channels-last (NHWC, C={channels} in the last axis): "
                f"NCHW is expected, move the channels with x.transpose({axes})")
    return ""


def _label(kernel_hw, stride, pads, dilation, groups=1) -> str:
    def fmt(v):
        return "×".join(str(a) for a in v) if len(set(v)) > 1 else str(v[0])

    pad = pads[0::2]
    text = f"k {fmt(kernel_hw)}, s {fmt(stride)}, p {fmt(pad)}"
    if any(d != 1 for d in dilation):
        text += f", d {fmt(dilation)}"
    return text + (f", g {groups}" if groups != 1 else "")


# ----------------------------------------------------------------- functions
class Conv2d(Function):
    """y = C(x, w) + b, a cross-correlation (groups=1 written out):

    y[n, o, i, j] = b[o] + Σ_{c,a,b'} w[o, c, a, b'] · xp[n, c, i·s + a·d, j·s + b'·d]

    ∂/∂x = conv_transpose(g, w);  ∂/∂w = conv2d_weight(x, g);  ∂/∂b = Σ_{n,i,j} g.
    """

    @staticmethod
    def forward(ctx, x, w, b, geo):
        stride, pads, dilation, groups = geo
        y = K.conv2d(x, w, b, stride, pads, dilation, groups)
        ctx.geo = geo
        ctx.label = _label(w.shape[2:], stride, pads, dilation, groups)
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        gx = ConvTranspose2d.apply(g, w, ctx.geo, x.shape[2:]) if nx else None
        gw = Conv2dWeight.apply(x, g, ctx.geo, w.shape[2:]) if nw else None
        # two contiguous-axis sums run on the Numba reduction loops; (0, 2, 3) at once
        # is not one block of axes and fell back to NumPy (W4 conv2: 53 -> 11 µs)
        gb = g.sum(axis=(2, 3)).sum(axis=0) if nb else None
        return gx, gw, gb, None


class ConvTranspose2d(Function):
    """y = T(g, w), the adjoint of conv2d in its input (a transposed convolution, col2im).

    ∂/∂g = conv2d(h, w);  ∂/∂w = conv2d_weight(h, g)  (h: the incoming gradient).
    """

    @staticmethod
    def forward(ctx, g, w, geo, out_hw):
        stride, pads, dilation, groups = geo
        ctx.geo = geo
        ctx.label = _label(w.shape[2:], stride, pads, dilation, groups)
        ctx.save_for_backward(g, w)
        return K.conv_transpose2d(g, w, stride, pads, dilation, groups, tuple(out_hw))

    @staticmethod
    def backward(ctx, h):
        g, w = ctx.saved_tensors
        ng, nw = ctx.needs_input_grad[:2]
        dg = Conv2d.apply(h, w, None, ctx.geo) if ng else None
        dw = Conv2dWeight.apply(h, g, ctx.geo, w.shape[2:]) if nw else None
        return dg, dw, None, None


class Conv2dWeight(Function):
    """y = W(x, g), the adjoint of conv2d in its weight (groups=1 written out):

    y[o, c, a, b] = Σ_{n,i,j} g[n, o, i, j] · xp[n, c, i·s + a·d, j·s + b·d]

    ∂/∂x = conv_transpose(g, h);  ∂/∂g = conv2d(x, h).
    """

    @staticmethod
    def forward(ctx, x, g, geo, kernel_hw):
        stride, pads, dilation, groups = geo
        ctx.geo = geo
        ctx.label = _label(tuple(kernel_hw), stride, pads, dilation, groups)
        ctx.save_for_backward(x, g)
        return K.conv2d_weight(x, g, stride, pads, dilation, groups, tuple(kernel_hw))

    @staticmethod
    def backward(ctx, h):
        x, g = ctx.saved_tensors
        nx, ng = ctx.needs_input_grad[:2]
        dx = ConvTranspose2d.apply(g, h, ctx.geo, x.shape[2:]) if nx else None
        dg = Conv2d.apply(x, h, None, ctx.geo) if ng else None
        return dx, dg, None, None


class Unfold(Function):
    """im2col: every window of x as a column, (N, C, H, W) -> (N, C·kh·kw, L).  ∂/∂x = fold(g)."""

    @staticmethod
    def forward(ctx, x, kernel_hw, geo):
        stride, pads, dilation, _ = geo
        ctx.kernel_hw, ctx.geo = kernel_hw, geo
        ctx.label = _label(kernel_hw, stride, pads, dilation)
        cols = K.im2col(x, kernel_hw, stride, pads, dilation)  # (N, C, Ho, Wo, kh, kw)
        n, c, ho, wo, kh, kw = cols.shape
        return np.ascontiguousarray(cols.transpose(0, 1, 4, 5, 2, 3)).reshape(
            n, c * kh * kw, ho * wo)

    @staticmethod
    def backward(ctx, g):
        return Fold.apply(g, ctx.in_shapes[0][2:], ctx.kernel_hw, ctx.geo), None, None


class Fold(Function):
    """col2im: add the columns (N, C·kh·kw, L) back into (N, C, H, W).  ∂/∂cols = unfold(g)."""

    @staticmethod
    def forward(ctx, cols, out_hw, kernel_hw, geo):
        stride, pads, dilation, _ = geo
        ctx.kernel_hw, ctx.geo = kernel_hw, geo
        ctx.label = _label(kernel_hw, stride, pads, dilation)
        (ho, wo), _ = geometry("fold", out_hw, kernel_hw, stride,
                               list(zip(pads[0::2], pads[1::2])), dilation)
        n, ckk, _ = cols.shape
        kh, kw = kernel_hw
        c6 = cols.reshape(n, ckk // (kh * kw), kh, kw, ho, wo).transpose(0, 1, 4, 5, 2, 3)
        return K.col2im(np.ascontiguousarray(c6), tuple(out_hw), stride, pads, dilation)

    @staticmethod
    def backward(ctx, g):
        return Unfold.apply(g, ctx.kernel_hw, ctx.geo), None, None, None


# ------------------------------------------------------------- public API
def _resolve_padding(op, padding, kernel_hw, stride, dilation, n):
    """Per-axis (before, after) padding from an int, a sequence, "valid" or "same"."""
    if isinstance(padding, str):
        if padding == "valid":
            return [(0, 0)] * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' needs stride 1 (as PyTorch), got "
                                 f"stride {stride}; give the padding as integers instead")
            total = [d * (k - 1) for k, d in zip(kernel_hw, dilation)]
            return [(t // 2, t - t // 2) for t in total]  # the odd one after, as PyTorch
        raise ValueError(f"{op}: padding must be an integer, a sequence of {n} integers, "
                         f"'valid' or 'same', got {padding!r}")
    return [(p, p) for p in pair(op, "padding", padding, n, minimum=0)]


def _conv_setup(op, x, weight, stride, padding, dilation, groups, spatial):
    check_nchw(op, x, spatial)
    if weight.ndim != spatial + 2:
        raise ValueError(f"{op}: weight must be {spatial + 2}-D (out_channels, in_channels/"
                         f"groups, {'kh, kw' if spatial == 2 else 'k'}), got shape "
                         f"{tuple(weight.shape)}")
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    cout, cg = weight.shape[:2]
    c = x.shape[1]
    if c != cg * groups:
        raise ValueError(
            f"{op}: the input has {c} channels (axis 1 of shape {tuple(x.shape)}) but the "
            f"weight {tuple(weight.shape)} expects {cg * groups} (in_channels/groups={cg} × "
            f"groups={groups}){_layout_hint(x, cg * groups)}"
        )
    if cout % groups:
        raise ValueError(f"{op}: out_channels={cout} is not divisible by groups={groups}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; "
                        "cast one with astype")
    stride = pair(op, "stride", stride, spatial)
    dilation = pair(op, "dilation", dilation, spatial)
    return stride, dilation


def _check_bias(op, bias, channels):
    if bias is None:
        return None
    bias = as_tensor(bias)
    if bias.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},) (one per output channel), "
                         f"got {tuple(bias.shape)}")
    return bias


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D cross-correlation of NCHW ``x`` with ``weight`` (Cout, C/groups, kh, kw), as PyTorch:

    y[n, o, i, j] = b[o] + Σ_{c,a,b} w[o, c, a, b] · xp[n, g(o)·Cg + c, i·s + a·d, j·s + b·d]

    with xp the zero-padded input and Cg = C/groups input channels per group;
    ``padding`` is an int, a pair, ``"valid"`` (0) or ``"same"`` (output size =
    input size, stride 1).  Output size per axis: ⌊(H + 2p − d(k − 1) − 1) / s⌋ + 1.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    stride, dilation = _conv_setup("conv2d", x, weight, stride, padding, dilation, groups, 2)
    kernel_hw = tuple(weight.shape[2:])
    pad = _resolve_padding("conv2d", padding, kernel_hw, stride, dilation, 2)
    _, pads = geometry("conv2d", x.shape[2:], kernel_hw, stride, pad, dilation)
    bias = _check_bias("conv2d", bias, weight.shape[0])
    return Conv2d.apply(x, weight, bias, (stride, pads, dilation, int(groups)))


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D cross-correlation of (N, C, L) ``x`` with ``weight`` (Cout, C/groups, k), as PyTorch:
    y[n, o, i] = bias[o] + Σ_{c, a} weight[o, c, a] · xp[n, c, i·s + a·d]  (conv2d with H = 1)."""
    x, weight = as_tensor(x), as_tensor(weight)
    stride, dilation = _conv_setup("conv1d", x, weight, stride, padding, dilation, groups, 1)
    pad = _resolve_padding("conv1d", padding, tuple(weight.shape[2:]), stride, dilation, 1)
    (n, c, length), (cout, cg, k) = x.shape, weight.shape
    _, pads = geometry("conv1d", (1, length), (1, k), (1,) + stride, [(0, 0)] + pad,
                       (1,) + dilation)
    bias = _check_bias("conv1d", bias, cout)
    y = Conv2d.apply(reshape(x, (n, c, 1, length)), reshape(weight, (cout, cg, 1, k)), bias,
                     ((1,) + stride, pads, (1,) + dilation, int(groups)))
    return reshape(y, (n, cout, y.shape[3]))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """Transposed 2-D convolution, as PyTorch: the gradient of conv2d with respect to its input.

    x (N, Cin, H, W), weight (Cin, Cout/groups, kh, kw); output size per axis
    (H − 1)·s − 2p + d(k − 1) + output_padding + 1.  Every input pixel adds
    ``x[n, c, i, j] · weight[c]`` into the output window at (i·s − p, j·s − p).
    """
    op = "conv_transpose2d"
    x, weight = as_tensor(x), as_tensor(weight)
    check_nchw(op, x)
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (in_channels, out_channels/groups, kh, kw), "
                         f"got shape {tuple(weight.shape)}")
    if not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"{op}: the input has {x.shape[1]} channels (axis 1 of shape "
                         f"{tuple(x.shape)}) but the weight {tuple(weight.shape)} expects "
                         f"{weight.shape[0]}{_layout_hint(x, weight.shape[0])}")
    if weight.shape[0] % groups:
        raise ValueError(f"{op}: in_channels={weight.shape[0]} is not divisible by "
                         f"groups={groups}")
    stride = pair(op, "stride", stride)
    dilation = pair(op, "dilation", dilation)
    padding = pair(op, "padding", padding, minimum=0)
    output_padding = pair(op, "output_padding", output_padding, minimum=0)
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= max(s, d):
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than "
                             f"stride {stride} or dilation {dilation}")
    kernel_hw = tuple(weight.shape[2:])
    out_hw = tuple((h - 1) * s - 2 * p + d * (k - 1) + o + 1 for h, s, p, d, k, o in
                   zip(x.shape[2:], stride, padding, dilation, kernel_hw, output_padding))
    if min(out_hw) < 1:
        raise ValueError(f"{op}: the output size {out_hw} is not positive for input "
                         f"{tuple(x.shape)}, kernel {kernel_hw}, padding {padding}")
    pads = tuple(v for p, o in zip(padding, output_padding) for v in (p, p - o))
    bias = _check_bias(op, bias, weight.shape[1] * groups)
    y = ConvTranspose2d.apply(x, weight, (stride, pads, dilation, int(groups)), out_hw)
    return y if bias is None else y + reshape(bias, (1, -1, 1, 1))


def unfold(x, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col, as ``torch.nn.functional.unfold``: (N, C, H, W) -> (N, C·kh·kw, L), one column
    per window (L = Ho·Wo windows, rows ordered c, then kernel row, then kernel column)."""
    x = as_tensor(x)
    check_nchw("unfold", x)
    kernel_hw = pair("unfold", "kernel_size", kernel_size)
    stride = pair("unfold", "stride", stride)
    dilation = pair("unfold", "dilation", dilation)
    pad = [(p, p) for p in pair("unfold", "padding", padding, minimum=0)]
    _, pads = geometry("unfold", x.shape[2:], kernel_hw, stride, pad, dilation)
    return Unfold.apply(x, kernel_hw, (stride, pads, dilation, 1))


def fold(cols, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, as ``torch.nn.functional.fold``: add the columns (N, C·kh·kw, L) into
    (N, C, *output_size); overlapping windows sum.  The adjoint of :func:`unfold`."""
    cols = as_tensor(cols)
    kernel_hw = pair("fold", "kernel_size", kernel_size)
    out_hw = pair("fold", "output_size", output_size)
    stride = pair("fold", "stride", stride)
    dilation = pair("fold", "dilation", dilation)
    pad = [(p, p) for p in pair("fold", "padding", padding, minimum=0)]
    (ho, wo), pads = geometry("fold", out_hw, kernel_hw, stride, pad, dilation)
    kk = kernel_hw[0] * kernel_hw[1]
    if cols.ndim != 3 or cols.shape[1] % kk or cols.shape[2] != ho * wo:
        raise ValueError(f"fold: expected columns (N, C·{kk}, {ho * wo}) for output_size "
                         f"{out_hw} and kernel {kernel_hw}, got shape {tuple(cols.shape)}")
    return Fold.apply(cols, out_hw, kernel_hw, (stride, pads, dilation, 1))
