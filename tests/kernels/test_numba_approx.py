"""Error bounds of the vectorisable float32 approximations (graphgrad/kernels/approx.py).

The oracle is NumPy in float64 rounded to float32 (the correctly rounded
result up to a double rounding, which is far below one float32 ulp).  The
bounds asserted here are the ones documented in approx.py and docs/kernels.md.
"""

from __future__ import annotations

import numpy as np
import pytest

numba_backend = pytest.importorskip("graphgrad.kernels.numba_backend")
approx = pytest.importorskip("graphgrad.kernels.numba_backend.loops.approx")
kernel = pytest.importorskip("graphgrad.kernels.numba_backend._jit").kernel


# exp, log and log1p only run inside fused kernels; these loops expose them.
@kernel
def _exp(x, out):
    for i in range(x.size):
        out[i] = approx.exp(x[i])


@kernel
def _log(x, out):
    for i in range(x.size):
        out[i] = approx.log(x[i])


@kernel
def _log1p(x, out):
    for i in range(x.size):
        out[i] = approx.log1p(x[i])


@kernel
def _tanh(x, out):
    for i in range(x.size):
        out[i] = approx.tanh(x[i])


def _loop(fn):
    def run(x):
        out = np.empty_like(x)
        fn(x, out)
        return out
    return run


FUNCTIONS = {"exp": _loop(_exp), "log": _loop(_log), "log1p": _loop(_log1p),
             "tanh": _loop(_tanh),
             "sigmoid": numba_backend.elementwise.sigmoid,
             "softplus": numba_backend.elementwise.softplus}


def ulp_distance(a, b):
    """|a − b| in float32 ulps: the distance of the two values in the ordered bit space.

    ±0 are at distance 0; NaN vs NaN is 0; NaN vs a number is huge.
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    d = np.abs(ia - ib)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    d = np.where(nan_a & nan_b, 0, d)
    return np.where(nan_a ^ nan_b, 1 << 40, d)


def _sweep():
    rng = np.random.default_rng(0)
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, -1e-40,
                1.1754944e-38, 3.4028235e38, -3.4028235e38, 88.72, 88.7228, 88.73,
                -87.33, -103.97, -103.98, -104.0, 0.625, -0.625, 0.6249999, 1.0, -1.0]
    parts = [
        np.linspace(-110, 100, 400_001),  # the whole exp range incl. over/underflow
        np.linspace(-1, 1, 200_001),  # around 0 and the tanh polynomial switch
        rng.standard_normal(100_000) * 4,
        np.geomspace(1e-45, 3e38, 200_000),  # denormals to the largest floats
        -np.geomspace(1e-45, 3e38, 200_000),
        specials,
    ]
    return np.concatenate([np.asarray(p, np.float32) for p in parts])


X = _sweep()


def _sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


# function: (exact float64 function, documented ulp bound)
BOUNDS = {
    "exp": (np.exp, 2),
    "log": (np.log, 2),
    "log1p": (np.log1p, 3),
    "sigmoid": (_sigmoid64, 3),
    "softplus": (lambda x: np.logaddexp(0.0, x), 4),
    "tanh": (np.tanh, 3),
}


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float32_error_bound(name):
    exact, bound = BOUNDS[name]
    with np.errstate(all="ignore"):
        truth = exact(X.astype(np.float64)).astype(np.float32)
    got = FUNCTIONS[name](X)
    assert got.dtype == np.float32
    dist = ulp_distance(got, truth)
    worst = int(np.argmax(dist))
    assert dist.max() <= bound, (
        f"{name}: {dist.max()} ulp at x={X[worst]!r}: got {got[worst]!r}, want {truth[worst]!r}"
    )


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_special_values_match_numpy(name):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 100.0, -200.0],
                 np.float32)
    with np.errstate(all="ignore"):
        want = BOUNDS[name][0](x)
    got = FUNCTIONS[name](x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert ulp_distance(got[finite], want[finite]).max() <= BOUNDS[name][1] + 4


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_float64_uses_exact_maths(name):
    exact, _ = BOUNDS[name]
    x = np.concatenate([np.linspace(-700, 700, 20_001), np.linspace(-2, 2, 4001)])
    x = np.abs(x) + 1e-300 if name in ("log", "log1p") else x
    got = FUNCTIONS[name](x)
    want = exact(x)
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
