"""gradcheck, gradgradcheck, jacobian and custom Functions."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import GradcheckError, gradcheck, gradgradcheck, jacobian


class Cube(gg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class WrongCube(gg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x**2  # wrong on purpose


def test_custom_function_passes_gradcheck_and_gradgradcheck():
    x = gg.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    assert gradcheck(Cube.apply, [x])
    assert gradgradcheck(Cube.apply, [x])


def test_gradcheck_fails_on_a_wrong_function():
    x = gg.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True, name="x")
    with pytest.raises(GradcheckError, match=r"input 0 \('x'\).*analytic .* vs numerical"):
        gradcheck(WrongCube.apply, [x])
    assert gradcheck(WrongCube.apply, [x], raise_exception=False) is False


def test_gradgradcheck_fails_when_backward_is_not_differentiable():
    class Opaque(gg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            # right first derivative, but computed outside the graph
            return gg.tensor(grad.data * 3 * x.data**2)

    x = gg.tensor(np.array([0.5, 2.0]), requires_grad=True)
    assert gradcheck(Opaque.apply, [x])
    with pytest.raises((GradcheckError, RuntimeError)):
        gradgradcheck(Opaque.apply, [x])


def test_jacobian_of_the_lectures_15_10_5_network():
    rng = np.random.default_rng(0)
    W1, W2 = rng.standard_normal((10, 15)), rng.standard_normal((5, 10))
    x = rng.standard_normal(15)
    J1 = jacobian(lambda v: gg.tensor(W1) @ v, x)
    assert J1.shape == (10, 15)
    np.testing.assert_allclose(J1, W1)
    J = jacobian(lambda v: gg.tensor(W2) @ (gg.tensor(W1) @ v).tanh(), x)
    assert J.shape == (5, 15)
    np.testing.assert_allclose(J, W2 @ np.diag(1 - np.tanh(W1 @ x) ** 2) @ W1, rtol=1e-10)


def test_needs_input_grad_and_wrong_gradient_count():
    seen = {}

    class Probe(gg.Function):
        @staticmethod
        def forward(ctx, a, b):
            seen["needs"] = ctx.needs_input_grad
            return a * b

        @staticmethod
        def backward(ctx, grad):
            return grad  # one gradient for two inputs

    a = gg.tensor(np.ones(2), requires_grad=True)
    out = Probe.apply(a, gg.tensor(np.ones(2)))
    assert seen["needs"] == (True, False)
    with pytest.raises(RuntimeError, match="returned 1 gradients but its forward took 2"):
        out.sum().backward()
