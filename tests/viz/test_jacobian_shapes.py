"""gg.check.shapes: per-op input, output and Jacobian shapes (graphgrad/shapes.py).

The Jacobian shapes are checked against the Jacobian itself, computed
independently by ``gg.check.jacobian`` (one backward per output element).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphgrad as gg
from graphgrad.autograd import module_scope


def test_lecture_15_10_5_network():
    """a1 = W1 x (15 -> 10), h = tanh(a1), a2 = W2 h (10 -> 5): the dimension analysis."""
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal(15), requires_grad=True, name="x")
    w1 = gg.tensor(rng.standard_normal((10, 15)), requires_grad=True, name="W1")
    w2 = gg.tensor(rng.standard_normal((5, 10)), requires_grad=True, name="W2")
    with module_scope("layer1", "Linear"):
        a1 = w1 @ x
    h = a1.tanh()
    with module_scope("layer2", "Linear"):
        a2 = w2 @ h

    table = gg.check.shapes(a2)
    assert [(r.op, r.module) for r in table] == [
        ("MatMul", "layer1"), ("Tanh", None), ("MatMul", "layer2")]
    first, act, second = table.rows
    assert first.inputs == ((10, 15), (15,)) and first.output == (10,)
    assert first.jacobians == ((0, 0, (10,), (10, 15)), (0, 1, (10,), (15,)))
    assert first.jacobian_matrix_shapes() == ((10, 150), (10, 15))
    assert act.jacobians == ((0, 0, (10,), (10,)),)
    assert second.jacobians == ((0, 0, (5,), (5, 10)), (0, 1, (5,), (10,)))

    # the same shapes from the actual Jacobians
    def jac_shape(fn, t):
        return gg.check.jacobian(fn, t).shape

    assert jac_shape(lambda v: w1 @ v, x) == first.jacobians[1][2] + first.jacobians[1][3]
    assert jac_shape(lambda m: m @ x, w1) == first.jacobians[0][2] + first.jacobians[0][3]
    assert jac_shape(lambda v: w2 @ v, h.detach()) == (5, 10)
    # and ∂a1/∂x is W1 itself
    np.testing.assert_allclose(gg.check.jacobian(lambda v: w1 @ v, x), w1.data)

    text = str(table)
    assert "Jacobian ∂out/∂in" in text
    assert "in0: (10,) × (10, 15) = 10×150" in text
    assert "in1: (5,) × (10,) = 5×10" in text


def test_inputs_without_gradient_have_no_jacobian_and_settings_are_not_inputs():
    x = gg.tensor(np.ones((4, 3)), name="x")  # data: no gradient
    w = gg.tensor(np.ones((3, 2)), requires_grad=True)
    y = (x @ w).softmax(axis=-1)
    mm, sm = gg.check.shapes(y).rows
    assert mm.inputs == ((4, 3), (3, 2)) and mm.jacobians == ((0, 1, (4, 2), (3, 2)),)
    assert sm.op == "Softmax" and sm.inputs == ((4, 2),)


@given(
    st.data(),
    hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
)
def test_broadcast_add_jacobian_shapes_match_the_jacobian(data, shapes):
    (sa, sb), out = shapes.input_shapes, shapes.result_shape
    a = gg.tensor(np.ones(sa), requires_grad=True)
    b = gg.tensor(np.ones(sb), requires_grad=True)
    (row,) = gg.check.shapes(a + b).rows
    assert row.inputs == (sa, sb) and row.output == out
    assert row.jacobians == ((0, 0, out, sa), (0, 1, out, sb))
    assert gg.check.jacobian(lambda t: t + b, a).shape == out + sa
    assert gg.check.jacobian(lambda t: a + t, b).shape == out + sb


def test_rows_follow_the_forward_order_with_stable_ids():
    x = gg.tensor(np.ones(3), requires_grad=True, name="x")
    y = ((x * 2.0).exp() + x).sum()
    table = gg.check.shapes(y)
    assert [r.id for r in table] == ["Mul_0", "Exp_0", "Add_0", "Sum_0"]
    assert table.rows[-1].jacobians == ((0, 0, (), (3,)),)
    assert len(table) == 4


class Split(gg.Function):
    """x (5,) -> (x[:2], x[2:]): an op with two outputs."""

    @staticmethod
    def forward(ctx, x):
        return x[:2].copy(), x[2:].copy()

    @staticmethod
    def backward(ctx, g1, g2):
        return gg.concatenate([g1, g2])


def test_an_op_with_two_outputs_has_one_jacobian_per_output():
    x = gg.tensor(np.arange(5.0), requires_grad=True, name="x")
    a, b = Split.apply(x)
    y = a.sum() * b.sum()
    split = gg.check.shapes(y).rows[0]
    assert split.op == "Split" and split.outputs == ((2,), (3,)) and split.output == (2,)
    assert split.jacobians == ((0, 0, (2,), (5,)), (1, 0, (3,), (5,)))
    assert gg.check.jacobian(lambda t: Split.apply(t)[1], x).shape == (3, 5)
    assert "out1/in0: (3,) × (5,) = 3×5" in str(gg.check.shapes(y))
    assert "∂out1/∂in0: (3,) × (5,)" in gg.to_dot(y, backward=True).source
