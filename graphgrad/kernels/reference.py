"""Pure-NumPy kernels: the reference twin of every kernel, and the "numpy" backend.

Every function takes ndarrays (plus plain Python parameters) and returns a new
ndarray; none of them knows about Tensors or graphs.  The Numba backend must
agree with these functions, and the tests use them as the oracle.
"""

from __future__ import annotations

import builtins

import numpy as np


# ---------------------------------------------------------------- elementwise
def neg(x):
    """-x"""
    return np.negative(x)


def exp(x):
    """e^x"""
    return np.exp(x)


def log(x):
    """ln x"""
    return np.log(x)


def sqrt(x):
    """√x"""
    return np.sqrt(x)


def abs(x):  # noqa: A001 - the kernel's name is the op's name
    """|x|"""
    return np.abs(x)


def sign(x):
    """sign(x) ∈ {-1, 0, 1}"""
    return np.sign(x)


def tanh(x):
    """tanh x"""
    return np.tanh(x)


def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.result_type(x), copy=False)


def relu(x):
    """max(0, x)"""
    return np.maximum(x, 0)


def leaky_relu(x, slope):
    """x if x > 0 else slope·x"""
    return np.where(x > 0, x, x * slope)


def softplus(x):
    """ln(1 + e^x), stable for large |x|."""
    return np.logaddexp(0, x).astype(np.result_type(x), copy=False)


def add(a, b):
    """a + b (broadcasting)"""
    return np.add(a, b)


def sub(a, b):
    """a - b (broadcasting)"""
    return np.subtract(a, b)


def mul(a, b):
    """a · b (broadcasting)"""
    return np.multiply(a, b)


def div(a, b):
    """a / b (broadcasting)"""
    return np.divide(a, b)


def pow(a, b):  # noqa: A001
    """a ** b (broadcasting)"""
    return np.power(a, b)


def pow_scalar(x, p):
    """x ** p for a Python-number exponent (x·x when p == 2)."""
    if p == 2:
        return x * x
    return np.power(x, p)


def pow_scalar_backward(g, x, p):
    """g · p · x^(p−1), the vector-Jacobian product of x ** p."""
    if p == 1:
        return g.copy()
    if p == 0:  # d/dx x^0 = 0, also at x = 0 (where 0 · 0^−1 would be NaN)
        return np.zeros(np.broadcast_shapes(np.shape(g), np.shape(x)),
                        np.result_type(g, x))
    out = g * x if p == 2 else g * np.power(x, p - 1)
    out *= p
    return out


def maximum(a, b):
    """elementwise max(a, b)"""
    return np.maximum(a, b)


def minimum(a, b):
    """elementwise min(a, b)"""
    return np.minimum(a, b)


def where(cond, a, b):
    """cond ? a : b (broadcasting)"""
    return np.where(cond, a, b)


def clip(x, lo, hi):
    """min(max(x, lo), hi); either bound may be None."""
    return np.clip(x, lo, hi)


# ------------------------------------------------------- fused backward kernels
def tanh_backward(g, y):
    """g · (1 − y²), with y = tanh(x)."""
    return g * (1 - y * y)


def sigmoid_backward(g, y):
    """g · y · (1 − y), with y = σ(x)."""
    return g * y * (1 - y)


def relu_backward(g, y):
    """g where y > 0 or y is NaN, else 0, with y = relu(x) (y > 0 exactly where x > 0).

    As PyTorch (0 only where y ≤ 0): at a NaN input the gradient passes, so a
    NaN stays visible in the gradients instead of turning into 0.
    """
    return np.where(y <= 0, 0, g).astype(np.result_type(g, y), copy=False)


def leaky_relu_backward(g, x, slope):
    """g · (1 if x > 0 else slope)."""
    return np.where(x > 0, g, g * slope)


# ----------------------------------------------------------------- reductions
def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Σ over axis"""
    return np.sum(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Σ x / n over axis; float16/float32 sums accumulate in float64 (as the Numba
    kernel does), so a mean of large finite values does not overflow to inf."""
    if x.dtype in (np.float16, np.float32):
        return np.mean(x, axis=axis, keepdims=keepdims, dtype=np.float64).astype(x.dtype)
    return np.mean(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """max over axis"""
    return np.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """min over axis"""
    return np.min(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, ddof=0, keepdims=False):
    """Σ (x − x̄)² / (n − ddof) over axis"""
    return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


def logsumexp(x, axis=None, keepdims=False):
    """ln Σ e^x over axis, shifted by the max so ±1000 does not overflow."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def cast(x, dtype):
    """x converted to dtype (a copy)."""
    return x.astype(dtype)


def contiguous(x):
    """x as a C-contiguous array (a copy when it is a strided view): a reshape that cannot be a
    view."""
    return np.ascontiguousarray(x)


def fill_like_scalar(g, shape, scale=None):
    """`shape` filled with the one value of g (times scale): a full reduction's backward."""
    value = g.reshape(()) if scale is None else g.reshape(()) * scale
    return np.full(shape, value, dtype=value.dtype)


def sum_to_shape(g, shape):
    """Undo broadcasting: sum g over the axes along which `shape` was broadcast."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and g.shape[i + lead] != 1
    )
    out = np.sum(g, axis=axes, keepdims=True)
    return out.reshape(shape)


# -------------------------------------------------------------------- softmax
def softmax(x, axis=-1):
    """e^(x − max) / Σ e^(x − max) along axis."""
    z = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x − logsumexp(x) along axis."""
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softmax_backward(g, y, axis=-1):
    """y · (g − Σ g·y), the vector-Jacobian product of softmax with output y."""
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def log_softmax_backward(g, y, axis=-1):
    """g − e^y · Σ g, the vector-Jacobian product of log_softmax with output y."""
    return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)


def softmax_cross_entropy(logits, labels):
    """Fused log-softmax + NLL over the last axis of (N, C) logits.

    Returns (loss, probs): loss_i = logsumexp(z_i) − z_{i, y_i} and the softmax
    probabilities that the backward pass needs.
    """
    logp = log_softmax(logits, axis=-1)
    # 0 − log p with log p = 0 (a certain class) is +0, as the Numba kernel and PyTorch
    # give; negating the 0 would give −0.0
    loss = 0 - np.take_along_axis(logp, labels[:, None], axis=1)[:, 0]
    return loss, np.exp(logp)


def softmax_cross_entropy_backward(g, probs, labels):
    """∂/∂z of Σ_i g_i · loss_i = g_i · (softmax(z_i) − onehot(y_i))."""
    out = probs.copy()
    out[np.arange(len(labels)), labels] -= 1
    return out * g[:, None]


# ------------------------------------------------------------ linear algebra
def matmul(a, b):
    """a @ b through NumPy's BLAS."""
    return np.matmul(a, b)


def matmul_t_flat(a, b):
    """Σ_r a_rᵀ b_r over every leading axis: a (…, K) and b (…, N) with the same
    leading shape give the (K, N) matrix A2ᵀ·B2, A2 = a.reshape(-1, K),
    B2 = b.reshape(-1, N) — one BLAS GEMM with a long inner dimension.

    The weight gradient of x @ W for an N-D x and a 2-D W (∂W = Σ_batch xᵀ·g),
    without forming one product per batch element and summing them.
    """
    if a.shape[:-1] != b.shape[:-1]:
        raise ValueError(f"matmul_t_flat: the leading axes of {a.shape} and {b.shape} differ")
    return np.matmul(a.reshape(-1, a.shape[-1]).T, b.reshape(-1, b.shape[-1]))


# ----------------------------------------------------------------- indexing
def getitem(x, index):
    """x[index] with NumPy indexing (a view for basic indexing); a 0-d result is an array."""
    out = x[index]
    return np.array(out) if np.ndim(out) == 0 else out


def concatenate(*arrays, axis=0):
    """The arrays joined along an existing axis."""
    return np.concatenate(arrays, axis=axis)


def stack(*arrays, axis=0):
    """The same-shape arrays joined along a new axis."""
    return np.stack(arrays, axis=axis)


def index_add(shape, index, g, dtype=None):
    """zeros(shape) with g scatter-added at `index` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=dtype or g.dtype)
    np.add.at(out, index, g)
    return out


def index_put(shape, index, g, dtype=None):
    """zeros(shape) with g written at a basic (non-repeating) `index`."""
    out = np.zeros(shape, dtype=dtype or g.dtype)
    out[index] = g
    return out



# ------------------------------------------------------------- random draws
def dropout_mask(rng, shape, p, dtype):
    """m / (1 − p) with m_i ~ Bernoulli(1 − p): the inverted-dropout mask, drawn from `rng`.

    Drawn as ``rng.random(shape) >= p``; a kernel (not inline NumPy) so that a
    compiled step draws fresh numbers from the same generator at every replay.
    """
    keep = rng.random(shape) >= p
    return (keep / (1.0 - p)).astype(dtype)


def normal(rng, loc, scale, shape, dtype):
    """Samples of N(loc, scale²) of `shape`, drawn from `rng` (in float64) and cast to dtype."""
    return rng.normal(loc, scale, shape).astype(dtype)


# ------------------------------------------------------ running statistics
def running_stats_update(running_mean, running_var, count, mean, var, momentum, n):
    """Batch norm's running statistics, in place on the three buffers.

    count ← count + 1;  m = momentum, or 1/count when momentum is None;
    r_μ ← (1 − m)·r_μ + m·μ;  r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1)  (unbiased).
    """
    count += 1
    m = 1.0 / float(count) if momentum is None else momentum
    dtype = running_mean.dtype
    running_mean[...] = ((1 - m) * running_mean + m * mean).astype(dtype)
    running_var[...] = ((1 - m) * running_var + m * (var * n / (n - 1))).astype(dtype)


# ------------------------------------------------- optimizer updates (in place)
def sgd_update(param, grad, buf, lr, momentum, nesterov, weight_decay, l1):
    """One SGD step in place on `param` (and the velocity `buf`).

    d = ∇L + λ₂·θ + λ₁·sign(θ)   (weight_decay λ₂, l1 λ₁)
    without momentum:  θ ← θ − η·d
    with momentum γ:   u ← γ·u − η·d;  θ ← θ + u          (the lecture's form)
    nesterov:          u ← γ·u − η·d;  θ ← θ + γ·u − η·d
    `buf` holds u and is ignored when momentum == 0.
    """
    d = grad
    if weight_decay:
        d = d + weight_decay * param
    if l1:
        d = d + l1 * np.sign(param)
    if momentum:
        buf *= momentum
        buf -= lr * d
        if nesterov:
            param += momentum * buf - lr * d
        else:
            param += buf
    else:
        param -= lr * d


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay):
    """One Adam step in place (PyTorch's formulation; `step` counts from 1).

    d = ∇L + λ·θ;  m ← β₁m + (1−β₁)d;  v ← β₂v + (1−β₂)d²
    θ ← θ − η · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
    """
    d = grad + weight_decay * param if weight_decay else grad
    m *= beta1
    m += (1 - beta1) * d
    v *= beta2
    v += (1 - beta2) * d * d
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)


def adagrad_update(param, grad, sum_sq, lr, eps, weight_decay):
    """One Adagrad step in place:  s ← s + d²;  θ ← θ − η·d / (√s + ε),  d = ∇L + λθ."""
    d = grad + weight_decay * param if weight_decay else grad
    sum_sq += d * d
    param -= lr * d / (np.sqrt(sum_sq) + eps)


def rmsprop_update(param, grad, sq_avg, lr, alpha, eps, weight_decay):
    """One RMSprop step in place:  s ← αs + (1−α)d²;  θ ← θ − η·d / (√s + ε),  d = ∇L + λθ."""
    d = grad + weight_decay * param if weight_decay else grad
    sq_avg *= alpha
    sq_avg += (1 - alpha) * d * d
    param -= lr * d / (np.sqrt(sq_avg) + eps)

# ------------------------------------------------ convolution and pooling (NCHW)
# Geometry is normalised by the ops (graphgrad/ops/conv.py): stride (sh, sw),
# pads (top, bottom, left, right), dilation (dh, dw).  The bottom/right pads may
# be negative (the last rows/columns of the input are not reached by any
# window), so that H + top + bottom = (Ho − 1)·sh + dh·(kh − 1) + 1 exactly.
def _pad_crop(x, pads, value=0.0):
    """x (N, C, H, W) padded by pads = (top, bottom, left, right); negative pads crop."""
    pt, pb, pl, pr = pads
    h, w = x.shape[2], x.shape[3]
    x = np.pad(x, ((0, 0), (0, 0), (pt, builtins.max(pb, 0)), (pl, builtins.max(pr, 0))),
               constant_values=value)
    return x[:, :, : pt + h + pb, : pl + w + pr]


def _windows(x, kh, kw, stride, pads, dilation, value=0.0):
    """The (N, C, Ho, Wo, kh, kw) view of every (dilated, strided) window of padded x."""
    (sh, sw), (dh, dw) = stride, dilation
    xp = _pad_crop(x, pads, value)
    v = np.lib.stride_tricks.sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1),
                                                 axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]


def conv2d(x, w, b, stride, pads, dilation, groups):
    """Grouped cross-correlation plus bias b (Cout,) or None; Og = Cout/groups, Cg = C/groups:

    y[n, gOg + o, i, j] = b[gOg + o]
                          + Σ_{c,α,β} w[gOg + o, c, α, β] · xp[n, gCg + c, i·sh + α·dh, j·sw + β·dw]

    x (N, C, H, W), w (Cout, Cg, kh, kw), xp = x zero-padded by pads.
    """
    n, c = x.shape[:2]
    cout, cg, kh, kw = w.shape
    win = _windows(x, kh, kw, stride, pads, dilation)
    ho, wo = win.shape[2:4]
    win = win.reshape(n, groups, cg, ho, wo, kh, kw)
    wg = w.reshape(groups, cout // groups, cg, kh, kw)
    y = np.einsum("ngchwab,gocab->ngohw", win, wg, optimize=True).reshape(n, cout, ho, wo)
    if b is not None:
        y = y + b.reshape(1, cout, 1, 1)
    return np.ascontiguousarray(y, dtype=x.dtype)


def conv_transpose2d(g, w, stride, pads, dilation, groups, out_hw):
    """The adjoint of conv2d in its input: Σ over windows of w·g scattered back (col2im).

    g (N, Cout, Ho, Wo), w (Cout, C/groups, kh, kw) -> (N, C, H, W) with (H, W) = out_hw:
    the x for which ⟨conv2d(x, w), g⟩ = ⟨x, conv_transpose2d(g, w)⟩.
    """
    n, cout, ho, wo = g.shape
    _, cg, kh, kw = w.shape
    cols = np.einsum("ngohw,gocab->ngchwab", g.reshape(n, groups, cout // groups, ho, wo),
                     w.reshape(groups, cout // groups, cg, kh, kw), optimize=True)
    cols = cols.reshape(n, groups * cg, ho, wo, kh, kw)
    return col2im(cols, out_hw, stride, pads, dilation)


def conv2d_weight(x, g, stride, pads, dilation, groups, kernel_hw):
    """The adjoint of conv2d in its weight: ∂⟨conv2d(x, w), g⟩/∂w, shape (Cout, Cg, kh, kw)."""
    n, c = x.shape[:2]
    cout, ho, wo = g.shape[1:]
    kh, kw = kernel_hw
    cg = c // groups
    win = _windows(x, kh, kw, stride, pads, dilation).reshape(n, groups, cg, ho, wo, kh, kw)
    gw = np.einsum("ngchwab,ngohw->gocab", win,
                   g.reshape(n, groups, cout // groups, ho, wo), optimize=True)
    return np.ascontiguousarray(gw.reshape(cout, cg, kh, kw), dtype=x.dtype)


def im2col(x, kernel_hw, stride, pads, dilation):
    """Every window of x, copied: (N, C, Ho, Wo, kh, kw) (torch's unfold is this transposed)."""
    return np.ascontiguousarray(_windows(x, *kernel_hw, stride, pads, dilation))


def col2im(cols, out_hw, stride, pads, dilation):
    """Adjoint of im2col: add every window column (N, C, Ho, Wo, kh, kw) back into (N, C, H, W)."""
    n, c, ho, wo, kh, kw = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = pads
    h, w = out_hw
    buf = np.zeros((n, c, pt + h + builtins.max(pb, 0), pl + w + builtins.max(pr, 0)),
                   dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            buf[:, :, a * dh: a * dh + (ho - 1) * sh + 1: sh,
                b * dw: b * dw + (wo - 1) * sw + 1: sw] += cols[:, :, :, :, a, b]
    return np.ascontiguousarray(buf[:, :, pt: pt + h, pl: pl + w])


def max_pool2d(x, kernel_hw, stride, pads, dilation):
    """(y, idx): y = max over each window (padding is −inf), idx = the flat h·W + w of the
    first maximum in row-major window order, or of the last NaN (as PyTorch)."""
    kh, kw = kernel_hw
    n, c, h, w = x.shape
    # padding never wins: −inf for floats, the dtype's minimum for integers and bool
    lowest = (-np.inf if x.dtype.kind in "fc" else
              (False if x.dtype.kind == "b" else np.iinfo(x.dtype).min))
    win = _windows(x, kh, kw, stride, pads, dilation, value=lowest)
    ho, wo = win.shape[2:4]
    flat = win.reshape(n, c, ho, wo, kh * kw)
    nan = np.isnan(flat)
    last_nan = kh * kw - 1 - nan[..., ::-1].argmax(axis=-1)
    k = np.where(nan.any(axis=-1), last_nan, flat.argmax(axis=-1))
    y = np.take_along_axis(flat, k[..., None], axis=-1)[..., 0]
    a, b = np.divmod(k, kw)
    rows = np.arange(ho)[:, None] * stride[0] - pads[0] + a * dilation[0]
    cols = np.arange(wo)[None, :] * stride[1] - pads[2] + b * dilation[1]
    return np.ascontiguousarray(y, dtype=x.dtype), (rows * w + cols).astype(np.intp)


def pool_scatter(g, idx, in_hw):
    """Adjoint of pool_gather: out (N, C, H, W) with out[n, c, idx[n, c, i, j]] += g[n, c, i, j]."""
    n, c = g.shape[:2]
    h, w = in_hw
    out = np.zeros((n * c, h * w), dtype=g.dtype)
    rows = np.repeat(np.arange(n * c), idx[0, 0].size)
    np.add.at(out, (rows, idx.reshape(-1)), g.reshape(-1))
    return out.reshape(n, c, h, w)


def pool_gather(x, idx):
    """y[n, c, i, j] = x[n, c, idx[n, c, i, j]] (flat index into H·W)."""
    n, c = x.shape[:2]
    y = np.take_along_axis(x.reshape(n, c, -1), idx.reshape(n, c, -1), axis=-1)
    return y.reshape(idx.shape)


def avg_pool2d(x, kernel_hw, stride, pads, divisor):
    """y[n, c, i, j] = Σ window(i, j) / d[i, j]; the op gives d (Ho, Wo) as PyTorch counts it."""
    s = _windows(x, *kernel_hw, stride, pads, (1, 1)).sum(axis=(-2, -1))
    return np.ascontiguousarray(s / divisor, dtype=x.dtype)


def avg_pool2d_backward(g, in_hw, kernel_hw, stride, pads, divisor):
    """Adjoint of avg_pool2d: every window gets g / d added over its cells."""
    kh, kw = kernel_hw
    cols = np.broadcast_to((g / divisor).astype(g.dtype)[..., None, None], g.shape + (kh, kw))
    return col2im(cols, in_hw, stride, pads, (1, 1))


KERNELS = {
    name: fn
    for name, fn in list(globals().items())
    if callable(fn) and not name.startswith("_") and getattr(fn, "__module__", None) == __name__
}

# The twins of the math, activation, scan and indexing ops live next door.
from graphgrad.kernels.reference_math import KERNELS as _MATH_KERNELS  # noqa: E402

KERNELS.update(_MATH_KERNELS)

# ... and those of the fused recurrent cells (LSTM, GRU).
from graphgrad.kernels.reference_recurrent import KERNELS as _RECURRENT_KERNELS  # noqa: E402

KERNELS.update(_RECURRENT_KERNELS)

# ... and those of fused scaled dot-product attention.
from graphgrad.kernels.reference_attention import KERNELS as _ATTENTION_KERNELS  # noqa: E402

KERNELS.update(_ATTENTION_KERNELS)

# ... and those of the fused row normalisations (LayerNorm, RMSNorm).
from graphgrad.kernels.reference_norms import KERNELS as _NORM_KERNELS  # noqa: E402

KERNELS.update(_NORM_KERNELS)
