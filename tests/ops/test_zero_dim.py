"""Every op on 0-d, 1-element and ordinary shapes: forward, gradcheck, gradgradcheck.

Issue 12: backward crashed on 0-d tensors (relu, tanh), and a saved 0-d output
lost its graph link under create_graph=True, so second derivatives through
exp/sqrt/std of a scalar were silently wrong.  Each case runs on both kernel
backends; forward is compared with NumPy in float64, first derivatives with
finite differences (gradcheck), second derivatives with finite differences of
the create_graph gradient (gradgradcheck).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck

SHAPES = {"0-d": (), "1-element": (1,), "ordinary": (2, 3)}


def _data(shape, seed, low=-1.5, high=1.5, away=0.15):
    """Values in [low, high], at least `away` from 0 (no kinks of relu/abs/sign)."""
    x = np.random.default_rng(seed).uniform(low, high, shape)
    x = np.where(np.abs(x) < away, np.copysign(away, x + 1e-12), x)
    return np.asarray(x, dtype=np.float64)


def _pos(shape, seed):
    return np.asarray(np.random.default_rng(seed).uniform(0.5, 2.0, shape), np.float64)


def _np_softmax(x, axis):
    if x.ndim == 0:
        return np.ones_like(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# name -> (fn on Tensors, NumPy reference on arrays, input makers, second derivative is 0 a.e.)
UNARY = {
    "exp": (gg.exp, np.exp, _data),
    "log": (gg.log, np.log, _pos),
    "sqrt": (gg.sqrt, np.sqrt, _pos),
    "abs": (gg.abs, np.abs, _data),
    "sign": (gg.sign, np.sign, _data),
    "neg": (lambda x: -x, np.negative, _data),
    "tanh": (gg.tanh, np.tanh, _data),
    "sigmoid": (gg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), _data),
    "relu": (gg.relu, lambda x: np.maximum(x, 0), _data),
    "leaky_relu": (lambda x: gg.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), _data),
    "softplus": (gg.softplus, lambda x: np.log1p(np.exp(x)), _data),
    "pow3": (lambda x: x ** 3, lambda x: x ** 3, _data),
    "pow2": (lambda x: x ** 2, lambda x: x ** 2, _data),
    "pow0.5": (lambda x: x ** 0.5, np.sqrt, _pos),
    "pow0": (lambda x: x ** 0, lambda x: x ** 0, _data),
    "rpow": (lambda x: 2.0 ** x, lambda x: 2.0 ** x, _data),
    "clip": (lambda x: gg.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), _data),
    "astype": (lambda x: x.astype("float64"), lambda x: x, _data),
    "reshape": (lambda x: x.reshape(-1), lambda x: x.reshape(-1), _data),
    "transpose": (lambda x: x.T, lambda x: x.T, _data),
    "broadcast_to": (lambda x: gg.broadcast_to(x, (2,) + x.shape),
                     lambda x: np.broadcast_to(x, (2,) + x.shape), _data),
    "stack": (lambda x: gg.stack([x, x * 2]), lambda x: np.stack([x, x * 2]), _data),
    "getitem": (lambda x: x[...], lambda x: x[...], _data),
    "square_sum": (lambda x: (x * x).sum(), lambda x: (x * x).sum(), _data),
    "exp_of_sum": (lambda x: gg.exp((x * x).sum()), lambda x: np.exp((x * x).sum()), _data),
    "sqrt_of_sum": (lambda x: gg.sqrt((x * x).sum() + 0.5),
                    lambda x: np.sqrt((x * x).sum() + 0.5), _data),
    "tanh_of_sum": (lambda x: gg.tanh(x.sum()), lambda x: np.tanh(x.sum()), _data),
    "sigmoid_of_sum": (lambda x: gg.sigmoid(x.sum() * 2), lambda x: 1 / (1 + np.exp(-2 * x.sum())),
                       _data),
    "softmax_of_sum": (lambda x: gg.softmax(x.sum(), axis=0), lambda x: np.ones(()), _data),
}

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
    "pow": (lambda a, b: (a * a + 0.5) ** b, lambda a, b: (a * a + 0.5) ** b),
    "maximum": (gg.maximum, np.maximum),
    "minimum": (gg.minimum, np.minimum),
    "where": (lambda a, b: gg.where(a.data > 0, a, b), lambda a, b: np.where(a > 0, a, b)),
}

AXES = [None, 0, -1]


def _np_std(x, axis, ddof=0):
    return np.std(x, axis=None if x.ndim == 0 else axis, ddof=ddof)


REDUCE = {
    "sum": (lambda x, a: x.sum(axis=a), lambda x, a: np.sum(x, axis=a)),
    "mean": (lambda x, a: x.mean(axis=a), lambda x, a: np.mean(x, axis=None if x.ndim == 0 else a)),
    "max": (lambda x, a: x.max(axis=a), lambda x, a: np.max(x, axis=a)),
    "min": (lambda x, a: x.min(axis=a), lambda x, a: np.min(x, axis=a)),
    "var": (lambda x, a: x.var(axis=a), lambda x, a: np.var(x, axis=None if x.ndim == 0 else a)),
    "std": (lambda x, a: x.std(axis=a), _np_std),
    "std_keepdims": (lambda x, a: x.std(axis=a, keepdims=True),
                     lambda x, a: np.std(x, axis=None if x.ndim == 0 else a,
                                         keepdims=x.ndim > 0)),
    "logsumexp": (lambda x, a: x.logsumexp(axis=a),
                  lambda x, a: np.log(np.sum(np.exp(x), axis=None if x.ndim == 0 else a))),
    "softmax": (lambda x, a: x.softmax(axis=-1 if a is None else a),
                lambda x, a: _np_softmax(x, -1 if a is None else a)),
    "log_softmax": (lambda x, a: x.log_softmax(axis=-1 if a is None else a),
                    lambda x, a: np.log(_np_softmax(x, -1 if a is None else a))),
}

@pytest.fixture(params=["numba", "numpy"])
def backend(request):
    previous = gg.get_backend()
    gg.set_backend(request.param)
    yield request.param
    gg.set_backend(previous)


def _check(fn, reference, arrays):
    xs = [gg.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    with np.errstate(all="ignore"):
        want = np.asarray(reference(*arrays))
    assert out.shape == want.shape
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-12)
    # backward runs on the 0-d result (the bug: a TypeError about memoryview)
    grads = gg.grad(out.sum(), xs)
    assert all(g.shape == x.shape for g, x in zip(grads, xs))
    assert gradcheck(fn, [gg.tensor(a, requires_grad=True) for a in arrays])
    assert gradgradcheck(fn, [gg.tensor(a, requires_grad=True) for a in arrays])


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", UNARY)
def test_unary_ops(name, shape, backend):
    fn, reference, make = UNARY[name]
    _check(fn, reference, [make(shape, 0)])


@pytest.mark.parametrize("shapes", [((), ()), ((1,), ()), ((), (2, 3)), ((2, 3), (3,))],
                         ids=["0d-0d", "1el-0d", "0d-ordinary", "ordinary"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops(name, shapes, backend):
    fn, reference = BINARY[name]
    _check(fn, reference, [_data(shapes[0], 1), _data(shapes[1], 2, away=0.3) * 1.3])


@pytest.mark.parametrize("axis", AXES, ids=["all", "axis0", "axis-1"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", REDUCE)
def test_reductions_and_softmax(name, shape, axis, backend):
    fn, reference = REDUCE[name]
    _check(lambda x: fn(x, axis), lambda x: reference(x, axis), [_data(shape, 3)])


def test_matmul_one_element(backend):
    _check(lambda a, b: a @ b, np.matmul, [_data((1, 1), 4), _data((1, 1), 5)])
    _check(lambda a, b: a @ b, np.matmul, [_data((1,), 4), _data((1,), 5)])


def test_softmax_cross_entropy_one_element(backend):
    labels = np.array([0])
    _check(lambda z: gg.softmax_cross_entropy(z, labels), lambda z: np.zeros(1),
           [_data((1, 1), 6)])


# ------------------------------------------------------- the repros
def test_relu_and_tanh_of_a_0d_tensor(backend):
    x = gg.tensor(np.float64(0.7), requires_grad=True)
    assert gg.grad(gg.relu(x), x)[0].item() == 1.0
    np.testing.assert_allclose(gg.grad(gg.tanh(x), x)[0].item(), 1 - np.tanh(0.7) ** 2)


def test_second_derivative_through_a_saved_0d_output(backend):
    x = gg.tensor([0.3, -1.2, 0.5], dtype="float64", requires_grad=True)
    (g,) = gg.grad(gg.exp((x * x).sum()), x, create_graph=True)
    (h,) = gg.grad(g.sum(), x)
    xv = x.data
    s = np.exp((xv * xv).sum())
    # ∂/∂x_j Σ_i 2 x_i e^s = 2 e^s + 2 x_j e^s · 2 Σ_i x_i
    np.testing.assert_allclose(h.data, 2 * s + 4 * xv * s * xv.sum(), rtol=1e-12)
    np.testing.assert_allclose(h.data, [9.0134, 23.2450, 7.1158], atol=1e-4)
    x = gg.tensor(np.float64(0.4), requires_grad=True)
    (g,) = gg.grad(gg.exp(x) + x ** 3, x, create_graph=True)
    (h,) = gg.grad(g, x)
    np.testing.assert_allclose(h.item(), np.exp(0.4) + 6 * 0.4, rtol=1e-12)  # 3.8918


def test_std_hessian_vector_product(backend):
    xv = np.array([0.3, -1.2, 0.5, 2.0])
    x = gg.tensor(xv, requires_grad=True)
    v = np.array([1.0, -2.0, 0.5, 0.25])
    (g,) = gg.grad(x.std(), x, create_graph=True)
    (hv,) = gg.grad((g * gg.tensor(v)).sum(), x)
    n, c = len(xv), xv - xv.mean()
    s = np.sqrt((c * c).mean())
    # H = (I − 11ᵀ/n)/(n s) − c cᵀ/(n² s³)
    hess = (np.eye(n) - 1 / n) / (n * s) - np.outer(c, c) / (n * n * s ** 3)
    np.testing.assert_allclose(hv.data, hess @ v, rtol=1e-10)


@pytest.mark.parametrize("ddof", [0, 1])
def test_std_gradient_is_zero_where_std_is_zero(backend, ddof):
    # issue 12 item 3: one element on the reduced axis (or all equal) gave nan
    x = gg.tensor(np.array([[1.5], [-2.0]]), requires_grad=True)
    if ddof == 0:
        (g,) = gg.grad(x.std(axis=1).sum(), x)
        np.testing.assert_array_equal(g.data, 0.0)
    same = gg.tensor(np.full((2, 3), 0.25), requires_grad=True)
    (g,) = gg.grad(same.std(axis=1, ddof=ddof).sum(), same)
    np.testing.assert_array_equal(g.data, 0.0)  # PyTorch: 0 where std is 0
    scalar = gg.tensor(np.float64(3.0), requires_grad=True)
    assert gg.grad(scalar.std(), scalar)[0].item() == 0.0


@pytest.mark.parametrize("base", [0.0, np.float64(0.0)])
def test_gradient_of_x_to_the_zero_is_zero_at_zero(backend, base):
    # issue 12 item 4: 0 · 0^(−1) = 0 · inf = nan; d/dx x^0 = 0 everywhere
    x = gg.tensor(np.array([0.0, 2.0, -1.0]), requires_grad=True)
    np.testing.assert_array_equal(gg.grad((x ** 0).sum(), x)[0].data, 0.0)
    zero = gg.tensor(np.array([0.0, 0.0]), requires_grad=False)
    np.testing.assert_array_equal(gg.grad((x ** zero[0]).sum(), x)[0].data, 0.0)
    p = gg.tensor(np.array([0.0, 0.0, 0.0]), requires_grad=True)
    gx, gp = gg.grad((x ** p).sum(), [x, p])
    np.testing.assert_array_equal(gx.data, 0.0)  # tensor exponent
    np.testing.assert_allclose(gp.data, [0.0, np.log(2.0), 0.0])  # ln|x| where x > 0
    s = gg.tensor(np.float64(base), requires_grad=True)
    assert gg.grad(s ** 0, s)[0].item() == 0.0
    (g,) = gg.grad(s ** 0, s, create_graph=True)
    assert g.item() == 0.0


# ------------------------------------------------------- empty softmax axes
@pytest.mark.parametrize("fn, match", [
    (lambda x: gg.softmax(x, axis=1), r"softmax: axis 1 of the input \(shape \(2, 0\)\)"),
    (lambda x: gg.log_softmax(x, axis=-1), r"log_softmax: axis 1 .*has length 0"),
    (lambda x: gg.logsumexp(x, axis=1), r"logsumexp: the input \(shape \(2, 0\)\) has no values"),
])
def test_softmax_family_over_an_empty_axis_is_a_graphgrad_error(fn, match, backend):
    with pytest.raises(ValueError, match=match):
        fn(gg.tensor(np.zeros((2, 0))))
    assert gg.softmax(gg.tensor(np.zeros((0, 3))), axis=1).shape == (0, 3)  # empty batch: fine
