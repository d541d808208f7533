"""Issue 27, severity 3: values at the edges agree with NumPy and PyTorch."""

import warnings

import numpy as np
import pytest

import graphgrad as gg


@pytest.mark.parametrize("ddof", [2, 3])
@pytest.mark.parametrize("values", [[1.0, 2.0], [1.0, 1.0]])
def test_var_and_std_without_degrees_of_freedom_match_numpy(values, ddof, backend):
    a = np.array(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected_var = np.var(a, ddof=ddof)  # NumPy 2: inf, or nan where all equal
        expected_std = np.std(a, ddof=ddof)
    with pytest.warns(UserWarning, match="no degrees of freedom"):
        v = gg.var(gg.tensor(a), ddof=ddof)
    with pytest.warns(UserWarning, match="no degrees of freedom"):
        s = gg.std(gg.tensor(a), ddof=ddof)
    np.testing.assert_array_equal(v.data, expected_var)
    np.testing.assert_array_equal(s.data, expected_std)


def test_pow_gradient_in_the_exponent_at_a_zero_base_matches_torch():
    torch = pytest.importorskip("torch")
    for b in (0.0, -1.0, -0.5, 2.0):
        base = np.array([0.0, -0.0, 2.0], dtype=np.float32)
        x = gg.tensor(base, requires_grad=True)
        e = gg.tensor(np.full(3, b, np.float32), requires_grad=True)
        with warnings.catch_warnings():  # 0 ** -1 = inf: NumPy's divide warning
            warnings.simplefilter("ignore", RuntimeWarning)
            (x ** e).sum().backward()
        tx = torch.tensor(base, requires_grad=True)
        te = torch.full((3,), b, requires_grad=True)
        (tx ** te).sum().backward()
        np.testing.assert_allclose(e.grad.data, te.grad.numpy(), rtol=1e-6)
        np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("op", ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])
def test_scans_of_a_0d_tensor_validate_the_axis(op):
    x = gg.tensor(1.5)
    for axis in (0, -1):
        out = getattr(gg, op)(x, axis)
        out = out[0] if isinstance(out, tuple) else out
        assert out.shape == ()
    with pytest.raises(ValueError, match=f"{op}: axis 5 is out of range"):
        getattr(gg, op)(x, 5)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
def test_max_pool2d_of_integers_pads_with_the_dtype_minimum(dtype, backend):
    x = (np.arange(16).reshape(1, 1, 4, 4) % 7).astype(dtype)
    y = gg.max_pool2d(gg.tensor(x), 2, padding=1).data
    padded = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-99)
    expected = padded.reshape(1, 1, 3, 2, 3, 2).max(axis=(3, 5))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.astype(np.int64), expected)


def test_backends_agree_on_a_float32_mean_near_the_overflow_limit(backend):
    x = np.full((2, 4), 3e38, np.float32)
    np.testing.assert_array_equal(gg.mean(gg.tensor(x)).data, np.float32(3e38))
    np.testing.assert_array_equal(gg.mean(gg.tensor(x), axis=1).data, np.full(2, 3e38, np.float32))


def test_backends_agree_on_the_sign_of_a_zero_cross_entropy(backend):
    logits = gg.tensor(np.array([[100.0, 0.0]], np.float32))
    loss = gg.softmax_cross_entropy(logits, gg.tensor([0]))
    assert loss.data[0] == 0 and not np.signbit(loss.data[0])
