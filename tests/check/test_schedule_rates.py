"""Issue 27: a schedule that writes a negative or non-finite learning rate is refused
by the checker and at run time (optimizers refuse a negative lr at construction)."""

import math

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.extend import Schedule


class LinearPastZero(Schedule):
    """Decays linearly to 0 at step 5 and keeps going: lr −0.4·base at step 7."""

    def lr_at(self, base_lr, t):
        return base_lr * (1 - t / 5)


class Explodes(Schedule):
    def lr_at(self, base_lr, t):
        return base_lr * math.exp(t) if t < 700 else math.inf


def _opt():
    return gg.optimizers.SGD([gg.nn.Parameter(np.ones(2, np.float32))], lr=0.1)


def test_the_checker_fails_a_schedule_that_goes_negative_later():
    report = gg.check.schedule(LinearPastZero)
    assert not report.ok
    assert "lr_at(0.1, 6) = -0.0199" in report.summary and "finite learning rate >= 0" in \
        report.summary


def test_the_checker_fails_a_non_finite_rate():
    report = gg.check.schedule(Explodes)
    assert not report.ok and "inf" in report.summary


def test_run_time_refuses_a_negative_rate_and_keeps_the_last_good_one():
    opt = _opt()
    sched = LinearPastZero(opt)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0
    opt.step()
    with pytest.raises(ValueError, match=r"LinearPastZero: the learning rate at step 6 is "
                       r"-0\.0199.*>= 0"):
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0


def test_built_in_schedules_still_pass():
    for name in ("step_lr", "cosine_annealing"):
        if name in gg.schedules:
            assert gg.check.schedule(gg.schedules[name]).ok, name


class ForgetfulMomentum(gg.extend.Optimizer):
    """SGD with momentum whose load_state_dict drops the momentum buffers."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, {"lr": lr})

    def update(self, param, grad, group, state):
        if "buf" not in state:
            state["buf"] = np.zeros_like(param)
        state["buf"] *= 0.9
        state["buf"] += grad
        param -= group["lr"] * state["buf"]

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for state in self.state.values():  # the bug: the momentum is lost
            state.clear()


def test_optimizer_check_blames_load_state_dict_when_it_drops_state():
    report = gg.check.optimizer(ForgetfulMomentum)
    assert not report.ok
    assert "load_state_dict drops or changes state" in report.summary, report.summary
    assert "state_dict must hold every value" not in report.summary
