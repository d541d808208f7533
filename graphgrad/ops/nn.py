"""Neural-network ops: softmax, log_softmax and fused softmax cross-entropy."""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, dim_alias, normalize_dim, recording, wrap
from graphgrad.ops.elementwise import exp


def _axis(op, axis, ndim):
    """The axis as a non-negative int; None for a 0-d tensor (axis 0 or −1, as PyTorch)."""
    if ndim == 0 and axis in (0, -1):
        return None
    return normalize_dim(op, axis, ndim)


def _nonempty_axis(op, x, axis):
    """Refuse a softmax over no values (NumPy would fail inside its max)."""
    if axis is not None and x.shape[axis] == 0:
        raise ValueError(
            f"{op}: axis {axis} of the input (shape {x.shape}) has length 0; a softmax "
            "needs at least one value along its axis"
        )


def _along(kernel, axis, *arrays):
    """kernel(*arrays, axis); 0-d inputs (axis None) run as one row of one element."""
    if axis is not None:
        return kernel(*arrays, axis)
    return kernel(*(np.reshape(a, (1,)) for a in arrays), 0).reshape(())


class Softmax(Function):
    """y = e^x / Σ e^x along axis;  ∂/∂x = y·(g − Σ g·y)."""

    @staticmethod
    def forward(ctx, x, axis):
        axis = _axis("softmax", axis, np.ndim(x))
        _nonempty_axis("softmax", x, axis)
        ctx.axis = axis
        y = _along(K.softmax, axis, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return SoftmaxBackward.apply(g, y, ctx.axis), None


class SoftmaxBackward(Function):
    """y·(g − Σ g·y) as one op.  ∂/∂g = y·(gg − Σ gg·y); ∂/∂y = gg·(g − s) − Σ(gg·y)·g."""

    @staticmethod
    def forward(ctx, g, y, axis):
        ctx.axis = axis
        ctx.save_for_backward(g, y)
        return _along(K.softmax_backward, axis, g, y)

    @staticmethod
    def backward(ctx, gg):
        g, y = ctx.saved_tensors
        axis = ctx.axis
        ng, ny, _ = ctx.needs_input_grad
        dg = SoftmaxBackward.apply(gg, y, axis) if ng else None
        dy = None
        if ny:
            s = (g * y).sum(axis=axis, keepdims=True)
            dy = gg * (g - s) - (gg * y).sum(axis=axis, keepdims=True) * g
        return dg, dy, None


class LogSoftmax(Function):
    """y = x − logsumexp(x) along axis;  ∂/∂x = g − e^y · Σ g."""

    @staticmethod
    def forward(ctx, x, axis):
        axis = _axis("log_softmax", axis, np.ndim(x))
        _nonempty_axis("log_softmax", x, axis)
        ctx.axis = axis
        y = _along(K.log_softmax, axis, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if recording():  # differentiable form for double backward
            return g - exp(y) * g.sum(axis=ctx.axis, keepdims=True), None
        return wrap(_along(K.log_softmax_backward, ctx.axis, g.data, y.data)), None


class SoftmaxCrossEntropy(Function):
    """Per-sample loss_i = logsumexp(z_i) − z_{i,y_i} for (N, C) logits, fused.

    ∂/∂z_i = g_i · (softmax(z_i) − onehot(y_i)).
    """

    @staticmethod
    def forward(ctx, logits, labels):
        loss, probs = K.softmax_cross_entropy(logits, labels)
        ctx.labels = labels
        ctx.save_for_backward(logits, probs)
        return loss

    @staticmethod
    def backward(ctx, g):
        logits, probs = ctx.saved_tensors
        labels = ctx.labels
        if recording():  # differentiable form for double backward
            onehot = np.zeros(logits.shape, dtype=logits.dtype)
            onehot[np.arange(len(labels)), labels] = 1
            return (softmax(logits, axis=-1) - onehot) * g.reshape(-1, 1), None
        grad = K.softmax_cross_entropy_backward(g.data, probs.data, labels)
        return wrap(grad), None


def softmax(x, axis=-1, dim=None) -> Tensor:
    """Softmax along axis (or PyTorch's dim), e^(x − max) / Σ e^(x − max): stable for ±1000."""
    return Softmax.apply(as_tensor(x), dim_alias("softmax", axis, dim, -1))


def log_softmax(x, axis=-1, dim=None) -> Tensor:
    """Log-softmax along axis (or PyTorch's dim), x − logsumexp(x): stable for ±1000."""
    return LogSoftmax.apply(as_tensor(x), dim_alias("log_softmax", axis, dim, -1))


def softmax_cross_entropy(logits, labels) -> Tensor:
    """Per-sample cross-entropy of (N, C) logits against integer labels (N,).

    loss_i = −log softmax(z_i)[y_i], computed by one fused, stable kernel.
    """
    logits = as_tensor(logits)
    labels = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(
            f"softmax_cross_entropy: logits must be (N, C), got shape {logits.shape}"
        )
    if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"softmax_cross_entropy: labels must be integers of shape ({logits.shape[0]},) "
            f"for logits {logits.shape}; got {labels.dtype} labels of shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(
            f"softmax_cross_entropy: labels must lie in [0, {logits.shape[1]}); got "
            f"values from {labels.min()} to {labels.max()}"
        )
    return SoftmaxCrossEntropy.apply(logits, labels.astype(np.intp, copy=False))
