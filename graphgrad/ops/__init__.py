"""The built-in differentiable ops, one Function class each, and their functions."""

from graphgrad.ops.activations import leaky_relu, relu, sigmoid, softplus, tanh
from graphgrad.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold
from graphgrad.ops.elementwise import (
    abs,
    add,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sign,
    sqrt,
    sub,
    where,
)
from graphgrad.ops.linalg import matmul
from graphgrad.ops.nn import log_softmax, softmax, softmax_cross_entropy
from graphgrad.ops.pool import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    dropout2d,
    interpolate,
    max_pool1d,
    max_pool2d,
)
from graphgrad.ops.reduce import logsumexp, max, mean, min, sum, var
from graphgrad.ops.shape import (
    astype,
    broadcast_to,
    concatenate,
    getitem,
    reshape,
    stack,
    sum_to_shape,
    swapaxes,
    transpose,
)

__all__ = [
    "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d", "conv2d", "conv_transpose2d",
    "dropout2d", "fold", "interpolate", "max_pool1d", "max_pool2d", "unfold",
    "abs", "add", "astype", "broadcast_to", "clip", "concatenate", "div", "exp",
    "getitem", "leaky_relu", "log", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "pow", "relu", "reshape",
    "sigmoid", "sign", "softmax", "softmax_cross_entropy", "softplus", "sqrt", "stack",
    "sub", "sum", "sum_to_shape", "swapaxes", "tanh", "transpose", "var", "where",
]
