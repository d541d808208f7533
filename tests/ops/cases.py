"""The op case table: one line per op case, read by the generic tests in
tests/ops/test_cases.py (and by the broadcast/axis property tests of
test_elementwise.py and test_reduce_nn.py).

A case names the graphgrad function (on Tensors), an independent reference
(NumPy, SciPy where NumPy has none, or the closed form), the input shapes, a
domain that maps standard-normal samples to valid inputs (away from kinks and
poles), the dtypes, and whether it is twice differentiable.  The generic tests
run each case forward against the reference in float32 and float64,
gradcheck and gradgradcheck in float64, on both backends, and on 0-d and
empty inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import graphgrad as gg

try:  # SciPy is the reference where NumPy has no function (erf); tests skip without it
    from scipy import special
except ImportError:  # pragma: no cover - scipy comes with the examples extra
    special = None

F32, F64 = np.float32, np.float64


@dataclass(frozen=True)
class Case:
    """One op case; see the module docstring."""

    name: str
    fn: Callable
    ref: Callable
    shapes: tuple = ((3, 4),)
    domain: Callable | tuple = None
    twice: bool = True
    dtypes: tuple = (F32, F64)
    zero_d: bool = True
    empty: bool = True
    scipy: bool = False
    rtol32: float = 2e-5
    kwargs: dict = field(default_factory=dict)

    def domains(self):
        d = self.domain or identity
        return d if isinstance(d, tuple) else (d,) * len(self.shapes)


# ----------------------------------------------------------------- domains
def identity(x):
    return x


def positive(x):
    return np.abs(x) + 0.5


def unit(x):  # inside (−1, 1), away from ±1
    return np.tanh(x) * 0.9


def above_one(x):
    return np.abs(x) + 1.2


def nonzero(x):  # away from the kink at 0
    return x + np.sign(x) * 0.1


def away_from(*kinks, gap=0.1):
    """Push values at least `gap` away from each kink."""
    def domain(x):
        x = x * 3
        for k in kinks:
            close = np.abs(x - k) < gap
            x = np.where(close, k + np.where(x >= k, gap, -gap) * 2, x)
        return x
    return domain


def off_grid(x):  # away from integers and half-integers (floor, round, trunc...)
    return np.floor(x * 2) / 2 + 0.2


def pair_of_distinct(x):  # for maximum/minimum-like ops: no ties
    return x + 0.05


# -------------------------------------------------------------- references
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


def _erf(x):
    return special.erf(x)


def _scipy_free_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _softmax(x, axis=-1):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _layer_norm(x, w=None, b=None, axes=(-1,), eps=1e-5):
    c = x - x.mean(axis=axes, keepdims=True)
    y = c / np.sqrt((c * c).mean(axis=axes, keepdims=True) + eps)
    return (y if w is None else y * w) + (0 if b is None else b)


def _rms_norm(x, w=None, axes=(-1,), eps=1e-6):
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if w is None else y * w


def _cumextreme(ufunc):
    return lambda x: ufunc.accumulate(x, axis=1)


def _logcumsumexp(x):
    return np.log(np.cumsum(np.exp(x), axis=1))


def _pad_reflect(x):
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(1, 2)], mode="reflect")


def _scatter_add(x, src):
    out = x.copy()
    np.add.at(out, (_IDX, np.arange(x.shape[1])[None, :].repeat(_IDX.shape[0], 0)), src)
    return out


_IDX = np.array([[0, 2, 1, 0], [2, 2, 0, 1]])        # (2, 4) indices into axis 0 of (3, 4)
_SEL = np.array([2, 0, 0])


# ------------------------------------------------------------------- table
CASES = [
    # elementwise: arithmetic and the original unary ops
    Case("exp", gg.exp, np.exp),
    Case("log", gg.log, np.log, domain=positive),
    Case("sqrt", gg.sqrt, np.sqrt, domain=positive),
    Case("abs", gg.abs, np.abs, domain=nonzero, twice=False),
    Case("neg", lambda t: -t, np.negative),
    Case("tanh", gg.tanh, np.tanh),
    Case("sigmoid", gg.sigmoid, _sigmoid),
    Case("relu", gg.relu, lambda x: np.maximum(x, 0), domain=nonzero, twice=False),
    Case("leaky_relu", lambda t: gg.leaky_relu(t, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
         domain=nonzero, twice=False),
    Case("softplus", gg.softplus, _softplus),
    Case("square_pow", lambda t: t**2, np.square),
    Case("cube_pow", lambda t: t**3.0, lambda x: x**3.0, twice=False),
    Case("rpow", lambda t: 2.0**t, lambda x: 2.0**x),
    Case("clip", lambda t: gg.clip(t, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
         domain=away_from(-0.5, 0.5), twice=False),
    # elementwise maths
    Case("sin", gg.sin, np.sin),
    Case("cos", gg.cos, np.cos),
    Case("tan", gg.tan, np.tan, domain=unit),
    Case("arcsin", gg.arcsin, np.arcsin, domain=unit),
    Case("arccos", gg.arccos, np.arccos, domain=unit),
    Case("arctan", gg.arctan, np.arctan),
    Case("sinh", gg.sinh, np.sinh),
    Case("cosh", gg.cosh, np.cosh),
    Case("arcsinh", gg.arcsinh, np.arcsinh),
    Case("arccosh", gg.arccosh, np.arccosh, domain=above_one),
    Case("arctanh", gg.arctanh, np.arctanh, domain=unit),
    Case("log2", gg.log2, np.log2, domain=positive),
    Case("log10", gg.log10, np.log10, domain=positive),
    Case("log1p", gg.log1p, np.log1p, domain=positive),
    Case("exp2", gg.exp2, np.exp2),
    Case("expm1", gg.expm1, np.expm1),
    Case("rsqrt", gg.rsqrt, lambda x: 1 / np.sqrt(x), domain=positive),
    Case("reciprocal", gg.reciprocal, lambda x: 1 / x, domain=positive),
    Case("square", gg.square, lambda x: x * x),
    Case("erf", gg.erf, _erf, scipy=True),
    Case("erfc", gg.erfc, lambda x: special.erfc(x), scipy=True),
    Case("floor", gg.floor, np.floor, domain=off_grid, twice=False),
    Case("ceil", gg.ceil, np.ceil, domain=off_grid, twice=False),
    Case("round", gg.round, np.round, domain=off_grid, twice=False),
    Case("trunc", gg.trunc, np.trunc, domain=off_grid, twice=False),
    Case("arctan2", gg.arctan2, np.arctan2, shapes=((3, 4), (4,))),
    Case("fmod", gg.fmod, np.fmod, shapes=((3, 4), (4,)), domain=(identity, positive),
         twice=False),
    Case("remainder", lambda a, b: a % b, np.remainder, shapes=((3, 4), (3, 1)),
         domain=(identity, positive), twice=False),
    Case("copysign", gg.copysign, np.copysign, shapes=((3, 4), (4,)),
         domain=(nonzero, nonzero), twice=False),
    Case("logaddexp", gg.logaddexp, np.logaddexp, shapes=((3, 4), (4,))),
    Case("logaddexp2", gg.logaddexp2, np.logaddexp2, shapes=((3, 4), (4,))),
    Case("fmax", gg.fmax, np.fmax, shapes=((3, 4), (4,)), domain=(identity, pair_of_distinct),
         twice=False),
    Case("fmin", gg.fmin, np.fmin, shapes=((3, 4), (4,)), domain=(identity, pair_of_distinct),
         twice=False),
    Case("lerp", gg.lerp, lambda a, b, w: a + w * (b - a), shapes=((3, 4), (4,), (3, 1))),
    # activations
    Case("gelu", gg.gelu, lambda x: x * 0.5 * (1 + special.erf(x / math.sqrt(2))), scipy=True),
    Case("gelu_tanh", lambda t: gg.gelu(t, approximate="tanh"),
         lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    Case("silu", gg.silu, lambda x: x * _sigmoid(x)),
    Case("swish", gg.swish, lambda x: x / (1 + np.exp(-x))),
    Case("elu", lambda t: gg.elu(t, 0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)),
         domain=nonzero, twice=False),
    Case("celu", lambda t: gg.celu(t, 2.0),
         lambda x: np.maximum(0, x) + np.minimum(0, 2.0 * (np.exp(x / 2.0) - 1)),
         domain=nonzero, twice=False),
    Case("selu", gg.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
         domain=nonzero, twice=False),
    Case("mish", gg.mish, lambda x: x * np.tanh(_softplus(x))),
    Case("hardswish", gg.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
         domain=away_from(-3, 3), twice=False),
    Case("hardsigmoid", gg.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
         domain=away_from(-3, 3), twice=False),
    Case("hardtanh", lambda t: gg.hardtanh(t, -0.5, 2.0), lambda x: np.clip(x, -0.5, 2.0),
         domain=away_from(-0.5, 2.0), twice=False),
    Case("relu6", gg.relu6, lambda x: np.clip(x, 0, 6), domain=away_from(0, 6), twice=False),
    Case("logsigmoid", gg.logsigmoid, lambda x: -np.log1p(np.exp(-x))),
    Case("softsign", gg.softsign, lambda x: x / (1 + np.abs(x)), domain=nonzero),
    Case("softplus_beta", lambda t: gg.softplus(t, beta=2.0, threshold=1.0),
         lambda x: np.where(2 * x > 1.0, x, np.log1p(np.exp(2 * x)) / 2),
         domain=away_from(0.5), twice=False),
    Case("softmin", lambda t: gg.softmin(t, dim=1), lambda x: _softmax(-x, 1), zero_d=False),
    # reductions and scans
    Case("prod", lambda t: gg.prod(t, axis=1), lambda x: np.prod(x, axis=1), zero_d=False),
    Case("prod_with_zeros", lambda t: gg.prod(t * gg.tensor([1.0, 0.0, 1.0, 0.0]), axis=1)
         + gg.prod(t * gg.tensor([1.0, 0.0, 1.0, 1.0]), axis=1),
         lambda x: np.prod(x * [1, 0, 1, 0], 1) + np.prod(x * [1, 0, 1, 1], 1), zero_d=False),
    Case("prod_all", gg.prod, np.prod, shapes=((2, 3),)),
    Case("norm2", lambda t: gg.norm(t, axis=1), lambda x: np.linalg.norm(x, axis=1),
         domain=nonzero, zero_d=False),
    Case("norm1", lambda t: gg.norm(t, 1), lambda x: np.abs(x).sum(), domain=nonzero,
         twice=False),
    Case("norm_inf", lambda t: gg.norm(t, np.inf, axis=0), lambda x: np.abs(x).max(axis=0),
         domain=nonzero, twice=False, zero_d=False, empty=False),
    Case("norm_p3", lambda t: gg.norm(t, 3), lambda x: (np.abs(x) ** 3).sum() ** (1 / 3),
         domain=nonzero, empty=False),
    Case("std", lambda t: gg.std(t, axis=1), lambda x: np.std(x, axis=1), zero_d=False,
         empty=False),
    Case("cumsum", lambda t: gg.cumsum(t, 1), lambda x: np.cumsum(x, 1), zero_d=False),
    Case("cumsum_flat", gg.cumsum, lambda x: np.cumsum(x)),
    Case("cumprod", lambda t: gg.cumprod(t, dim=1), lambda x: np.cumprod(x, 1), zero_d=False),
    Case("cumprod_zeros", lambda t: gg.cumprod(t * gg.tensor([1.0, 0.0, 1.0, 0.0]), 1),
         lambda x: np.cumprod(x * [1, 0, 1, 0], 1), zero_d=False),
    Case("cummax", lambda t: gg.cummax(t, 1)[0], _cumextreme(np.maximum), zero_d=False,
         twice=False),
    Case("cummin", lambda t: gg.cummin(t, 1)[0], _cumextreme(np.minimum), zero_d=False,
         twice=False),
    Case("logcumsumexp", lambda t: gg.logcumsumexp(t, 1), _logcumsumexp, zero_d=False),
    Case("sort", lambda t: gg.sort(t, 1)[0], lambda x: np.sort(x, 1), zero_d=False),
    Case("sort_descending", lambda t: gg.sort(t, 0, descending=True)[0],
         lambda x: -np.sort(-x, 0), zero_d=False),
    Case("topk", lambda t: gg.topk(t, 2, axis=1)[0], lambda x: -np.sort(-x, 1)[:, :2],
         zero_d=False, empty=False),
    # linear algebra
    Case("einsum_matmul", lambda a, b: gg.einsum("ij,jk->ik", a, b),
         lambda a, b: a @ b, shapes=((3, 4), (4, 2)), zero_d=False, empty=False),
    Case("einsum_bmm", lambda a, b: gg.einsum("bij,bjk->bik", a, b), np.matmul,
         shapes=((2, 3, 4), (2, 4, 2)), zero_d=False, empty=False),
    Case("einsum_trace_diag", lambda a: gg.einsum("ii->i", a) * gg.einsum("ii", a),
         lambda a: np.diag(a) * np.trace(a), shapes=((3, 3),), zero_d=False, empty=False),
    Case("einsum_ellipsis", lambda a, b: gg.einsum("...ij,...j->...i", a, b),
         lambda a, b: np.einsum("...ij,...j->...i", a, b), shapes=((2, 3, 4), (2, 4)),
         zero_d=False, empty=False),
    Case("einsum_three", lambda a, b, c: gg.einsum("ij,jk,k->i", a, b, c),
         lambda a, b, c: a @ b @ c, shapes=((2, 3), (3, 4), (4,)), zero_d=False, empty=False),
    Case("tensordot", lambda a, b: gg.tensordot(a, b, ([1, 2], [1, 0])),
         lambda a, b: np.tensordot(a, b, ([1, 2], [1, 0])), shapes=((2, 3, 4), (4, 3, 2)),
         zero_d=False, empty=False),
    Case("dot", gg.dot, np.dot, shapes=((2, 3, 4), (4, 2)), zero_d=False, empty=False),
    Case("inner", gg.inner, np.inner, shapes=((2, 4), (3, 4)), zero_d=False, empty=False),
    Case("outer", gg.outer, np.outer, shapes=((3,), (4,)), zero_d=False),
    Case("kron", gg.kron, np.kron, shapes=((2, 3), (2, 2)), zero_d=False, empty=False),
    Case("matmul_nd", gg.matmul, np.matmul, shapes=((2, 1, 3, 4), (3, 4, 2)),
         zero_d=False, empty=False),
    Case("trace", gg.trace, np.trace, shapes=((3, 3),), zero_d=False, empty=False),
    Case("diagonal", lambda t: gg.diagonal(t, 1), lambda x: np.diagonal(x, 1), zero_d=False),
    Case("diag", gg.diag, np.diag, shapes=((4,),), zero_d=False),
    Case("tril", lambda t: gg.tril(t, -1), lambda x: np.tril(x, -1), zero_d=False),
    Case("triu", gg.triu, np.triu, zero_d=False),
    Case("cross", gg.cross, np.cross, shapes=((4, 3), (3,)), zero_d=False, empty=False),
    # shape and movement
    Case("pad_constant", lambda t: gg.pad(t, (1, 2, 0, 1), value=0.5),
         lambda x: np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, 1), (1, 2)], constant_values=0.5),
         zero_d=False),
    Case("pad_reflect", lambda t: gg.pad(t, (1, 2), mode="reflect"), _pad_reflect,
         zero_d=False, empty=False),
    Case("pad_replicate", lambda t: gg.pad(t, (2, 1), mode="replicate"),
         lambda x: np.pad(x, [(0, 0)] * (x.ndim - 1) + [(2, 1)], mode="edge"), zero_d=False,
         empty=False),
    Case("flip", lambda t: gg.flip(t, 1), lambda x: np.flip(x, 1), zero_d=False),
    Case("flip_all", gg.flip, np.flip),
    Case("roll", lambda t: gg.roll(t, 2, 1), lambda x: np.roll(x, 2, 1), zero_d=False),
    Case("tile", lambda t: gg.tile(t, (2, 1)), lambda x: np.tile(x, (2, 1))),
    Case("repeat_interleave", lambda t: gg.repeat_interleave(t, 2, axis=1),
         lambda x: np.repeat(x, 2, 1), zero_d=False),
    Case("split", lambda t: gg.split(t, 3, dim=1)[1], lambda x: np.split(x, [3], 1)[1],
         zero_d=False),
    Case("chunk", lambda t: gg.chunk(t, 2, axis=1)[0], lambda x: x[:, :2], zero_d=False),
    Case("array_split", lambda t: gg.array_split(t, 3, axis=1)[0],
         lambda x: np.array_split(x, 3, 1)[0], zero_d=False),
    Case("hstack", lambda a, b: gg.hstack([a, b]), lambda a, b: np.hstack([a, b]),
         shapes=((3, 4), (3, 2)), zero_d=False),
    Case("vstack", lambda a, b: gg.vstack([a, b]), lambda a, b: np.vstack([a, b]),
         shapes=((4,), (2, 4)), zero_d=False),
    Case("movedim", lambda t: gg.movedim(t, 0, -1), lambda x: np.moveaxis(x, 0, -1),
         shapes=((2, 3, 4),), zero_d=False),
    Case("permute", lambda t: t.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)),
         shapes=((2, 3, 4),), zero_d=False),
    Case("flatten", lambda t: gg.flatten(t, 1), lambda x: x.reshape(x.shape[0], 12),
         shapes=((2, 3, 4),), zero_d=False),
    Case("unflatten", lambda t: gg.unflatten(t, 1, (2, -1)), lambda x: x.reshape(3, 2, 2),
         zero_d=False, empty=False),
    Case("unsqueeze_squeeze", lambda t: gg.squeeze(gg.unsqueeze(t, 0) * 2, 0),
         lambda x: x * 2),
    Case("expand", lambda t: gg.expand(t, 2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
         shapes=((3, 1),), zero_d=False, empty=False),
    Case("clone", gg.clone, np.copy),
    Case("meshgrid", lambda a, b: gg.meshgrid(a, b)[0] * gg.meshgrid(a, b, indexing="xy")[1].T,
         lambda a, b: np.meshgrid(a, b, indexing="ij")[0] * np.meshgrid(a, b)[1].T,
         shapes=((3,), (4,)), zero_d=False),
    # indexing
    Case("gather", lambda t: gg.gather(t, 0, _IDX), lambda x: np.take_along_axis(x, _IDX, 0),
         zero_d=False, empty=False),
    Case("take_along_axis", lambda t: gg.take_along_axis(t, _IDX.T[:3], 1),
         lambda x: np.take_along_axis(x, _IDX.T[:3], 1), zero_d=False, empty=False),
    Case("scatter_add", lambda t, s: gg.scatter_add(t, 0, _IDX, s), _scatter_add,
         shapes=((3, 4), (2, 4)), zero_d=False, empty=False),
    Case("index_select", lambda t: gg.index_select(t, 0, _SEL), lambda x: x[_SEL],
         zero_d=False, empty=False),
    Case("masked_fill", lambda t: gg.masked_fill(t, t.data > 0.5, -1.0),
         lambda x: np.where(x > 0.5, -1.0, x), domain=away_from(0.5)),
    Case("masked_select", lambda t: gg.masked_select(t, t.data > 0), lambda x: x[x > 0],
         domain=nonzero),
    # fused row normalisations
    Case("layer_norm", lambda t, w, b: gg.layer_norm(t, 4, w, b), _layer_norm,
         shapes=((3, 4), (4,), (4,)), zero_d=False),
    Case("layer_norm_2d_no_affine", lambda t: gg.layer_norm(t, (3, 4), eps=0.1),
         lambda x: _layer_norm(x, axes=(1, 2), eps=0.1), shapes=((2, 3, 4),), zero_d=False),
    Case("rms_norm", lambda t, w: gg.rms_norm(t, (2, 4), w, eps=1e-6),
         lambda x, w: _rms_norm(x, w, axes=(1, 2)), shapes=((3, 2, 4), (2, 4)), zero_d=False),
    Case("rms_norm_no_weight", lambda t: gg.rms_norm(t, 4, eps=1e-6), _rms_norm,
         zero_d=False),
]

BY_NAME = {c.name: c for c in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"

# Binary ops with NumPy broadcasting (hypothesis draws the shapes).
BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
    "maximum": (gg.maximum, np.maximum),
    "minimum": (gg.minimum, np.minimum),
    "arctan2": (gg.arctan2, np.arctan2),
    "logaddexp": (gg.logaddexp, np.logaddexp),
    "copysign": (gg.copysign, np.copysign),
    "fmax": (gg.fmax, np.fmax),
}

# Reductions over axis=None | int | tuple with keepdims (hypothesis draws both).
REDUCTIONS = {
    "sum": (gg.sum, np.sum),
    "mean": (gg.mean, np.mean),
    "max": (gg.max, np.max),
    "min": (gg.min, np.min),
    "var": (gg.var, np.var),
    "logsumexp": (gg.logsumexp, _scipy_free_logsumexp),
    "prod": (gg.prod, np.prod),
}
