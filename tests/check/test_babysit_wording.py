"""babysit says what it means (issue 12): update_ratio lists only the flagged weights, a loss
that is NaN before any update is not blamed on the learning rate or a backward, and a
summed loss is compared with the chance level per value."""

from __future__ import annotations

import math

import numpy as np

import graphgrad as gg


def blobs(n=200, d=6, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, d)) * 2.0
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.standard_normal((n, d))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype(np.float32), y.astype(np.int64)


def mlp(d=6, hidden=16, classes=4, seed=0):
    return gg.Sequential(gg.layers.Linear(d, hidden, rng=seed), gg.layers.ReLU(),
                         gg.layers.Linear(hidden, classes, rng=seed + 1))


def test_update_ratio_lists_only_the_weights_below_the_range():
    x, y = blobs()
    model = mlp()
    model[2].weight.data *= 1e4  # its relative update becomes tiny; the first layer's does not
    report = gg.check.babysit(model, gg.losses.CrossEntropy(), (x, y), lr=1e-3,
                              overfit_steps=20, verbose=False)
    check = report["update_ratio"]
    ratios = check.data["ratios"]
    low = [n for n, r in ratios.items() if r < 1e-4]
    healthy = [n for n, r in ratios.items() if r >= 1e-4]
    assert low == ["2.weight"] and healthy == ["0.weight"]
    flagged_part = check.detail.split(" below ")[0]
    assert flagged_part == f"2.weight {ratios['2.weight']:.1e}"
    assert "0.weight" not in flagged_part


def test_a_loss_that_is_nan_before_any_update_is_named_for_what_it_is():
    x, y = blobs()
    x[::3, 2] = np.nan  # bad data: the loss is NaN at step 0
    report = gg.check.babysit(mlp(), gg.losses.CrossEntropy(), (x, y), overfit_steps=20,
                              verbose=False)
    initial = report["initial_loss"]
    assert initial.status == "fail"
    assert "before any update" in initial.detail and "learning rate is not the cause" in \
        initial.detail and "NaN/inf in the inputs" in initial.detail
    for name in ("update_ratio", "overfit", "gradient_check"):
        detail = report[name].detail
        assert report[name].status == "skip", (name, detail)
        assert "learning rate" not in detail and "a backward is wrong" not in detail, detail
    assert "too low" not in str(report.to_dict()) and "too high" not in str(report.to_dict())


def test_a_summed_loss_is_compared_with_chance_per_value():
    x, y = blobs()
    mean_report = gg.check.babysit(mlp(), gg.losses.CrossEntropy(), (x, y), overfit_steps=20,
                                   verbose=False)
    sum_report = gg.check.babysit(mlp(), gg.losses.CrossEntropy(reduction="sum"), (x, y),
                                  overfit_steps=20, verbose=False)
    mean_check, sum_check = mean_report["initial_loss"], sum_report["initial_loss"]
    assert mean_check.status == "ok"
    # the same model and samples: the per-value loss equals the mean-reduced loss
    assert math.isclose(sum_check.value, mean_check.value, rel_tol=1e-5)
    assert sum_check.status == "ok"  # was "warn": 64 · log 4 against log 4
    assert "reduction='sum'" in sum_check.detail and "over 64 values" in sum_check.detail
