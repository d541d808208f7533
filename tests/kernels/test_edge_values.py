"""The two backends agree on edge values: NaN, ±inf, ±0, denormals, ±1e4, 88/89.

A hypothesis property test draws arrays made of those values (and ordinary
ones) for every kernel of the Numba table and compares the result with the
NumPy twin: the same NaN positions, the same infinities, and finite values
within the error bound docs/kernels.md promises for that kernel (a few ulp of
the result for elementwise kernels; for sums the summation bound on Σ|x|,
because the Numba loops accumulate in float64 while NumPy sums float32 pairwise).
Signed zeros may differ (``nsz``), exactly as documented.

The regressions of issue 12 (reassoc folding ``(x − max) − lse``, arcp turning
``x / s`` into an overflowing ``x · (1/s)``) have their own exact tests below.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphgrad.kernels import reference as ref

numba_backend = pytest.importorskip("graphgrad.kernels.numba_backend")
_jit = pytest.importorskip("graphgrad.kernels.numba_backend._jit")
NB = numba_backend.KERNELS
_elementwise = importlib.import_module("graphgrad.kernels.numba_backend.elementwise")
_reductions = importlib.import_module("graphgrad.kernels.numba_backend.reductions")

EDGE = {
    np.float32: [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e-45, 1.2e-38,
                 1e4, -1e4, 88.0, 89.0, -88.0, -89.0, 1.0, -1.0, 0.5, -2.5, 3.0],
    np.float64: [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-310, -1e-310, 5e-324, 1e-40,
                 1e4, -1e4, 88.0, 89.0, 709.0, 710.0, -745.0, 1.0, -1.0, 0.5, -2.5],
}
ORDINARY = st.floats(-5, 5, width=32)


def _values(dtype, finite=False):
    edge = [v for v in EDGE[dtype] if not finite or math.isfinite(v)]
    return st.one_of(st.sampled_from(edge), ORDINARY)


def _array(draw, shape, dtype, finite=False):
    flat = draw(st.lists(_values(dtype, finite), min_size=int(np.prod(shape)),
                         max_size=int(np.prod(shape))))
    return np.array(flat, dtype=dtype).reshape(shape)


def agree(got, want, tol, name):
    """NaN where want is NaN, the same infinities, finite values within `tol` (elementwise)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, name
    assert got.dtype == want.dtype, name
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_g, nan_w), (name, got, want)
    inf_w = np.isinf(want)
    assert np.array_equal(got[inf_w], want[inf_w]), (name, got, want)
    assert not np.isinf(got[~inf_w & ~nan_w]).any(), (name, got, want)
    fin = np.isfinite(want)
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), want.shape)
    err = np.abs(got[fin].astype(np.float64) - want[fin].astype(np.float64))
    bad = err > tol[fin]
    assert not bad.any(), (name, got, want, err[bad], tol[fin][bad])


def _ulp(x, dtype, n):
    """n ulp of x (an elementwise bound), at least n of the smallest denormal."""
    with np.errstate(all="ignore"):
        x = np.abs(np.asarray(x, dtype=np.float64))
        x = np.where(np.isfinite(x), x, 0.0)
    return n * np.maximum(np.spacing(x.astype(dtype)).astype(np.float64),
                          float(np.finfo(dtype).smallest_subnormal))


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def _scale(*terms):
    """Σ|terms| as float64 with inf where a term overflows (then only NaN/inf are compared)."""
    with np.errstate(all="ignore"):
        return sum(np.abs(np.asarray(t, dtype=np.float64)) for t in terms)


# ----------------------------------------------------------- case builders
# Each builder draws the kernel's arguments and returns (args, tol_fn), where
# tol_fn(want, args, dtype) is the error bound the docs promise for it.
ULP_APPROX = {np.float32: 8, np.float64: 4}  # approx.py's bounds (≤ 4 ulp) with slack


def _rows(draw, dtype, finite=False, min_cols=1):
    n = draw(st.integers(1, 3))
    m = draw(st.integers(min_cols, 6))
    return _array(draw, (n, m), dtype, finite)


def unary(name):
    def build(draw, dtype):
        x = _rows(draw, dtype)
        args = (x, draw(st.sampled_from([0.01, 0.3]))) if name == "leaky_relu" else (x,)
        return args, lambda want, a, dt: _ulp(want, dt, ULP_APPROX[dt])
    return build


def gelu_case(draw, dtype):
    """x·(1 + erf(x/√2))/2: for x < 0 the sum 1 + erf cancels, so the two backends'
    roundings (each within a few ulp of erf) show up relative to |x|, not to the result."""
    x = _rows(draw, dtype)

    def tol(want, a, dt):
        return 8 * _eps(dt) * _scale(a[0]) + _ulp(want, dt, ULP_APPROX[dt])
    return (x,), tol


def fused(name):
    def build(draw, dtype):
        g = _rows(draw, dtype)
        s = _array(draw, g.shape, dtype)
        if name == "leaky_relu_backward":
            return (g, s, 0.2), lambda want, a, dt: _ulp(want, dt, 1)
        if name == "relu_backward":
            return (g, s), lambda want, a, dt: _ulp(want, dt, 1)

        def tol(want, a, dt):  # FMA contraction may round 1 − s² once instead of twice
            g_, s_ = a
            bound = _scale(g_) * (1 + _scale(s_) + _scale(s_) ** 2)
            return 4 * _eps(dt) * bound + _ulp(want, dt, 2)
        return (g, s), tol
    return build


def binary(name):
    def build(draw, dtype):
        a = _rows(draw, dtype, min_cols=2)
        layout = draw(st.sampled_from(["row", "col"]))
        b = _array(draw, (a.shape[1],) if layout == "row" else (a.shape[0], 1), dtype)
        if draw(st.booleans()):
            a, b = b, a

        def tol(want, args, dt):
            if name in ("maximum", "minimum"):
                return 0.0
            return _ulp(want, dt, 1)
        return (a, b), tol
    return build


def build_where(draw, dtype):
    a = _rows(draw, dtype)
    cond = np.array(draw(st.lists(st.booleans(), min_size=a.size, max_size=a.size)),
                    dtype=bool).reshape(a.shape)
    b = draw(st.one_of(st.sampled_from([0.0, -1.5, 1e4]),
                       st.just(_array(draw, a.shape, dtype))))
    if draw(st.booleans()):
        a, b = b, a
    return (cond, a, b), lambda want, args, dt: 0.0


def build_clip(draw, dtype):
    x = _rows(draw, dtype)
    lo = draw(st.sampled_from([None, -1.0, -1e4, 0.0, -np.inf]))
    hi = draw(st.sampled_from([None, 1.0, 1e4, 88.0, np.inf]))
    if lo is None and hi is None:
        hi = 1.0
    return (x, lo, hi), lambda want, args, dt: 0.0


def reduction(kind):
    def build(draw, dtype):
        x = _array(draw, draw(st.sampled_from([(4,), (2, 5), (3, 2, 4)])), dtype)
        axis = draw(st.sampled_from([None, 0, -1] + ([(0, 1)] if x.ndim > 1 else [])))
        keepdims = draw(st.booleans())
        if kind == "var":
            ddof = draw(st.sampled_from([0, 1]))
            axes = list(np.atleast_1d(axis)) if axis is not None else list(range(x.ndim))
            n = int(np.prod(np.array(x.shape)[axes]))
            if n - ddof <= 0:
                ddof = 0
            args = (x, axis, ddof, keepdims)
        else:
            args = (x, axis, keepdims)

        def tol(want, a, dt):
            n = a[0].size // max(np.asarray(want).size, 1)
            k = math.log2(n + 1) + 4
            if kind == "var":
                # two passes: the error of NumPy's float32 mean enters squared terms
                sq = ref.mean(a[0].astype(np.float64) ** 2, a[1], keepdims)
                return (n + 4) * 4 * _eps(dt) * _scale(sq) + _ulp(want, dt, 2)
            if kind == "logsumexp":
                return k * 4 * _eps(dt) * (1 + _scale(want)) + _ulp(want, dt, 4)
            s = ref.sum(np.abs(a[0].astype(np.float64)), a[1], keepdims)
            if kind == "mean":
                s = s / n
            return k * _eps(dt) * s + _ulp(want, dt, 2)
        return args, tol
    return build


def build_sum_to_shape(draw, dtype):
    g = _array(draw, (3, 4), dtype)
    shape = draw(st.sampled_from([(4,), (1, 4), (3, 1)]))
    s = ref.sum_to_shape(np.abs(g.astype(np.float64)), shape)
    return (g, shape), lambda want, a, dt: 4 * _eps(dt) * s + _ulp(want, dt, 2)


def softmax_family(name):
    def build(draw, dtype):
        x = _rows(draw, dtype)
        axis = draw(st.sampled_from([-1, 0, 1]))
        k = 16 * _eps(dtype)
        if name == "softmax":
            return (x, axis), lambda want, a, dt: k * _scale(want) + _ulp(want, dt, 8)
        if name == "log_softmax":
            return (x, axis), lambda want, a, dt: k * (1 + _scale(want))
        g = _array(draw, x.shape, dtype)
        if name == "softmax_backward":
            y = ref.softmax(x, axis)

            def tol(want, a, dt):
                dot = ref.sum(_scale(a[0] * a[1]), a[2], True)
                return k * _scale(a[1]) * (_scale(a[0]) + dot) + _ulp(want, dt, 2)
            return (g, y, axis), tol
        y = ref.log_softmax(x, axis)

        def tol(want, a, dt):
            with np.errstate(all="ignore"):
                return k * (_scale(a[0]) + np.exp(a[1].astype(np.float64))
                            * ref.sum(_scale(a[0]), a[2], True)) + _ulp(want, dt, 2)
        return (g, y, axis), tol
    return build


def build_ce(draw, dtype):
    z = _rows(draw, dtype)
    labels = np.array(draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z),
                                    max_size=len(z))))
    k = 16 * _eps(dtype)
    return (z, labels), lambda want, a, dt: k * (1 + _scale(want)) + _ulp(want, dt, 8)


def build_ce_backward(draw, dtype):
    z = _rows(draw, dtype, finite=True)
    labels = np.array(draw(st.lists(st.integers(0, z.shape[1] - 1), min_size=len(z),
                                    max_size=len(z))))
    probs = ref.softmax(z)
    g = _array(draw, (len(z),), dtype)
    return (g, probs, labels), lambda want, a, dt: (4 * _eps(dt) * _scale(a[0])[:, None]
                                                     * (1 + _scale(a[1])) + _ulp(want, dt, 1))


def build_index_add(draw, dtype):
    g = _array(draw, (draw(st.integers(1, 5)), 3), dtype)
    idx = np.array(draw(st.lists(st.integers(0, 3), min_size=len(g), max_size=len(g))))
    return ((4, 3), idx, g), lambda want, a, dt: (
        4 * _eps(dt) * ref.index_add((4, 3), idx, _scale(g)) + _ulp(want, dt, 1))


def update(name):
    def build(draw, dtype):
        p = _rows(draw, dtype, finite=True)
        g = _array(draw, p.shape, dtype)
        s1 = np.abs(_array(draw, p.shape, dtype, finite=True))
        s2 = np.abs(_array(draw, p.shape, dtype, finite=True))
        if name == "sgd_update":
            args = (p, g, s1, 0.1, draw(st.sampled_from([0.0, 0.9])), draw(st.booleans()),
                    draw(st.sampled_from([0.0, 1e-3])), draw(st.sampled_from([0.0, 1e-4])))
        elif name == "adam_update":
            args = (p, g, s1, s2, 1e-3, 0.9, 0.999, 1e-8, draw(st.integers(1, 3)),
                    draw(st.sampled_from([0.0, 1e-2])))
        elif name == "adagrad_update":
            args = (p, g, s1, 0.1, 1e-10, draw(st.sampled_from([0.0, 1e-2])))
        else:
            args = (p, g, s1, 0.1, 0.9, 1e-8, draw(st.sampled_from([0.0, 1e-2])))

        def tol(want, a, dt):
            return 64 * _eps(dt) * (_scale(want) + _scale(p) + 1e-3 * _scale(g)) + _ulp(want, dt, 4)
        return args, tol
    return build



# -- convolution and pooling: a 5×5 image, 3×3 windows, padding 1 -------------------
_GEOM = dict(stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1))
_K = (3, 3)


def _abs64(args):
    return tuple(np.abs(a).astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                 else a for a in args)


def contraction(name, make):
    """A sum of products: the two backends add in different orders, so finite values agree
    within (terms + 2)·eps of the same kernel run on |inputs| in float64."""
    def build(draw, dtype):
        args, terms = make(draw, dtype)

        def tol(want, a, dt):
            with np.errstate(all="ignore"):
                bound = ref.KERNELS[name](*_abs64(a))
            bound = bound[0] if isinstance(bound, tuple) else bound
            return (terms + 2) * _eps(dt) * np.where(np.isfinite(bound), bound, 0.0) \
                + _ulp(want, dt, 1)
        return args, tol
    return build


def _img(draw, dtype, c=2):
    return _array(draw, (1, c, 5, 5), dtype)


def _conv2d(draw, dtype):
    x, w, b = _img(draw, dtype), _array(draw, (2, 2, 3, 3), dtype), _array(draw, (2,), dtype)
    return (x, w, b, _GEOM["stride"], _GEOM["pads"], _GEOM["dilation"], 1), 2 * 9 + 1


def _conv_transpose2d(draw, dtype):
    g, w = _img(draw, dtype), _array(draw, (2, 2, 3, 3), dtype)
    return (g, w, _GEOM["stride"], _GEOM["pads"], _GEOM["dilation"], 1, (5, 5)), 2 * 9


def _conv2d_weight(draw, dtype):
    x, g = _img(draw, dtype), _img(draw, dtype)
    return (x, g, _GEOM["stride"], _GEOM["pads"], _GEOM["dilation"], 1, _K), 25


def _col2im(draw, dtype):
    cols = _array(draw, (1, 2, 5, 5, 3, 3), dtype)
    return (cols, (5, 5), _GEOM["stride"], _GEOM["pads"], _GEOM["dilation"]), 9


_DIVISOR = np.full((5, 5), 9.0)


def _avg_pool2d(draw, dtype):
    return (_img(draw, dtype), _K, _GEOM["stride"], _GEOM["pads"], _DIVISOR.astype(dtype)), 10


def _avg_pool2d_backward(draw, dtype):
    return (_img(draw, dtype), (5, 5), _K, _GEOM["stride"], _GEOM["pads"],
            _DIVISOR.astype(dtype)), 10


def _pool_scatter(draw, dtype):
    idx = np.random.default_rng(draw(st.integers(0, 99))).integers(0, 25, (1, 2, 5, 5))
    return (_img(draw, dtype), idx, (5, 5)), 9


def exact(make):
    """Copies and comparisons (no rounding): the backends agree exactly, NaN for NaN."""
    def build(draw, dtype):
        return make(draw, dtype), lambda want, a, dt: 0.0
    return build


def _pool_gather(draw, dtype):
    idx = np.random.default_rng(draw(st.integers(0, 99))).integers(0, 25, (1, 2, 5, 5))
    return (_img(draw, dtype), idx)


CONV_CASES = {
    "conv2d": contraction("conv2d", _conv2d),
    "conv_transpose2d": contraction("conv_transpose2d", _conv_transpose2d),
    "conv2d_weight": contraction("conv2d_weight", _conv2d_weight),
    "col2im": contraction("col2im", _col2im),
    "avg_pool2d": contraction("avg_pool2d", _avg_pool2d),
    "avg_pool2d_backward": contraction("avg_pool2d_backward", _avg_pool2d_backward),
    "pool_scatter": contraction("pool_scatter", _pool_scatter),
    "im2col": exact(lambda draw, dt: (_img(draw, dt), _K, _GEOM["stride"], _GEOM["pads"],
                                      _GEOM["dilation"])),
    "max_pool2d": exact(lambda draw, dt: (_img(draw, dt), _K, _GEOM["stride"], _GEOM["pads"],
                                          _GEOM["dilation"])),
    "pool_gather": exact(_pool_gather),
}

def _gate_tol(want, a, dt):
    """Gates and states lie in [−1, 1] (σ, tanh and products of them) or carry the input
    scale; the two σ forms (the twin's stable one, the loop's 1/(1 + e^−x)) and the float32
    approximations agree to a few eps of that scale."""
    scale = max((float(np.max(np.abs(np.where(np.isfinite(x), x, 0)))) for x in a
                 if isinstance(x, np.ndarray)), default=1.0)
    return 16 * _eps(dt) * max(1.0, scale) ** 2 + _ulp(want, dt, ULP_APPROX[dt])


def recurrent(name):
    """One LSTM/GRU step (H = 3, batch 2) on edge-valued gates and states; the backward
    cases take the activations the twin's forward made from such gates."""
    def build(draw, dtype):
        h = 3
        if name in ("lstm_cell", "gru_cell"):
            gates = _array(draw, (2, (4 if name == "lstm_cell" else 3) * h), dtype)
            state = _array(draw, (2, h), dtype)
            if name == "lstm_cell":
                return (gates, state), _gate_tol
            return (gates, _array(draw, gates.shape, dtype), state), _gate_tol
        dh = _array(draw, (2, h), dtype)
        state = _array(draw, (2, h), dtype, finite=True)
        if name == "lstm_cell_backward":
            _, c_new, act = ref.KERNELS["lstm_cell"](_array(draw, (2, 4 * h), dtype), state)
            return (dh, _array(draw, (2, h), dtype), act, state, c_new), _gate_tol
        gh = _array(draw, (2, 3 * h), dtype, finite=True)
        _, act = ref.KERNELS["gru_cell"](_array(draw, (2, 3 * h), dtype), gh, state)
        return (dh, act, gh, state), _gate_tol
    return build


def attention(name):
    """Fused attention (batch 2, L ≤ 3, S ≤ 4) on finite values clipped to ±2, a bool mask
    (rows may be fully blocked) or none, causal or not; the backward takes the twin's forward.
    Both backends score in float64; float32 differs by approx.exp (a few ulp of each
    probability), bounded through the sums: 16 eps · 2·scale·S·E·M⁴ with M = 2."""
    def build(draw, dtype):
        n_l, n_s, n_e = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
        q, k, v = (np.clip(_array(draw, (2, a, n_e), dtype, finite=True), -2, 2)
                   for a in (n_l, n_s, n_s))
        mask = (np.array(draw(st.lists(st.booleans(), min_size=n_l * n_s,
                                       max_size=n_l * n_s))).reshape(n_l, n_s)
                if draw(st.booleans()) else None)
        causal = mask is None and draw(st.booleans())
        bound = 16 * _eps(dtype) * 2 * 0.5 * n_s * n_e * 2.0 ** 4

        def tol(want, a, dt):
            return bound
        if name == "attention":
            return (q, k, v, mask, causal, 0.5, 0.0, None), tol
        out, lse, seed = ref.KERNELS["attention"](q, k, v, mask, causal, 0.5, 0.0, None)
        g = np.clip(_array(draw, out.shape, dtype, finite=True), -2, 2)
        return (g, q, k, v, out, lse, seed, mask, causal, 0.5, 0.0), tol
    return build


def norm(name):
    """LayerNorm/RMSNorm over (2 or 3, 1..6) rows of edge values (eps 1e-5); the backward
    cases take the statistics the twin computed from finite inputs.  Both backends
    accumulate in float64, so the bound is a few eps of the scale: r·Σ|g|·max(1, |γ|) for
    the gradients (|x̂| ≤ √D), |x̂|·|γ| + |β| for the output, plus for LayerNorm the
    rounding of μ at the inputs' scale (the kernel shifts by x₀), max|x|·(1 + r)·|γ|."""
    def build(draw, dtype):
        x = _rows(draw, dtype, finite=not name.endswith("_backward"))
        w = draw(st.sampled_from([None, "edge"]))
        w = None if w is None else _array(draw, x.shape[1:], dtype)
        if name == "layer_norm":
            b = _array(draw, x.shape[1:], dtype) if draw(st.booleans()) else None

            def tol(want, a, dt):
                # μ is rounded at the scale of the inputs (the kernel sums x − x₀), and
                # that error reaches y through r·γ: a few eps of max|x|·(1 + r)·max(1, |γ|)
                r = _finite_max(ref.KERNELS["layer_norm"](a[0], None, None, 1, 1e-5)[2])
                gamma = max(1.0, _finite_max(a[1]))
                scale = 4 * gamma + _finite_max(a[2]) + _finite_max(a[0]) * (1 + r) * gamma
                return 16 * _eps(dt) * scale + _ulp(want, dt, 2)
            return (x, w, b, 1, 1e-5), tol
        if name == "rms_norm":
            return (x, w, 1, 1e-5), lambda want, a, dt: (
                16 * _eps(dt) * 4 * max(1.0, _finite_max(a[1])) + _ulp(want, dt, 2))
        g = _array(draw, x.shape, dtype)
        if name == "layer_norm_backward":
            _, mean, rstd = ref.KERNELS["layer_norm"](x, None, None, 1, 1e-5)
            args = (g, x, mean, rstd, w)
        else:
            _, rstd = ref.KERNELS["rms_norm"](x, None, 1, 1e-5)
            args = (g, x, rstd, w)

        def tol(want, a, dt):
            r = _finite_max(a[-2])
            scale = 8 * (r + 1) * float(_scale(a[0]).sum()) * max(1.0, _finite_max(a[-1]))
            return 16 * _eps(dt) * scale + _ulp(want, dt, 2)
        return args, tol
    return build


def batch_norm_case(name):
    """BatchNorm over edge values, as (N, C) or as one channel (N, 1, S) of up to 18 values,
    with the batch's statistics or given (running) ones (eps 1e-5).  The bounds are
    LayerNorm's, per channel of M values: μ rounds at the inputs' scale (the kernel sums
    x − x₀) and σ² to (1 + 8M)·eps of itself (the shifted sums cancel: d² ≤ 4M·σ²), which
    reaches y as a relative error; the gradients a few eps of r·Σ|g|·max(1, |γ|)·(1 + √M)
    (Σg·x̂ rounds with r applied after the sum)."""
    def build(draw, dtype):
        x = _rows(draw, dtype, finite=not name.endswith("_backward"))
        if draw(st.booleans()):
            x = np.ascontiguousarray(x[:, None, :])  # one channel over N·S values
        c = x.shape[1]
        m = x.size // c
        w = _array(draw, (c,), dtype) if draw(st.booleans()) else None
        given = draw(st.booleans())
        stats = ((_array(draw, (c,), np.float64, True),
                  np.abs(_array(draw, (c,), np.float64, True))) if given else (None, None))
        if name == "batch_norm":
            b = _array(draw, (c,), dtype) if draw(st.booleans()) else None

            def tol(want, a, dt):
                _, mean, var = ref.KERNELS["batch_norm"](a[0], None, None, a[3], a[4], 1e-5)
                r = _finite_max(1 / np.sqrt(var + 1e-5))
                gamma = max(1.0, _finite_max(a[1]))
                scale = 4 * gamma + _finite_max(a[2]) + _finite_max(a[0]) * (1 + r) * gamma
                relative = (1 + 8 * m) * _scale(want)  # σ² = Σ(x − x₀)²/M − d², d² ≤ 4M·σ²
                return 16 * _eps(dt) * (scale + relative) + _ulp(want, dt, 2)
            return (x, w, b, *stats, 1e-5), tol
        g = _array(draw, x.shape, dtype)
        _, mean, var = ref.KERNELS["batch_norm"](x, None, None, *stats, 1e-5)

        def tol(want, a, dt):
            r = _finite_max(1 / np.sqrt(a[4] + 1e-5))
            scale = (8 * (r + 1) * float(_scale(a[0]).sum()) * max(1.0, _finite_max(a[2]))
                     * (1 + np.sqrt(m)))
            return 16 * _eps(dt) * scale + _ulp(want, dt, 2)
        return (g, x, w, mean, var, 1e-5, not given), tol
    return build


def _finite_max(a):
    if a is None:
        return 0.0
    a = np.abs(np.asarray(a, dtype=np.float64))
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else 0.0


CASES = {
    "attention": attention("attention"),
    "attention_backward": attention("attention_backward"),
    **{n: norm(n) for n in ("layer_norm", "layer_norm_backward", "rms_norm",
                            "rms_norm_backward")},
    **{n: batch_norm_case(n) for n in ("batch_norm", "batch_norm_backward")},
    **{n: recurrent(n) for n in ("lstm_cell", "lstm_cell_backward", "gru_cell",
                                 "gru_cell_backward")},
    **{n: unary(n) for n in ("sigmoid", "softplus", "relu", "leaky_relu",
                             "erf", "erfc", "silu")},
    "gelu": gelu_case,
    **CONV_CASES,
    **{n: fused(n) for n in ("tanh_backward", "sigmoid_backward", "relu_backward",
                             "leaky_relu_backward")},
    **{n: binary(n) for n in ("add", "sub", "mul", "div", "maximum", "minimum")},
    "where": build_where,
    "clip": build_clip,
    "sum": reduction("sum"),
    "mean": reduction("mean"),
    "var": reduction("var"),
    "logsumexp": reduction("logsumexp"),
    "sum_to_shape": build_sum_to_shape,
    **{n: softmax_family(n) for n in ("softmax", "log_softmax", "softmax_backward",
                                      "log_softmax_backward")},
    "softmax_cross_entropy": build_ce,
    "softmax_cross_entropy_backward": build_ce_backward,
    "index_add": build_index_add,
    **{n: update(n) for n in ("sgd_update", "adam_update", "adagrad_update",
                              "rmsprop_update")},
}


def test_every_numba_kernel_has_an_edge_value_case():
    assert sorted(CASES) == sorted(NB)


def _copy(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]),
       long_row=st.booleans())
def test_backends_agree_on_edge_values(name, data, dtype, long_row):
    with np.errstate(all="ignore"):
        args, tol = CASES[name](data.draw, dtype)
    with pytest.MonkeyPatch.context() as mp, np.errstate(all="ignore"):
        # small arrays, but through the loops: no size threshold, both row-max paths
        mp.setattr(_elementwise, "BROADCAST_MIN_SIZE", 0)
        mp.setattr(_reductions, "LONG_ROW", 1 if long_row else 10**9)
        ref_args, nb_args = _copy(args), _copy(args)
        want = ref.KERNELS[name](*ref_args)
        got = NB[name](*nb_args)
        if name.endswith("_update"):  # in place: compare the parameter and the state
            pairs = [(g, w) for g, w in zip(nb_args, ref_args) if isinstance(g, np.ndarray)]
            pairs = pairs[:1] + pairs[2:]  # the gradient is an input only
        elif isinstance(want, tuple):
            pairs = list(zip(got, want))
        else:
            pairs = [(got, want)]
        for g, w in pairs:
            agree(g, w, tol(w, args, dtype), name)


# ------------------------------------------------ the regressions, exactly
def _log_softmax64(z):
    z = z.astype(np.float64)
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("long_row", [False, True])
def test_log_softmax_and_cross_entropy_keep_precision_at_large_logits(long_row, monkeypatch):
    # issue 12 item 6: reassoc folded (x − max) − lse into x − (max + lse)
    monkeypatch.setattr(_reductions, "LONG_ROW", 1 if long_row else 10**9)
    z = np.array([[1e4, 1e4 - 7]], np.float32)
    exact = _log_softmax64(z)  # float32 inputs are exact; the float64 result is the truth
    eps = _eps(np.float32)
    np.testing.assert_allclose(NB["log_softmax"](z, -1), exact, rtol=0, atol=4 * eps * 7)
    loss, _ = NB["softmax_cross_entropy"](z, np.array([0]))
    assert abs(float(loss[0]) - (-exact[0, 0])) < 1e-7  # was 0.00097656 (true 0.00091147)
    equal = np.full((2, 3), 1e4, np.float32)
    equal[1] = -1e4
    y = NB["log_softmax"](equal, -1)
    np.testing.assert_allclose(y, np.full((2, 3), -math.log(3)), rtol=2 * eps)  # was -1.0986328
    grad = NB["log_softmax_backward"](np.ones_like(y), y, -1)
    np.testing.assert_allclose(grad, 0.0, atol=4 * eps)  # was 2e-5
    lse = NB["logsumexp"](equal, 1, False)
    np.testing.assert_allclose(lse, [1e4 + math.log(3), -1e4 + math.log(3)], rtol=2 * eps)


def test_division_by_denormals_is_a_true_division():
    # issue 12 item 7: arcp turned x / s into x · (1/s), and 1/1e-40 overflows float32
    x = np.full((5000, 2), 1e-40, np.float32)
    s = np.full((5000, 1), 1e-40, np.float32)
    assert x.size >= _elementwise.BROADCAST_MIN_SIZE  # the Numba loop, not the twin
    np.testing.assert_array_equal(NB["div"](x, s), 1.0)
    np.testing.assert_array_equal(NB["div"](np.zeros_like(x), s), 0.0)
    np.testing.assert_array_equal(NB["div"](x.T.copy(), s[:, 0].copy()), 1.0)  # row layout
    for flags in (_jit.FASTMATH, _jit.REDUCTION_FASTMATH):
        assert "arcp" not in flags


def test_reassoc_only_on_pure_accumulation_loops():
    """A loop with reassoc must have the accumulation as its only float operation."""
    allowed = {"total", "dot", "sum_inner", "var_inner"}
    found = set()
    for mod in ("elementwise", "reduce", "softmax", "optim", "scatter", "approx"):
        module = importlib.import_module(f"graphgrad.kernels.numba_backend.loops.{mod}")
        for name, obj in vars(module).items():
            flags = getattr(obj, "targetoptions", {}).get("fastmath")
            if flags is not None and "reassoc" in getattr(flags, "flags", flags):
                found.add(name)
    assert found == allowed


def test_reassociated_sums_are_accurate_on_offset_data():
    # the proof that reassoc is harmless where it is kept: float64 lane sums of
    # float32 data around 1e4 match the exact sum to float32 rounding of the result
    rng = np.random.default_rng(3)
    x = (1e4 + rng.standard_normal((7, 3001))).astype(np.float32)
    exact_sum = np.array([math.fsum(r) for r in x.astype(np.float64)])
    np.testing.assert_allclose(NB["sum"](x, 1, False), exact_sum, rtol=_eps(np.float32))
    mean = exact_sum / x.shape[1]
    exact_var = np.array([math.fsum((r - m) ** 2) for r, m in
                          zip(x.astype(np.float64), mean)]) / x.shape[1]
    np.testing.assert_allclose(NB["var"](x, 1, 0, False), exact_var, rtol=2 * _eps(np.float32))
    np.testing.assert_allclose(NB["mean"](x, 1, False), mean, rtol=_eps(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_max_on_the_bit_patterns(dtype):
    """reduce.nan_max (attention's row max): NaN-propagating, ±0, ±inf, denormals, any
    sign of NaN, against np.max."""
    import numba

    from graphgrad.kernels.numba_backend.loops.reduce import nan_max

    @numba.njit
    def run(row):
        return nan_max(row)

    neg_nan = np.copysign(np.array(np.nan, dtype), -1)
    rows = [np.array(r, dtype) for r in (
        [1.0, -2.0, 3.5], [-3.0, -1.0, -2.0], [-np.inf, -np.inf], [-np.inf, 5.0, np.inf],
        [-0.0, -0.0], [0.0, -0.0, -1.0], [1e-40, -1e-40, 0.0], [-5.0, np.nan, 7.0],
        [-1e4, 1e4, -88.0], list(np.random.default_rng(0).standard_normal(37)))]
    rows.append(np.array([1.0, -1.0], dtype))
    rows[-1][1] = neg_nan
    for row in rows:
        got, want = run(row), np.max(row)
        assert (np.isnan(got) and np.isnan(want)) or got == want, (row, got, want)
