"""The component checkers gg.check.loss/optimizer/schedule/initializer/transform/function.

Each checker is run on a correct component (it passes) and on components with
one known defect each (that one check fails, with a message naming it).
"""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.extend import Function, Loss, Optimizer, RandomTransform, Schedule


def statuses(report) -> dict[str, str]:
    return {item.name: item.status for item in report}


# -- losses ----------------------------------------------------------------------


class Squares(Loss):
    """½ (a − y)² per element."""

    def forward(self, prediction, target):
        y = gg.tensor(np.asarray(target, dtype=prediction.dtype))
        if y.shape != prediction.shape:
            raise ValueError(f"Squares: target shape {y.shape} != {prediction.shape}")
        return 0.5 * (prediction - y) ** 2

    @classmethod
    def example_input(cls, rng):
        return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))


class Promoting(Squares):
    def forward(self, prediction, target):  # the target's float64 leaks into the loss
        return 0.5 * (prediction - gg.tensor(np.asarray(target))) ** 2


class AlwaysMean(Squares):
    def __call__(self, prediction, target):  # ignores reduction
        return self.forward(gg.tensor(prediction) if not isinstance(prediction, gg.Tensor)
                            else prediction, target).mean()


def test_check_loss_passes_a_correct_loss():
    report = gg.check.loss(Squares)
    assert report.ok, report
    assert list(statuses(report).values()) == ["pass"] * 6


def test_check_loss_catches_promotion_reduction_and_silent_bad_targets():
    report = gg.check.loss(Promoting)
    assert statuses(report)["float32"] == "fail"
    assert "gave a float64 loss; cast the target" in report["float32"].message
    assert statuses(report)["bad target"] == "fail"  # a broadcasting error, not naming it
    report = gg.check.loss(AlwaysMean)
    assert statuses(report)["reduction"] == "fail"
    assert report["reduction"].message.startswith('reduction="none" returned a scalar')


def test_check_loss_on_the_builtins():
    assert gg.check.loss(gg.losses.cross_entropy).ok
    assert gg.check.loss(gg.losses.mse(reduction="sum"),
                         (np.ones((2, 2)), np.zeros((2, 2)))).ok


# -- optimizers and schedules --------------------------------------------------------


class PlainSGD:
    """Not an Optimizer subclass: no param_groups, no state_dict."""

    def __init__(self, params, lr=0.01):
        self.params, self.lr = list(params), lr

    def step(self, closure=None):
        if closure is not None:
            closure()
        for p in self.params:
            p.data -= self.lr * p.grad.data

    def zero_grad(self):
        for p in self.params:
            p.grad = None


class FixedRate(Optimizer):
    """Reads the rate once, in __init__ (a schedule could never change it)."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, dict(lr=lr))
        self.rate = lr

    def update(self, param, grad, group, state):
        param -= self.rate * grad


def test_check_optimizer_passes_the_builtins_and_catches_mistakes():
    assert gg.check.optimizer(gg.optimizers.Adam).ok
    report = gg.check.optimizer(PlainSGD)
    assert report["subclass"].message == (
        "'PlainSGD' is not a subclass of graphgrad.extend.Optimizer; derive from it (it "
        "provides param_groups, zero_grad, state_dict)")
    assert report["state_dict"].message == (
        "PlainSGD has no state_dict(); checkpoints need it. Derive from "
        "graphgrad.extend.Optimizer, which provides it")
    report = gg.check.optimizer(FixedRate)
    assert statuses(report) == {"subclass": "pass", "step decreases": "pass",
                                "state_dict": "pass", "zero_grad": "pass",
                                "lr from param_groups": "fail"}


class Halving(Schedule):
    """Sets its attribute after super().__init__ (allowed: the first rate waits)."""

    def __init__(self, optimizer):
        super().__init__(optimizer)
        self.factor = 0.5

    def lr_at(self, base_lr, t):
        return base_lr * self.factor**t


class Forgetful(Schedule):
    """Counts its own steps outside what state_dict can restore."""

    hidden = [0]

    def lr_at(self, base_lr, t):
        Forgetful.hidden[0] += 1
        return base_lr / Forgetful.hidden[0]


def test_schedule_attributes_may_be_set_after_super_init():
    p = gg.Parameter(np.zeros(2))
    opt = gg.optimizers.SGD([p], lr=1.0)
    sched = Halving(opt)
    assert sched.get_last_lr() == [1.0] and opt.param_groups[0]["lr"] == 1.0
    opt.step()
    sched.step()
    assert sched.get_last_lr() == [0.5]
    assert gg.check.schedule(Halving).ok


def test_check_schedule_catches_state_outside_state_dict():
    report = gg.check.schedule(Forgetful)
    assert statuses(report)["state_dict"] == "fail"
    assert report["state_dict"].message.startswith("after load_state_dict(state_dict()) the next")


# -- initializers ---------------------------------------------------------------------


def wrong_he(shape, rng):
    """Claims He's rule, draws with 1/fan_in."""
    return rng.normal(0.0, np.sqrt(1.0 / shape[0]), shape)


wrong_he.variance = lambda shape: 2.0 / shape[0]


def unseeded(shape, rng):
    return np.random.default_rng().normal(size=shape)


def test_check_initializer():
    report = gg.check.initializer(gg.initializers.HeNormal)
    assert report.ok and "variance" in report["fan rule"].message
    report = gg.check.initializer(wrong_he)
    assert statuses(report)["fan rule"] == "fail"
    assert "variance(shape) says 0.005" in report["fan rule"].message
    assert statuses(gg.check.initializer(unseeded))["seeded"] == "fail"
    assert statuses(gg.check.initializer(lambda shape, rng: np.zeros(shape)))["fan rule"] == "skip"


# -- transforms -------------------------------------------------------------------------


class Noise(RandomTransform):
    def __init__(self, scale=0.1, seed=None):
        super().__init__(seed)
        self.scale = scale

    def apply(self, x):
        return x + (self.scale * self.rng.standard_normal(x.shape)).astype(x.dtype)

    @classmethod
    def example_input(cls, rng):
        return rng.normal(size=(4, 3))


class GlobalNoise(Noise):
    def apply(self, x):  # ignores its seed
        return x + np.random.standard_normal(x.shape).astype(x.dtype)


def test_check_transform():
    assert gg.check.transform(Noise).ok
    report = gg.check.transform(GlobalNoise)
    assert statuses(report)["deterministic"] == "fail"
    assert gg.check.transform(gg.transforms.RandomCrop).ok


# -- custom ops ---------------------------------------------------------------------------


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x * x

    @classmethod
    def example_input(cls, rng):
        return (rng.normal(size=(2, 3)),)


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x * x


def test_check_function():
    assert gg.check.function(Cube).ok
    report = gg.check.function(WrongCube)
    assert statuses(report)["gradcheck"] == "fail"
    assert report["gradcheck"].message.startswith("gradcheck failed for input 0 of shape (2, 3)")
    with pytest.raises(TypeError, match="expected a Function subclass"):
        gg.check.function(Cube())


def test_a_loss_with_parameters_is_checked_in_float64_without_the_dtype_warning():
    import warnings

    hsm = gg.losses["hierarchical_softmax"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # "float64 input to a float32 model"
        report = gg.check.loss(hsm)
    assert report.ok, report


def test_check_findings_rule():
    from graphgrad.viz import Finding

    def relu_count(ctx):
        n = sum(d["op"] == "ReLU" for _, d in ctx.graph.nodes(data=True))
        return [Finding("relu_count", "info", f"{n} ReLU")]

    def param_typo(ctx):
        return [Finding("param_typo", "info", "TYPO", params=("0.wieght",))]

    report = gg.check.findings_rule(relu_count)
    assert report.ok and statuses(report) == {"training step": "pass", "evaluation": "pass"}
    report = gg.check.findings_rule(param_typo)
    assert statuses(report)["training step"] == "fail"
    assert "parameter(s) ['0.wieght'] the model does not have" in report.summary
    assert statuses(gg.check.findings_rule(lambda ctx: 1 / 0))["evaluation"] == "fail"
