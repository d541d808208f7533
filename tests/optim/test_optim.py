"""Tests of the Optimizer and Schedule base classes (graphgrad/optim.py), through
small optimizers and schedules written here as a third party would."""

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.optim import Optimizer, Schedule


class SignDescent(Optimizer):
    """θ ← θ − η·sign(∇L); counts its updates in the state."""

    def __init__(self, params, lr=0.1, scale=1.0):
        super().__init__(params, dict(lr=lr, scale=scale))

    def update(self, param, grad, group, state):
        state["updates"] = state.get("updates", 0) + 1
        state["last"] = grad.copy()
        param -= group["lr"] * group["scale"] * np.sign(grad)


class OwnStep(Optimizer):
    """Overrides step() entirely (like L-BFGS): the base must still count it."""

    def __init__(self, params):
        super().__init__(params, dict(lr=1.0))

    def step(self, closure=None):
        return None


class Halving(Schedule):
    """η_t = η₀ / 2^t."""

    def lr_at(self, base_lr, t):
        return base_lr / 2**t


def tensor(*values):
    return gg.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def backward(*params):
    for p in params:
        (p * p).sum().backward()


# ----------------------------------------------------------------- param groups
def test_groups_take_missing_hyperparameters_from_the_defaults():
    a, b = tensor(1.0), tensor(2.0)
    opt = SignDescent([{"params": [a], "lr": 0.5}, {"params": b}], lr=0.1, scale=2.0)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    assert [g["scale"] for g in opt.param_groups] == [2.0, 2.0]
    assert opt.param_groups[1]["params"] == [b]  # a lone Tensor becomes a list


def test_generators_work_as_params():
    params = [tensor(1.0), tensor(2.0)]
    opt = SignDescent(p for p in params)
    assert opt.param_groups[0]["params"] == params


def test_add_param_group():
    a, b = tensor(1.0), tensor(-1.0)
    opt = SignDescent([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 1.0})
    backward(a, b)
    opt.step()
    np.testing.assert_allclose([a.data[0], b.data[0]], [0.9, 0.0])


def test_step_updates_only_params_with_grads_and_keeps_state():
    a, b = tensor(1.0, -2.0), tensor(3.0)
    opt = SignDescent([a, b], lr=0.25)
    backward(a)
    opt.step()
    opt.step()  # the same gradient again
    np.testing.assert_allclose(a.data, [0.5, -1.5])
    np.testing.assert_array_equal(b.data, [3.0])
    assert opt.state[a]["updates"] == 2 and b not in opt.state
    assert a.is_leaf and a.requires_grad


@pytest.mark.parametrize("bad, message", [
    ([], "empty parameter list"),
    ([np.zeros(2)], "not a Tensor"),
    ([gg.tensor([1.0])], "requires_grad=True"),
    ("one tensor", "not a Tensor"),
])
def test_bad_params(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        SignDescent(bad)


def test_a_single_tensor_is_not_an_iterable_of_params():
    with pytest.raises(TypeError, match=r"one Tensor of shape \(2,\).*\[tensor\]"):
        SignDescent(tensor(1.0, 2.0))


def test_non_leaf_and_duplicate_params_are_refused():
    a = tensor(1.0)
    with pytest.raises(ValueError, match="leaf Tensor"):
        SignDescent([a * 2])
    with pytest.raises(ValueError, match="more than one param group"):
        SignDescent([{"params": [a]}, {"params": [a]}])
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['momentum'\]"):
        SignDescent([{"params": [a], "momentum": 0.9}])
    with pytest.raises(ValueError, match="SignDescent: lr must be"):
        SignDescent([a], lr=float("inf"))


def test_an_optimizer_without_update_says_what_to_implement():
    class Empty(Optimizer):
        pass

    a = tensor(1.0)
    backward(a)
    with pytest.raises(NotImplementedError, match="update\\(param, grad, group, state\\)"):
        Empty([a], dict(lr=0.1)).step()


# ------------------------------------------------------------------- state_dict
def test_state_dict_layout_follows_pytorch():
    a, b, c = tensor(1.0), tensor(2.0, 3.0), tensor(4.0)
    opt = SignDescent([{"params": [a, b]}, {"params": [c], "lr": 0.5}])
    backward(b, c)
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"] == [
        {"lr": 0.1, "scale": 1.0, "params": [0, 1]},
        {"lr": 0.5, "scale": 1.0, "params": [2]},
    ]
    assert sorted(sd["state"]) == [1, 2]
    assert sd["state"][1]["updates"] == 1
    np.testing.assert_allclose(sd["state"][1]["last"], [4.0, 6.0])


def test_load_state_dict_accepts_string_keys_and_casts_arrays():
    a = gg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    opt = SignDescent([a])
    opt.load_state_dict({"state": {"0": {"updates": 5, "last": np.array([1.0, 2.0])}},
                         "param_groups": [{"lr": 0.3, "scale": 1.0, "params": [0]}]})
    assert opt.state[a]["updates"] == 5
    assert opt.state[a]["last"].dtype == np.float32
    assert opt.param_groups[0]["lr"] == 0.3


def test_load_state_dict_mismatches():
    opt = SignDescent([tensor(1.0)])
    sd = SignDescent([{"params": [tensor(1.0)]}, {"params": [tensor(2.0)]}]).state_dict()
    with pytest.raises(ValueError, match="2 param groups, this optimizer has 1"):
        opt.load_state_dict(sd)
    sd = SignDescent([tensor(1.0), tensor(2.0)]).state_dict()
    with pytest.raises(ValueError, match="group 0 has 1 parameters, the saved one has 2"):
        opt.load_state_dict(sd)


# -------------------------------------------------------------------- schedules
def test_a_third_party_schedule_and_the_initial_rate():
    opt = SignDescent([tensor(1.0)], lr=0.8)
    schedule = Halving(opt)
    assert opt.param_groups[0]["initial_lr"] == 0.8
    assert schedule.get_last_lr() == [0.8]
    lrs = []
    for _ in range(3):
        opt.step()
        schedule.step()
        lrs.append(schedule.get_last_lr()[0])
    assert lrs == [0.4, 0.2, 0.1]
    assert schedule.state_dict()["last_epoch"] == 3


def test_the_step_count_sees_overridden_steps():
    opt = OwnStep([tensor(1.0)])
    schedule = Halving(opt)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schedule.step()  # no "before optimizer.step()" warning: the override was counted
    assert opt._step_count == 1


def test_schedule_warns_once_when_stepped_before_the_optimizer():
    opt = SignDescent([tensor(1.0)])
    schedule = Halving(opt)
    with pytest.warns(UserWarning, match=r"Halving.step\(\) was called before optimizer.step"):
        schedule.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schedule.step()


def test_schedule_load_state_dict_rejects_foreign_keys():
    schedule = Halving(SignDescent([tensor(1.0)]))
    with pytest.raises(KeyError, match="unknown keys \\['gamma'\\]"):
        schedule.load_state_dict({"gamma": 0.1})


def test_a_schedule_without_lr_at_says_what_to_implement():
    with pytest.raises(NotImplementedError, match="lr_at"):
        Schedule(SignDescent([tensor(1.0)]))


def test_a_non_numeric_lr_gets_the_clear_error():
    import graphgrad as gg

    p = gg.tensor([1.0], requires_grad=True)
    for lr in ("fast", None, True, float("nan"), -1.0):
        with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
            gg.optimizers.SGD([p], lr=lr)
