"""The Numba backend: the ``KERNELS`` the kernel table lays over the NumPy reference.

Each wrapper has its reference twin's name and signature.  It validates what
the compiled loop needs (float32/float64, at least 1-D, not empty, a shape
layout a loop handles), makes the arrays C-contiguous, allocates the output
and calls the loop.  Anything else goes to the reference kernel: same answer,
NumPy speed.  Kernels that NumPy already runs at full SIMD speed have no entry
here, so the table keeps the reference for them (``docs/kernels.md``).

The wrappers are plain Python, one module per loop family
(``elementwise``, ``reductions``, ``updates``, ``conv``, ``recurrent``, ``norms``); the
Numba loops live in ``loops/`` and compile lazily on first call (the policy is in ``_jit.py``), so
importing this package does not import numba.
"""

from graphgrad.kernels.numba_backend import (
    attention,
    conv,
    elementwise,
    norms,
    recurrent,
    reductions,
    updates,
)

#: Every Numba kernel by name; the kernel table lays these over the reference twins.
KERNELS = {
    # elementwise
    "sigmoid": elementwise.sigmoid,
    "softplus": elementwise.softplus,
    "relu": elementwise.relu,
    "erf": elementwise.erf,
    "erfc": elementwise.erfc,
    "gelu": elementwise.gelu,
    "silu": elementwise.silu,
    "leaky_relu": elementwise.leaky_relu,
    "tanh_backward": elementwise.tanh_backward,
    "sigmoid_backward": elementwise.sigmoid_backward,
    "relu_backward": elementwise.relu_backward,
    "leaky_relu_backward": elementwise.leaky_relu_backward,
    "add": elementwise.add,
    "sub": elementwise.sub,
    "mul": elementwise.mul,
    "div": elementwise.div,
    "maximum": elementwise.maximum,
    "minimum": elementwise.minimum,
    "where": elementwise.where,
    "clip": elementwise.clip,
    # reductions
    "index_add": reductions.index_add,
    "log_softmax": reductions.log_softmax,
    "log_softmax_backward": reductions.log_softmax_backward,
    "logsumexp": reductions.logsumexp,
    "mean": reductions.mean,
    "softmax": reductions.softmax,
    "softmax_backward": reductions.softmax_backward,
    "softmax_cross_entropy": reductions.softmax_cross_entropy,
    "softmax_cross_entropy_backward": reductions.softmax_cross_entropy_backward,
    "sum": reductions.sum,
    "sum_to_shape": reductions.sum_to_shape,
    "var": reductions.var,
    # convolution and pooling
    "conv2d": conv.conv2d,
    "conv_transpose2d": conv.conv_transpose2d,
    "conv2d_weight": conv.conv2d_weight,
    "im2col": conv.im2col,
    "col2im": conv.col2im,
    "max_pool2d": conv.max_pool2d,
    "pool_scatter": conv.pool_scatter,
    "pool_gather": conv.pool_gather,
    "avg_pool2d": conv.avg_pool2d,
    "avg_pool2d_backward": conv.avg_pool2d_backward,
    # one fused recurrent-cell step
    "lstm_cell": recurrent.lstm_cell,
    "lstm_cell_backward": recurrent.lstm_cell_backward,
    "gru_cell": recurrent.gru_cell,
    "gru_cell_backward": recurrent.gru_cell_backward,
    # fused scaled dot-product attention
    "attention": attention.attention,
    "attention_backward": attention.attention_backward,
    # the fused normalisations (per row; BatchNorm per channel)
    "layer_norm": norms.layer_norm,
    "layer_norm_backward": norms.layer_norm_backward,
    "rms_norm": norms.rms_norm,
    "rms_norm_backward": norms.rms_norm_backward,
    "batch_norm": norms.batch_norm,
    "batch_norm_backward": norms.batch_norm_backward,
    # updates
    "adagrad_update": updates.adagrad_update,
    "adam_update": updates.adam_update,
    "rmsprop_update": updates.rmsprop_update,
    "sgd_update": updates.sgd_update,
}
