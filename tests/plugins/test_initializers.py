"""Built-in initializers (plugins/initializers.py): empirical statistics vs the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from graphgrad_plugins import initializers as inits

import graphgrad as gg

SHAPE = (300, 500)  # 150 000 draws: the sample std is within ~0.4 % of the true one
FAN_IN, FAN_OUT = SHAPE


def _draw(init, shape=SHAPE, seed=0):
    w = init(shape, np.random.default_rng(seed))
    assert w.shape == tuple(shape) and w.dtype == np.float64
    return w


def test_all_built_ins_are_registered_by_name():
    expected = {"zeros", "constant", "uniform", "normal", "xavier_uniform", "xavier_normal",
                "sigmoid_uniform", "he_normal", "he_uniform", "lecun_normal", "orthogonal"}
    assert expected <= set(gg.initializers.names())
    assert gg.initializers["he_normal"] is inits.HeNormal
    assert gg.initializers.XavierUniform is inits.XavierUniform


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((3, 5), (3, 5)),  # (in, out): y = x @ W
    ((8, 4, 3, 3), (4 * 9, 8 * 9)),  # (out_c, in_c, kh, kw)
    ((2, 3, 5), (15, 10)),
])
def test_compute_fans(shape, fans):
    assert inits.compute_fans(shape) == fans


def _assert_normal(w, mean, std):
    assert abs(w.mean() - mean) < 5 * std / math.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=0.01)


def _assert_uniform(w, bound):
    assert w.min() >= -bound and w.max() <= bound
    assert w.min() < -0.99 * bound and w.max() > 0.99 * bound  # the range is filled
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * w.size)
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)  # Var U(-a, a) = a²/3


def test_zeros_and_constant():
    assert not _draw(inits.Zeros()).any()
    np.testing.assert_array_equal(_draw(inits.Constant(0.7), (2, 3)), np.full((2, 3), 0.7))


def test_uniform_and_normal():
    w = _draw(inits.Uniform(-2.0, 4.0))
    assert w.min() >= -2.0 and w.max() <= 4.0
    assert w.mean() == pytest.approx(1.0, abs=0.02)
    assert w.std() == pytest.approx(6.0 / math.sqrt(12), rel=0.01)
    _assert_normal(_draw(inits.Normal(mean=0.5, std=0.2)), 0.5, 0.2)


def test_xavier_uniform_bound():
    _assert_uniform(_draw(inits.XavierUniform()), math.sqrt(6.0 / (FAN_IN + FAN_OUT)))
    _assert_uniform(_draw(inits.XavierUniform(gain=2.0)), 2 * math.sqrt(6.0 / (FAN_IN + FAN_OUT)))


def test_sigmoid_uniform_is_four_times_the_xavier_bound():
    bound = 4 * math.sqrt(6.0 / (FAN_IN + FAN_OUT))
    _assert_uniform(_draw(inits.SigmoidUniform()), bound)
    xavier = inits.XavierUniform().bound(SHAPE)
    assert inits.SigmoidUniform().bound(SHAPE) == pytest.approx(4 * xavier)


def test_xavier_normal_std():
    _assert_normal(_draw(inits.XavierNormal()), 0.0, math.sqrt(2.0 / (FAN_IN + FAN_OUT)))


def test_he_normal_and_uniform_have_variance_two_over_fan_in():
    _assert_normal(_draw(inits.HeNormal()), 0.0, math.sqrt(2.0 / FAN_IN))
    _assert_uniform(_draw(inits.HeUniform()), math.sqrt(6.0 / FAN_IN))


def test_lecun_normal_has_variance_one_over_fan_in():
    _assert_normal(_draw(inits.LecunNormal()), 0.0, math.sqrt(1.0 / FAN_IN))


def test_conv_shapes_use_the_receptive_field():
    shape = (64, 16, 5, 5)  # fan_in = 16·25 = 400
    _assert_normal(_draw(inits.HeNormal(), shape), 0.0, math.sqrt(2.0 / 400))


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (3, 2, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = _draw(inits.Orthogonal(gain=1.5), shape).reshape(shape[0], -1)
    small = min(w.shape)
    gram = w @ w.T if w.shape[0] == small else w.T @ w
    np.testing.assert_allclose(gram, 1.5 ** 2 * np.eye(small), atol=1e-12)


def test_orthogonal_needs_two_dims():
    with pytest.raises(ValueError, match="at least 2 dims"):
        inits.Orthogonal()((5,), 0)


def test_same_seed_same_weights_and_global_generator():
    for cls in (inits.Uniform, inits.Normal, inits.XavierUniform, inits.XavierNormal,
                inits.SigmoidUniform, inits.HeNormal, inits.HeUniform, inits.LecunNormal,
                inits.Orthogonal):
        a, b = cls()((4, 5), 11), cls()((4, 5), np.random.default_rng(11))
        np.testing.assert_array_equal(a, b, err_msg=cls.__name__)
        gg.manual_seed(2)
        c = cls()((4, 5))
        gg.manual_seed(2)
        np.testing.assert_array_equal(c, cls()((4, 5)), err_msg=cls.__name__)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"Uniform: low must be <= high"):
        inits.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="Normal: std"):
        inits.Normal(std=-1.0)
    with pytest.raises(ValueError, match="HeNormal: shape .* fan_in = 0"):
        inits.HeNormal()((0, 3), 0)
    with pytest.raises(ValueError, match="negative dimension"):
        inits.Zeros()((-1, 2), 0)


def test_repr_shows_the_arguments():
    assert repr(inits.Uniform(-1.0, 1.0)) == "Uniform(low=-1.0, high=1.0)"
    assert repr(inits.HeNormal()) == "HeNormal(gain=1.0)"
