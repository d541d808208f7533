"""The backward engine: accumulation, graph freeing, versions, grad modes, deep graphs."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import graphgrad as gg


def leaf(x, dtype=np.float64):
    return gg.tensor(np.asarray(x, dtype=dtype), requires_grad=True)


def test_diamond_reuse_accumulates():
    x = leaf([1.0, 2.0])
    a = x * 3
    y = (a * a + a).sum()  # d/dx = (2a + 1)·3
    y.backward()
    np.testing.assert_allclose(x.grad.data, (2 * 3 * np.array([1.0, 2.0]) + 1) * 3)


def test_leaf_grad_accumulates_until_zero_grad():
    x = leaf([1.0])
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0])
    x.zero_grad()
    assert x.grad is None


def test_two_leaves_never_share_a_grad_array():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.data, y.grad.data)


def test_second_backward_through_freed_graph_says_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp()).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp([1.0, 2.0]))


def test_version_counter_detects_in_place_change():
    x = gg.tensor(np.array([1.0, 2.0]))
    w = leaf([3.0, 4.0])
    y = (x * w).sum()  # Mul saves x
    x.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Mul: a tensor it saved for backward was modified"):
        y.backward()


def test_version_counter_on_saved_output():
    x = leaf([0.5])
    y = x.exp()
    z = y.sum()  # Sum saves nothing; Exp saved its output y
    with gg.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="Exp: a tensor it saved"):
        z.backward()


@pytest.mark.parametrize("view", [
    lambda a: a.reshape(3),
    lambda a: a[:2],
    lambda a: a.T,
    lambda a: a.detach(),
], ids=["reshape", "slice", "transpose", "detach"])
def test_in_place_change_through_a_view_is_caught(view):
    # Regression: a view had a version counter of its own, so changing the data
    # through it left the base's saved value stale and backward silently wrong.
    w = leaf([3.0, 4.0, 5.0])
    a = gg.tensor(np.array([1.0, 2.0, 3.0]))
    v = view(a)
    y = (a * w).sum()  # Mul saves a
    v.add_(1.0)
    with pytest.raises(RuntimeError, match=r"Mul: a tensor it saved for backward was modified"):
        y.backward()


def test_in_place_change_of_the_base_invalidates_a_saved_view():
    w = leaf([3.0, 4.0, 5.0])
    h = w * 1.0
    row = h[1:]  # a recorded view of h
    y = (row * row).sum()  # Mul saves the view
    with gg.no_grad():
        h.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"Mul: a tensor it saved for backward was modified"):
        y.backward()


def test_views_that_stay_unchanged_backpropagate_normally():
    w = leaf([3.0, 4.0, 5.0])
    a = gg.tensor(np.array([1.0, 2.0, 3.0]))
    (a.reshape(3) * w).sum().backward()
    np.testing.assert_allclose(w.grad.data, [1.0, 2.0, 3.0])
    assert (w * 2).reshape(3)._version is not w._version  # a fresh result has its own


def test_in_place_on_requires_grad_tensor_refused_outside_no_grad():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="add_: a leaf tensor that requires grad"):
        x.add_(1)
    with gg.no_grad():
        x.add_(1)
    np.testing.assert_allclose(x.data, [2.0])


def test_no_grad_records_nothing():
    x = leaf([1.0])
    with gg.no_grad():
        y = x * 2
    assert y.grad_fn is None and not y.requires_grad
    with gg.no_grad():
        with gg.enable_grad():
            z = x * 2
    assert z.grad_fn is not None


def test_no_grad_as_decorator_and_thread_local():
    @gg.no_grad()
    def f(t):
        return t * 2

    x = leaf([1.0])
    assert f(x).grad_fn is None
    seen = []
    with gg.no_grad():
        th = threading.Thread(target=lambda: seen.append(gg.is_grad_enabled()))
        th.start()
        th.join()
    assert seen == [True]


def test_detach_cuts_graph_and_shares_data():
    x = leaf([1.0, 2.0])
    d = (x * 2).detach()
    assert d.grad_fn is None and not d.requires_grad
    y = x * 2
    assert np.shares_memory(y.detach().data, y.data)


def test_non_scalar_backward_needs_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"only for a scalar output.*shape \(2,\)"):
        (x * 2).backward()
    (x * 2).backward(grad=np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.data, [2.0, 20.0])


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        gg.tensor([1.0]).sum().backward()


def test_requires_grad_on_integer_tensor_is_an_error():
    with pytest.raises(TypeError, match="floating-point"):
        gg.tensor([1, 2, 3], requires_grad=True)


def test_grad_does_not_touch_dot_grad():
    x = leaf([1.0, 2.0])
    (g,) = gg.grad((x**3).sum(), x)
    np.testing.assert_allclose(g.data, 3 * np.array([1.0, 4.0]))
    assert x.grad is None


def test_grad_of_intermediate_and_unused():
    x = leaf([1.0, 2.0])
    h = x * 2
    y = (h**2).sum()
    (gh,) = gg.grad(y, h, retain_graph=True)
    np.testing.assert_allclose(gh.data, 2 * h.data)
    other = leaf([1.0])
    with pytest.raises(RuntimeError, match="not used"):
        gg.grad(y, [x, other], retain_graph=True)
    gx, go = gg.grad(y, [x, other], allow_unused=True)
    assert go is None
    np.testing.assert_allclose(gx.data, 8 * x.data)


def test_grad_of_an_intermediate_does_not_run_or_free_its_creator():
    # Regression: gg.grad(y, h) also ran h's own creator (wasted work) and freed
    # its saved values, so a later gradient through h -> x failed.
    x = leaf([1.0, 2.0, 3.0])
    h = x * x
    (gh,) = gg.grad((h * h).sum(), h)
    np.testing.assert_allclose(gh.data, 2 * h.data)
    gx, gh = gg.grad(h.exp().sum(), [x, h])  # h's creator Mul still has its values
    np.testing.assert_allclose(gx.data, np.exp(h.data) * 2 * x.data)
    np.testing.assert_allclose(gh.data, np.exp(h.data))


def test_hessian_vector_product_with_create_graph():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    A = a @ a.T
    x = leaf(rng.standard_normal(3))
    v = rng.standard_normal(3)
    f = 0.5 * (x @ gg.tensor(A) @ x) + (x**3).sum()
    (g,) = gg.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.data, A @ x.data + 3 * x.data**2)
    (hv,) = gg.grad((g * gg.tensor(v)).sum(), x)
    np.testing.assert_allclose(hv.data, A @ v + 6 * x.data * v)


def test_create_graph_backward_makes_differentiable_grad():
    x = leaf([2.0])
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = gg.grad(x.grad.sum(), x)
    np.testing.assert_allclose(g2.data, [12.0])


def test_deep_chain_of_100k_ops():
    x = leaf([1.0], dtype=np.float32)
    y = x
    for _ in range(100_000):
        y = y + 1e-3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0])
    del y
    gc.collect()


def test_deep_chain_can_be_dropped_without_backward():
    x = leaf([1.0], dtype=np.float32)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    del y  # deallocating a 10^5-deep graph must not overflow the C stack
    gc.collect()


def test_saved_arrays_released_after_backward():
    x = leaf(np.ones(5))
    big = gg.tensor(np.random.default_rng(1).standard_normal(5))
    h = big.exp()  # not requiring grad: a constant for the graph
    y = (x * h).sum()  # Mul saves h (a constant array) for x's gradient
    ref = weakref.ref(h.data)
    del h
    gc.collect()
    assert ref() is not None  # kept alive by the graph
    y.backward()
    gc.collect()
    assert ref() is None  # freed after backward


def test_topological_order_is_deterministic():
    from graphgrad.autograd import topological_order

    def build():
        x = leaf([1.0, 2.0])
        a = x.exp()
        b = x.tanh()
        return ((a * b) + a).sum()

    names1 = [n.name for n in topological_order([build().grad_fn])]
    names2 = [n.name for n in topological_order([build().grad_fn])]
    assert names1 == names2 and names1[0] == "Sum"


def test_repr_shows_shape_dtype_grad_fn():
    x = gg.tensor([[1.0, 2.0]], requires_grad=True, name="x")
    r = repr(x * 2)
    assert "shape=(1, 2)" in r and "float32" in r and "grad_fn=<Mul>" in r
    assert "name='x'" in repr(x)


def test_tensor_defaults_and_dtypes():
    assert gg.tensor([1.0, 2.0]).dtype == np.float32
    assert gg.tensor(np.array([1.0])).dtype == np.float64
    assert gg.tensor([1, 2]).dtype.kind == "i"
    assert gg.tensor([1.0], dtype="float64").dtype == np.float64
    x = gg.tensor([[1.0, 2.0]])
    assert (x.shape, x.ndim, x.numel(), len(x)) == ((1, 2), 2, 2, 1)
    assert gg.tensor([3.5]).item() == 3.5
    np.testing.assert_array_equal(np.asarray(x), [[1.0, 2.0]])
    np.testing.assert_array_equal((np.ones(2) * x).data, [[1.0, 2.0]])
