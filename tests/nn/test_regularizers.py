"""Tests of gg.regularizers.l1 / l2 and their equivalence with the optimizer arguments."""

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck

RNG = np.random.default_rng(0)


def params():
    return [gg.tensor(RNG.normal(size=(3, 2)), requires_grad=True),
            gg.tensor(RNG.normal(size=4), requires_grad=True)]


def test_l2_value_and_gradient():
    ps, lam = params(), 0.3
    penalty = gg.regularizers.l2(ps, lam)
    expected = lam / 2 * sum((p.data**2).sum() for p in ps)
    np.testing.assert_allclose(penalty.item(), expected, rtol=1e-12)
    penalty.backward()
    for p in ps:
        np.testing.assert_allclose(p.grad.data, lam * p.data, rtol=1e-12)


def test_l1_value_and_gradient():
    ps, lam = params(), 0.3
    penalty = gg.regularizers.l1(ps, lam)
    np.testing.assert_allclose(penalty.item(), lam * sum(np.abs(p.data).sum() for p in ps),
                               rtol=1e-12)
    penalty.backward()
    for p in ps:
        np.testing.assert_allclose(p.grad.data, lam * np.sign(p.data), rtol=1e-12)


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_gradcheck(name):
    fn = getattr(gg.regularizers, name)
    gradcheck(lambda a, b: fn([a, b], 0.7), params())


@pytest.mark.parametrize("penalty, argument", [("l2", "weight_decay"), ("l1", "l1")])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_penalty_in_the_loss_equals_the_optimizer_argument(penalty, argument, momentum):
    lam, target = 0.2, RNG.normal(size=(3, 2))
    a = [gg.tensor(RNG.normal(size=(3, 2)), requires_grad=True)]
    b = [gg.tensor(a[0].data.copy(), requires_grad=True)]
    in_loss = gg.optimizers.SGD(a, lr=0.1, momentum=momentum)
    in_optimizer = gg.optimizers.SGD(b, lr=0.1, momentum=momentum, **{argument: lam})
    for _ in range(3):
        for opt, ps, extra in ((in_loss, a, True), (in_optimizer, b, False)):
            opt.zero_grad()
            loss = ((ps[0] - gg.tensor(target)) ** 2).sum()
            if extra:
                loss = loss + getattr(gg.regularizers, penalty)(ps, lam)
            loss.backward()
            opt.step()
    np.testing.assert_allclose(a[0].data, b[0].data, rtol=1e-12)


def test_accepts_a_tensor_or_a_module():
    class Two(gg.Module):
        def __init__(self):
            super().__init__()
            self.w = gg.Parameter(np.array([1.0, -2.0]))
            self.b = gg.Parameter(np.array([3.0]))

    np.testing.assert_allclose(gg.regularizers.l2(Two(), 2.0).item(), 1 + 4 + 9)
    np.testing.assert_allclose(gg.regularizers.l1(gg.tensor([1.0, -2.0]), 0.5).item(), 1.5)
    assert gg.regularizers.l2([], 1.0).item() == 0.0


def test_errors():
    with pytest.raises(ValueError, match="regularizers.l2: lam must be a finite number >= 0"):
        gg.regularizers.l2(params(), -1.0)
    with pytest.raises(TypeError, match="regularizers.l1: item 1 of params is a ndarray"):
        gg.regularizers.l1([params()[0], np.zeros(2)], 0.1)
