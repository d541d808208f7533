"""The built-in differentiable ops, one Function class each, and their functions."""

from graphgrad.ops.activations import leaky_relu, relu, sigmoid, softplus, tanh
from graphgrad.ops.broadcast import broadcast_to, sum_to_shape
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
from graphgrad.ops.reduce import logsumexp, max, mean, min, sum, var
from graphgrad.ops.shape import (
    astype,
    concatenate,
    getitem,
    reshape,
    stack,
    swapaxes,
    transpose,
)

__all__ = [
    "abs", "add", "astype", "broadcast_to", "clip", "concatenate", "div", "exp",
    "getitem", "leaky_relu", "log", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "pow", "relu", "reshape",
    "sigmoid", "sign", "softmax", "softmax_cross_entropy", "softplus", "sqrt", "stack",
    "sub", "sum", "sum_to_shape", "swapaxes", "tanh", "transpose", "var", "where",
]
