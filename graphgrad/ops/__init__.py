"""The built-in differentiable ops, one Function class each, and their functions."""

from .activations import leaky_relu, relu, sigmoid, softplus, tanh
from .elementwise import (
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
from .linalg import matmul
from .nn import log_softmax, softmax, softmax_cross_entropy
from .reduce import logsumexp, max, mean, min, sum, var
from .shape import (
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
    "abs", "add", "astype", "broadcast_to", "clip", "concatenate", "div", "exp",
    "getitem", "leaky_relu", "log", "log_softmax", "logsumexp", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mul", "neg", "pow", "relu", "reshape",
    "sigmoid", "sign", "softmax", "softmax_cross_entropy", "softplus", "sqrt", "stack",
    "sub", "sum", "sum_to_shape", "swapaxes", "tanh", "transpose", "var", "where",
]
