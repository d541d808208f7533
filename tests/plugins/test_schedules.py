"""Tests of the built-in learning-rate schedules (plugins/schedules.py)."""

import json
import math
import warnings

import numpy as np
import pytest
from graphgrad_plugins.schedules import (
    Constant,
    Cosine,
    ExponentialDecay,
    InverseDecay,
    LinearWarmup,
    StepDecay,
)

import graphgrad as gg

BASE = (0.1, 0.03)  # two param groups with different starting rates
STEPS = 12


def make_optimizer(base=BASE):
    groups = [{"params": [gg.tensor(np.ones(2), requires_grad=True)], "lr": lr} for lr in base]
    return gg.optimizers.SGD(groups, lr=1.0)


def sequence(schedule, optimizer, steps=STEPS):
    """[lr per group] at t = 0, 1, ..., steps, read from the optimizer (what it will use)."""
    out = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(steps):
        optimizer.step()
        schedule.step()
        out.append([g["lr"] for g in optimizer.param_groups])
        assert schedule.get_last_lr() == out[-1]
    return np.array(out)


FORMULAS = {
    "constant": (lambda opt: Constant(opt), lambda e0, t: e0),
    "step_decay": (lambda opt: StepDecay(opt, step_size=3, gamma=0.5),
                   lambda e0, t: e0 * 0.5 ** (t // 3)),
    "inverse_decay": (lambda opt: InverseDecay(opt, decay=0.2),
                      lambda e0, t: e0 / (1 + 0.2 * t)),
    "exponential_decay": (lambda opt: ExponentialDecay(opt, decay=0.3),
                          lambda e0, t: e0 * math.exp(-0.3 * t)),
    "cosine": (lambda opt: Cosine(opt, T_max=8, eta_min=0.001),
               lambda e0, t: 0.001 + (e0 - 0.001) * (1 + math.cos(math.pi * min(t, 8) / 8)) / 2),
    "linear_warmup": (lambda opt: LinearWarmup(opt, warmup_steps=4, start_factor=0.25),
                      lambda e0, t: e0 * (0.25 + 0.75 * t / 4) if t < 4 else e0),
    "warmup_then_cosine": (
        lambda opt: LinearWarmup(opt, warmup_steps=3, after=Cosine(opt, T_max=6)),
        lambda e0, t: e0 * (0.1 + 0.9 * t / 3) if t < 3
        else e0 * (1 + math.cos(math.pi * min(t - 3, 6) / 6)) / 2),
}


def test_registered_under_their_names():
    expected = {"constant": Constant, "step_decay": StepDecay, "inverse_decay": InverseDecay,
                "exponential_decay": ExponentialDecay, "cosine": Cosine,
                "linear_warmup": LinearWarmup}
    for name, cls in expected.items():
        assert gg.schedules[name] is cls


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_learning_rates_follow_the_formula(name):
    build, formula = FORMULAS[name]
    opt = make_optimizer()
    schedule = build(opt)
    expected = np.array([[formula(e0, t) for e0 in BASE] for t in range(STEPS + 1)])
    np.testing.assert_allclose(sequence(schedule, opt), expected, rtol=1e-12)


def test_hand_values():
    opt = make_optimizer((1.0,))
    np.testing.assert_allclose(sequence(StepDecay(opt, 2, 0.1), opt, 5)[:, 0],
                               [1, 1, 0.1, 0.1, 0.01, 0.01])
    opt = make_optimizer((1.0,))
    np.testing.assert_allclose(sequence(InverseDecay(opt, 1.0), opt, 3)[:, 0],
                               [1, 1 / 2, 1 / 3, 1 / 4])
    opt = make_optimizer((1.0,))
    np.testing.assert_allclose(sequence(Cosine(opt, T_max=2), opt, 3)[:, 0], [1, 0.5, 0, 0],
                               atol=1e-15)


def test_the_optimizer_uses_the_scheduled_rate():
    theta = gg.tensor(np.array([1.0]), requires_grad=True)
    opt = gg.optimizers.SGD([theta], lr=0.5)
    schedule = StepDecay(opt, step_size=1, gamma=0.1)
    moves = []
    for _ in range(3):
        before = theta.data.copy()
        opt.zero_grad()
        theta.sum().backward()  # ∇ = 1, so the move is −lr
        opt.step()
        schedule.step()
        moves.append(float(before[0] - theta.data[0]))
    np.testing.assert_allclose(moves, [0.5, 0.05, 0.005])


def test_stepping_before_the_optimizer_warns():
    opt = make_optimizer()
    schedule = ExponentialDecay(opt, decay=0.1)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        schedule.step()


def test_stepping_in_the_right_order_does_not_warn():
    opt = make_optimizer()
    schedule = ExponentialDecay(opt, decay=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            schedule.step()


def test_state_dict_round_trip_resumes_the_sequence():
    build, formula = FORMULAS["warmup_then_cosine"]
    opt = make_optimizer()
    schedule = build(opt)
    sequence(schedule, opt, 4)
    saved_opt = opt.state_dict()
    saved = json.loads(json.dumps(schedule.state_dict()))  # plain data only
    opt2 = make_optimizer((5.0, 5.0))
    schedule2 = build(opt2)
    opt2.load_state_dict(saved_opt)
    schedule2.load_state_dict(saved)
    assert schedule2.last_epoch == 4
    assert schedule2.get_last_lr() == schedule.get_last_lr()
    rest = sequence(schedule2, opt2, 6)
    expected = np.array([[formula(e0, t) for e0 in BASE] for t in range(4, 11)])
    np.testing.assert_allclose(rest, expected, rtol=1e-12)


def test_two_schedules_share_the_initial_rate():
    opt = make_optimizer()
    StepDecay(opt, 1, 0.5)
    opt.step()
    second = Constant(opt)  # initial_lr is kept from the first schedule
    assert second.base_lrs == list(BASE)


def test_errors():
    opt = make_optimizer()
    with pytest.raises(ValueError, match="StepDecay: step_size must be an integer > 0"):
        StepDecay(opt, 0)
    with pytest.raises(ValueError, match="Cosine: T_max"):
        Cosine(opt, T_max=2.5)
    with pytest.raises(ValueError, match="ExponentialDecay: decay"):
        ExponentialDecay(opt, decay=-1)
    with pytest.raises(ValueError, match="LinearWarmup: start_factor"):
        LinearWarmup(opt, 3, start_factor=2)
    with pytest.raises(ValueError, match="same optimizer"):
        LinearWarmup(opt, 3, after=Cosine(make_optimizer(), T_max=3))
    with pytest.raises(TypeError, match="expected a graphgrad Optimizer"):
        Constant("sgd")
    with pytest.raises(KeyError, match="initial_lr"):
        Constant(make_optimizer(), last_epoch=3)
