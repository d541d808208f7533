"""gg.check.babysit flags broken models and passes a good one; gg.check.lr_find."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check.babysitting import chance_loss, relu_activity
from graphgrad.data import ArrayDataset, DataLoader
from graphgrad.nn.loss import Loss


def blobs(n=200, d=6, classes=4, seed=0):
    """Gaussian classes around random centres (easy to fit)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, d)) * 2.0
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.standard_normal((n, d))
    x = (x - x.mean(axis=0)) / x.std(axis=0)  # standardised, as training data should be
    return x.astype(np.float32), y.astype(np.int64)


def mlp(d=6, hidden=16, classes=4, seed=0, init="he_normal"):
    return gg.Sequential(gg.layers.Linear(d, hidden, init=init, rng=seed), gg.layers.ReLU(),
                         gg.layers.Linear(hidden, classes, init=init, rng=seed + 1))


class WrongTanh(gg.Function):
    """tanh with a deliberately wrong backward: (1 − y) instead of (1 − y²)."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


class WrongTanhLayer(gg.Module):
    def forward(self, x):
        return WrongTanh.apply(x)


def snapshot(model):
    return [(name, p, p.data, p.data.copy()) for name, p in model.named_parameters()]


def assert_untouched(model, snap):
    for (name, p, array, values), (name2, p2) in zip(snap, model.named_parameters(), strict=True):
        assert name == name2 and p is p2
        assert p.data is array and p.data.dtype == np.float32, name
        np.testing.assert_array_equal(p.data, values, err_msg=name)


def test_a_good_model_passes_and_is_left_untouched():
    x, y = blobs()
    model = mlp()
    model.eval()
    snap = snapshot(model)
    state = gg.random.get_rng_state()
    report = gg.check.babysit(model, gg.losses.CrossEntropy(), (x, y), verbose=False)
    assert report.ok and report.flags == [], report.table()
    assert [c.name for c in report.checks] == ["symmetric_init", "initial_loss", "gradient_check",
                                               "dead_relu", "update_ratio", "overfit",
                                               "regularization"]
    assert report["initial_loss"].data["chance"] == pytest.approx(math.log(4))
    assert report["overfit"].value < 0.05 * report["overfit"].data["initial"]
    assert report["regularization"].value > report["overfit"].value
    sizes = [p.data.size for p in model.parameters()]
    assert report["gradient_check"].data["checked"] == sum(min(8, n) for n in sizes)
    assert_untouched(model, snap)
    assert not model.training and not any(m.training for m in model.modules())
    assert gg.random.get_rng_state() == state
    json.dumps(report.to_dict())  # JSON-ready
    assert "babysit: no problems found" in report.table()


def test_a_wrong_gradient_is_caught():
    x, y = blobs()
    model = gg.Sequential(gg.layers.Linear(6, 16, rng=0), WrongTanhLayer(),
                          gg.layers.Linear(16, 4, rng=1))
    report = gg.check.babysit(model, gg.losses.CrossEntropy(), (x, y), verbose=False)
    grad = report["gradient_check"]
    assert grad.status == "fail" and not report.ok
    assert "0.weight" in grad.detail or "0.bias" in grad.detail  # upstream of the bad op
    assert not any(f.startswith("2.") for f in grad.data["failures"])  # downstream is right


def test_constant_initialisation_is_flagged():
    x, y = blobs()
    model = mlp(init=lambda shape, rng: np.full(shape, 0.05))
    report = gg.check.babysit(model, gg.losses.CrossEntropy(), (x, y), verbose=False)
    sym = report["symmetric_init"]
    assert sym.status == "fail" and "0.weight is constant" in sym.detail
    assert "symmetric_init" in report.flags


def test_identical_units_are_flagged_too():
    model = mlp()
    w = model[0].weight.data
    w[:] = w[:, :1]  # every hidden unit gets the same incoming weights
    report = gg.check.babysit(model, gg.losses.CrossEntropy(), blobs(), verbose=False)
    assert report["symmetric_init"].status == "fail"
    assert "0.weight has identical units" in report["symmetric_init"].detail


def test_a_too_high_learning_rate_is_flagged():
    x, y = blobs()
    report = gg.check.babysit(mlp(), gg.losses.CrossEntropy(), (x, y), optimizer="sgd", lr=10.0,
                              verbose=False)
    assert report["update_ratio"].status == "fail"
    assert "learning rate is far too high" in report["update_ratio"].detail
    assert report["overfit"].status == "fail" and "diverged" in report["overfit"].detail
    assert {"update_ratio", "overfit"} <= set(report.flags) and not report.ok


def test_a_too_low_learning_rate_is_flagged():
    report = gg.check.babysit(mlp(), gg.losses.CrossEntropy(), blobs(), lr=1e-6,
                              overfit_steps=100, verbose=False)
    assert report["update_ratio"].status == "warn" and "too low" in report["update_ratio"].detail
    assert report["overfit"].status == "fail"


def test_large_initial_weights_and_dead_relus_are_flagged():
    x, y = blobs()
    big = mlp()
    for p in big.parameters():
        p.data *= 20
    report = gg.check.babysit(big, gg.losses.CrossEntropy(), (x, y), overfit_steps=100,
                              verbose=False)
    assert report["initial_loss"].status == "warn"
    assert report["initial_loss"].value > 2 * math.log(4)

    dead = mlp()
    dead[0].bias.data[:12] = -100.0  # 12 of 16 hidden units never fire
    fractions = relu_activity(dead, x)
    assert list(fractions.values()) == [0.75]
    report = gg.check.babysit(dead, gg.losses.CrossEntropy(), (x, y), overfit_steps=100,
                              verbose=False)
    assert report["dead_relu"].status == "warn" and report["dead_relu"].value == 0.75


def test_chance_levels():
    assert chance_loss(gg.losses.CrossEntropy(), 10) == pytest.approx(math.log(10))
    assert chance_loss(gg.softmax_cross_entropy, 3) == pytest.approx(math.log(3))
    assert chance_loss(gg.losses.MulticlassHinge(margin=2.0), 5) == pytest.approx(8.0)
    assert chance_loss(gg.losses.SquaredHinge(margin=2.0), 5) == pytest.approx(16.0)
    assert chance_loss(gg.losses.NLL(), 4) == pytest.approx(math.log(4))
    assert chance_loss(gg.losses.BCEWithLogits(), 3) == pytest.approx(math.log(2))
    assert chance_loss(gg.losses.MSE(), 5) is None
    # an unknown chance level is a skip, unless given
    x, y = blobs()
    onehot = np.eye(4, dtype=np.float32)[y]
    report = gg.check.babysit(mlp(), gg.losses.MSE(), (x, onehot), verbose=False)
    assert report["initial_loss"].status == "skip"
    report = gg.check.babysit(mlp(), gg.losses.MSE(), (x, onehot), chance=0.25, verbose=False)
    assert report["initial_loss"].status in ("ok", "warn")


def test_a_loss_states_its_own_chance_level():
    # The core knows no concrete loss by name: a loss declares chance_loss(n_classes).
    class Focal(Loss):
        def chance_loss(self, n_classes):
            return 0.5 * math.log(n_classes)

    class NamedLikeABuiltin(Loss):
        name = "cross_entropy"

    assert chance_loss(Focal(), 4) == pytest.approx(0.5 * math.log(4))
    assert chance_loss(NamedLikeABuiltin(), 4) is None


def test_data_from_a_loader_with_its_transform():
    x, y = blobs()
    standardize = gg.transforms.Standardize().fit(x * 5 + 3)
    loader = DataLoader(ArrayDataset(x * 5 + 3, y), batch_size=32, transform=standardize)
    report = gg.check.babysit(mlp(), gg.losses.CrossEntropy(), loader, verbose=False)
    assert report.ok
    with pytest.raises(TypeError, match="babysit: data must be"):
        gg.check.babysit(mlp(), gg.losses.CrossEntropy(), x, verbose=False)


def test_report_prints_a_table(capsys):
    gg.check.babysit(mlp(), gg.losses.CrossEntropy(), blobs(), verbose=True)
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["check", "status", "value", "detail"]
    assert "gradient_check  OK" in out


# -- lr_find ---------------------------------------------------------------------------------


def test_lr_find_suggests_a_sane_rate_and_restores_the_model(tmp_path):
    x, y = blobs(n=256)
    model = gg.Sequential(gg.layers.Linear(6, 4, rng=0))  # softmax regression: well posed
    snap = snapshot(model)
    result = gg.check.lr_find(model, gg.losses.CrossEntropy(), (x, y), min_lr=1e-5, max_lr=100.0,
                              num=8, steps=20, plot=tmp_path / "lr.png", verbose=False)
    assert_untouched(model, snap)
    assert result.lrs == pytest.approx(np.geomspace(1e-5, 100.0, 8))
    # the smallest rate barely moves; the suggestion is the best loss and well below the start
    assert result.losses[0] == pytest.approx(result.initial_loss, rel=0.05)
    best = int(np.nanargmin(np.where(result.diverged, np.nan, result.losses)))
    assert result.suggestion == result.lrs[best]
    assert 1e-2 <= result.suggestion <= 10.0
    assert result.losses[best] < 0.5 * result.initial_loss
    assert (tmp_path / "lr.png").stat().st_size > 0 and result.plot_path == str(tmp_path / "lr.png")
    json.dumps(result.to_dict())
    assert "suggested learning rate" in result.table()

    # training with the suggestion from the same start actually learns
    opt = gg.optimizers.SGD(model.parameters(), lr=result.suggestion)
    loss = gg.losses.CrossEntropy()
    for _ in range(20):
        opt.zero_grad()
        value = loss(model(gg.tensor(x)), gg.tensor(y))
        value.backward()
        opt.step()
    assert value.item() < 0.5 * result.initial_loss


def test_lr_find_marks_divergence():
    x, y = blobs(n=128)
    result = gg.check.lr_find(mlp(), gg.losses.CrossEntropy(), (x, y), min_lr=1e-3,
                              max_lr=1e3, num=4, steps=10, verbose=False)
    assert result.diverged[-1] and not result.diverged[0]
    assert result.suggestion is not None and result.suggestion < 1e3
    with pytest.raises(ValueError, match="min_lr < max_lr"):
        gg.check.lr_find(mlp(), gg.losses.CrossEntropy(), (x, y), min_lr=1.0, max_lr=0.1)
