"""matmul_t_flat (Σ over the leading axes of aᵀ·b, the weight gradient of x @ W for an
N-D x): the kernel against einsum, the op that calls it against finite differences and
PyTorch, and a compiled step that replays it straight into its buffer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck, gradgradcheck
from graphgrad.kernels import K, reference


@pytest.mark.parametrize("lead", [(7,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_is_the_sum_of_per_row_outer_products(lead, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(lead + (6,)).astype(dtype)
    b = rng.standard_normal(lead + (4,)).astype(dtype)
    rows_a, rows_b = a.astype(np.float64).reshape(-1, 6), b.astype(np.float64).reshape(-1, 4)
    want = sum(np.outer(ra, rb) for ra, rb in zip(rows_a, rows_b))
    for fn in (K.matmul_t_flat, reference.matmul_t_flat):
        got = fn(a, b)
        assert got.shape == (6, 4) and got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)


def test_kernel_takes_strided_operands_and_refuses_mismatched_rows():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3, 6)).transpose(1, 0, 2)   # not C-contiguous
    b = rng.standard_normal((3, 4, 5))
    np.testing.assert_allclose(K.matmul_t_flat(a, b), np.einsum("ijk,ijn->kn", a, b),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="matmul_t_flat"):
        K.matmul_t_flat(np.ones((2, 3, 4)), np.ones((3, 2, 5)))


def _t(x):
    return gg.tensor(x, requires_grad=True)


@pytest.mark.parametrize("transposed_w", [False, True])
def test_nd_times_2d_matmul_gradients(transposed_w):
    """The flattened path (x (…, K) @ W (K, N), W possibly a transposed view as in
    Linear layers) against finite differences, double backward, and PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 5))
    w = rng.standard_normal((6, 5) if transposed_w else (5, 6))

    def f(a, b):
        return a @ (gg.transpose(b) if transposed_w else b)

    assert gradcheck(f, [_t(x), _t(w)])
    assert gradgradcheck(f, [_t(x), _t(w)])
    gx, gw = _t(x), _t(w)
    (f(gx, gw) ** 2).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    ((tx @ (tw.T if transposed_w else tw)) ** 2).sum().backward()
    np.testing.assert_allclose(gx.grad.data, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw.grad.data, tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_nd_matmul_with_a_strided_gradient():
    """g reaches the flattened backward as a transposed view (copied by a kernel first)."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 4))

    def f(a, b):
        return gg.transpose(a @ b, (1, 0, 2)) * gg.tensor(np.arange(48.0).reshape(4, 3, 4))

    assert gradcheck(f, [_t(x), _t(w)])


def test_compiled_step_replays_matmul_t_flat_into_its_buffer():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)

    def training_step():
        """A fresh Linear(5, 2) (the same seed each time) and its SGD step."""
        lin = gg.layers.Linear(5, 2, rng=np.random.default_rng(5))
        opt = gg.optimizers.SGD(lin.parameters(), lr=0.1)

        def step(x):
            loss = (lin(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return lin, step

    lin, step = training_step()
    ref_lin, eager = training_step()
    compiled = gg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gg.compile.CompileWarning)
        for i in range(6):
            xi = gg.tensor(x * (1 + i))
            np.testing.assert_allclose(compiled(xi).item(), eager(xi).item(), rtol=1e-6)
    entries = [e for e in compiled.plan.entries if e.label == "matmul_t_flat"]
    assert len(entries) == 1
    kind, ufunc, args, buf = entries[0].run.spec
    assert kind == "ufunc" and ufunc is np.matmul and buf.shape == (5, 2)
    assert all(np.shares_memory(a, b) for a, b in zip(args, entries[0].reads))
    for p, q in zip(lin.parameters(), ref_lin.parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6)


@pytest.mark.parametrize("sa,sb", [((2, 3, 0), (0, 4)), ((2, 0, 5), (5, 4)), ((2, 3, 5), (5, 0))])
def test_nd_matmul_with_an_empty_axis(sa, sb):
    """Empty operands keep the batched path (a reshape to (-1, 0) is impossible)."""
    a, b = _t(np.ones(sa)), _t(np.ones(sb))
    y = a @ b
    y.sum().backward()
    assert y.shape == np.matmul(np.ones(sa), np.ones(sb)).shape
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_array_equal(b.grad.data, np.full(sb, float(np.prod(sa[:-1]))))
