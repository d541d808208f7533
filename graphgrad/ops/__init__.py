"""The built-in differentiable ops, one Function class each, and their functions.

Modules by idea: elementwise (arithmetic, exp/log/sqrt, where, clip), math (the
rest of elementwise maths), activations / activations_smooth /
activations_piecewise, reduce, scan, sorting, shape, broadcast, movement,
indexing, linalg (matmul), contraction (einsum and friends), matrix, nn
(softmax family, fused cross-entropy), normalization (fused layer_norm,
rms_norm and batch_norm), conv (convolutions, unfold/fold), pool (pooling, interpolation,
dropout2d).
"""

# ruff: noqa: I001 - one compact import line (or block) per module keeps the list readable
from graphgrad.ops.activations import leaky_relu, relu, sigmoid, tanh
from graphgrad.ops.activations_piecewise import hardsigmoid, hardswish, hardtanh, relu6
from graphgrad.ops.activations_smooth import (
    celu, elu, gelu, logsigmoid, mish, selu, silu, softmin, softplus, softsign, swish,
)
from graphgrad.ops.attention import scaled_dot_product_attention
from graphgrad.ops.broadcast import broadcast_to, sum_to_shape
from graphgrad.ops.contraction import dot, einsum, inner, kron, outer, tensordot
from graphgrad.ops.conv import conv1d, conv2d, conv_transpose2d, fold, unfold
from graphgrad.ops.elementwise import (
    abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow, sign, sqrt, sub, where,
)
from graphgrad.ops.indexing import (
    gather, index_select, masked_fill, masked_select, nonzero, one_hot, put_along_axis,
    scatter, scatter_add, scatter_reduce, take_along_axis,
)
from graphgrad.ops.linalg import matmul
from graphgrad.ops.math import (
    arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, ceil, copysign, cos, cosh,
    erf, erfc, exp2, expm1, floor, fmax, fmin, fmod, isclose, isfinite, isinf, isnan, lerp,
    log1p, log2, log10, logaddexp, logaddexp2, reciprocal, remainder, round, rsqrt, sin,
    sinh, square, tan, trunc,
)
from graphgrad.ops.matrix import cross, diag, diagonal, eye, trace, tril, triu
from graphgrad.ops.movement import (
    array_split, chunk, clone, expand, expand_dims, flatten, flip, hstack, linspace, logspace,
    meshgrid, movedim, moveaxis, pad, permute, repeat, repeat_interleave, roll, split,
    squeeze, tile, unflatten, unsqueeze, vstack,
)
from graphgrad.ops.nn import log_softmax, softmax, softmax_cross_entropy
from graphgrad.ops.normalization import batch_norm, layer_norm, rms_norm
from graphgrad.ops.pool import (
    adaptive_avg_pool2d, avg_pool1d, avg_pool2d, dropout2d, interpolate, max_pool1d, max_pool2d,
)
from graphgrad.ops.recurrent import gru_cell, lstm_cell
from graphgrad.ops.reduce import (
    all, amax, amin, any, argmax, argmin, logsumexp, max, mean, min, norm, prod, std, sum, var,
)
from graphgrad.ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp
from graphgrad.ops.shape import astype, concatenate, getitem, reshape, stack, swapaxes, transpose
from graphgrad.ops.sorting import argsort, sort, topk

from graphgrad.autograd.tensor import bind_op_methods

__all__ = sorted(name for name in dir() if not name.startswith("_") and name not in {
    "activations", "activations_piecewise", "attention", "activations_smooth", "broadcast",
    "contraction",
    "elementwise", "indexing", "linalg", "math", "matrix", "movement", "nn", "reduce", "scan",
    "shape", "sorting", "conv", "pool", "recurrent", "normalization", "bind_op_methods",
})
bind_op_methods(globals())
