"""Elementwise ops: broadcasting (hypothesis), dtypes and special cases.  The per-op
forward/gradcheck/0-d/empty tests run over tests/ops/cases.py in test_cases.py."""

from __future__ import annotations

import numpy as np
import pytest
from cases import BINARY
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck


def _binary_inputs(name, shapes, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shapes[0])
    b = rng.standard_normal(shapes[1])
    if name == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    if name == "pow":
        a = np.abs(a) + 0.5
    if name in ("maximum", "minimum", "fmax"):
        b = b + 0.05  # keep ties (where the derivative jumps) away
    return a, b


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       seed=st.integers(0, 10_000))
def test_binary_broadcast_gradcheck(name, shapes, seed, backend):
    fn, ref = BINARY[name]
    a, b = _binary_inputs(name, shapes.input_shapes, seed)
    out = fn(gg.tensor(a), gg.tensor(b))
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.data, ref(a, b), rtol=1e-12)
    ta, tb = gg.tensor(a, requires_grad=True), gg.tensor(b, requires_grad=True)
    assert gradcheck(fn, [ta, tb])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow"])
def test_binary_double_backward(name, backend):
    fn, _ = BINARY[name]
    a, b = _binary_inputs(name, [(2, 3), (3,)], 3)
    assert gradgradcheck(fn, [gg.tensor(a, requires_grad=True), gg.tensor(b, requires_grad=True)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_float_forward(dtype, backend):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)
    for name, (fn, ref) in BINARY.items():
        if name == "pow":
            a_ = np.abs(a) + 0.5
        else:
            a_ = a
        out = fn(gg.tensor(a_), gg.tensor(b))
        assert out.dtype == dtype, name
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out.data, ref(a_, b), rtol=rtol)


def test_python_scalars_are_weak():
    x = gg.tensor(np.ones(3, dtype=np.float32))
    assert (x * 2.0).dtype == np.float32
    assert (2.0 - x).dtype == np.float32
    assert (x + gg.tensor(np.ones(3))).dtype == np.float64  # a float64 tensor is not weak


def test_pow_tensor_exponent_gradient_closed_form():
    a = gg.tensor(np.array([2.0, 3.0]), requires_grad=True)
    b = gg.tensor(np.array([3.0, 0.5]), requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [3 * 2.0**2, 0.5 * 3.0**-0.5])
    np.testing.assert_allclose(b.grad.data, [8 * np.log(2), np.sqrt(3) * np.log(3)])


def test_maximum_ties_split_gradient():
    a = gg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = gg.tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    gg.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 0.0, 1.0])
    np.testing.assert_allclose(b.grad.data, [0.5, 1.0, 0.0])


@pytest.mark.parametrize("fn", [
    lambda x: gg.maximum(x, 0.5),
    lambda x: gg.maximum(0.5, x),
    lambda x: gg.minimum(x, 0.5),
    lambda x: gg.minimum(0.5, x),
    lambda x: x.maximum(0.5),
], ids=["maximum", "rmaximum", "minimum", "rminimum", "method"])
def test_maximum_minimum_with_a_python_scalar(fn, backend):
    # Regression: backward read `.data` of the saved operands, and a Python
    # scalar has none (AttributeError in backward).
    x = gg.tensor(np.array([0.1, 0.5, 0.9, -0.3]), requires_grad=True)
    assert gradcheck(fn, [x])
    x32 = gg.tensor(np.array([0.1, 0.5, 0.9], np.float32), requires_grad=True)
    fn(x32).sum().backward()
    assert x32.grad.dtype == np.float32


@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=st.integers(0, 1000))
def test_where_broadcast_gradcheck(shapes, seed, backend):
    rng = np.random.default_rng(seed)
    cond = rng.random(shapes.input_shapes[0]) > 0.5
    a = rng.standard_normal(shapes.input_shapes[1])
    b = rng.standard_normal(shapes.input_shapes[2])
    out = gg.where(cond, gg.tensor(a), gg.tensor(b))
    np.testing.assert_array_equal(out.data, np.where(cond, a, b))
    assert gradcheck(lambda x, y: gg.where(cond, x, y),
                     [gg.tensor(a, requires_grad=True), gg.tensor(b, requires_grad=True)])


def test_clip_with_tensor_bounds_gradcheck(backend):
    # Regression: a bound that required grad (with x not requiring it) hit an
    # AttributeError in backward, and a bound never got a gradient.
    x = gg.tensor(np.array([0.1, 0.5, 2.0, 0.7]), requires_grad=True)
    lo = gg.tensor(np.array([0.2, 0.2, 0.2, 0.9]), requires_grad=True)
    hi = gg.tensor(np.array([1.0]), requires_grad=True)
    assert gradcheck(lambda x, lo, hi: gg.clip(x, lo, hi), [x, lo, hi])
    assert gradcheck(lambda x, lo: gg.clip(x, lo, None), [x, lo])
    assert gradcheck(lambda x, hi: x.clip(None, hi), [x, hi])
    constant = gg.tensor(np.array([0.1, 0.5, 2.0, 0.7]))
    gg.clip(constant, lo, hi).sum().backward()
    np.testing.assert_allclose(lo.grad.data, [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(hi.grad.data, [1.0])


def test_sign_has_zero_gradient():
    x = gg.tensor(np.array([-2.0, 3.0]), requires_grad=True)
    (gg.sign(x) * 5).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


def test_comparisons_return_bool_without_grad():
    x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for out in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2):
        assert out.dtype == bool and not out.requires_grad
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])


def test_broadcast_mismatch_names_op_and_shapes():
    a, b = gg.tensor(np.ones((2, 3))), gg.tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"mul: shapes"):
        a * b


def test_softplus_sigmoid_stable_for_large_inputs(backend):
    x = gg.tensor(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(gg.softplus(x).data, [0.0, np.log(2), 1000.0])
    np.testing.assert_allclose(gg.sigmoid(x).data, [0.0, 0.5, 1.0])


@pytest.mark.parametrize("p", [2, 3.0, 0.5, -1.5, 1, 0])
def test_pow_scalar_exponents(p, backend):
    x = np.abs(np.random.default_rng(11).standard_normal((3, 4))) + 0.5
    np.testing.assert_allclose((gg.tensor(x) ** p).data, x**p, rtol=1e-12)
    assert (gg.tensor(x.astype(np.float32)) ** p).dtype == np.float32
    assert gradcheck(lambda t: t**p, [gg.tensor(x, requires_grad=True)])
    assert gradgradcheck(lambda t: t**p, [gg.tensor(x, requires_grad=True)])


def test_where_shape_mismatch_names_op_and_shapes(backend):
    with pytest.raises(ValueError, match=r"where: shapes \(2, 3\) and \(4,\)"):
        gg.where(np.ones((2, 3), bool), gg.tensor(np.ones(4)), 0.0)


def test_module_scope_nests_and_unwinds_on_error():
    from graphgrad.autograd import STATE, module_scope

    x = gg.tensor([1.0], requires_grad=True)
    with module_scope("outer", "Outer"):
        with module_scope("outer.inner", "Inner"):
            y = x * 2
        z = y + 1
    assert (y.grad_fn.module, z.grad_fn.module) == (("outer.inner", "Inner"), ("outer", "Outer"))
    with pytest.raises(RuntimeError, match="inside a module"):
        with module_scope("broken", "Broken"):
            raise RuntimeError("inside a module")
    assert STATE.module_scope == [] and (x * 1).grad_fn.module is None


@pytest.mark.parametrize("op", ["fmax", "fmin"])
def test_nan_extremum_gives_an_infinite_gradient_only_to_the_picked_side(op):
    # torch.fmax/fmin: the side not picked gets 0, even where the incoming gradient is ±inf
    a = gg.tensor(np.array([1.0, 3.0, np.nan, 2.0]), requires_grad=True)
    b = gg.tensor(np.array([2.0, 1.0, 5.0, 2.0]), requires_grad=True)
    getattr(gg, op)(a, b).backward(gg.tensor(np.array([np.inf, -np.inf, np.inf, 1.0])))
    picks_a = np.array([False, True, False]) if op == "fmax" else np.array([True, False, False])
    g = np.array([np.inf, -np.inf, np.inf])
    np.testing.assert_array_equal(a.grad.data[:3], np.where(picks_a, g, 0.0))
    np.testing.assert_array_equal(b.grad.data[:3], np.where(picks_a, 0.0, g))
    assert a.grad.data[3] == b.grad.data[3] == 0.5  # a tie splits evenly
