"""gg.compile(fn, validate=N): a replay checked against eager catches what guards cannot."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile import CompileWarning


def _setup():
    gg.manual_seed(0)
    lin = gg.layers.Linear(4, 3)
    rng = np.random.default_rng(1)
    for p in lin.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    opt = gg.optimizers.SGD(lin.parameters(), lr=0.1, momentum=0.9)
    scale = gg.layers.LeakyReLU(0.1)

    def step(x):
        opt.zero_grad()
        loss = scale(lin(x)).sum()
        loss.backward()
        opt.step()
        return loss

    return lin, opt, scale, step


def test_validation_passes_a_correct_replay_and_keeps_eager_state():
    lin, opt, _, step = _setup()
    _, opt2, _, step2 = _setup()
    compiled = gg.compile(step, validate=1)
    x = gg.tensor(np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for _ in range(6):
            got, want = compiled(x), step2(x)
            np.testing.assert_allclose(got.data, want.data, rtol=1e-5)
    assert compiled.validations == 4 and not compiled.mismatches
    for p, q in zip(lin.parameters(), _twin_params(opt2), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-5)


def _twin_params(opt):
    return [p for g in opt.param_groups for p in g["params"]]


def test_validation_catches_an_injected_stale_replay():
    _, _, act, step = _setup()
    compiled = gg.compile(step, validate=2)
    x = gg.tensor(-np.abs(np.random.default_rng(2).standard_normal((5, 4))).astype(np.float32))
    for _ in range(3):
        compiled(x)
    # bypass Module.__setattr__ (and so the structure guard): only validation can see it
    object.__setattr__(act, "slope", 0.9)
    eager_twin = _setup()
    for _ in range(3):
        eager_twin[3](x)
    object.__setattr__(eager_twin[2], "slope", 0.9)
    with pytest.warns(CompileWarning, match="differed from eager: output 0"):
        outs = [compiled(x) for _ in range(2)]
        wants = [eager_twin[3](x) for _ in range(2)]
    assert compiled.mismatches
    # the validated call returned eager's result, and the step now runs eager
    np.testing.assert_allclose(outs[-1].data, wants[-1].data, rtol=1e-5)
    before = compiled.replays
    np.testing.assert_allclose(compiled(x).data, eager_twin[3](x).data, rtol=1e-5)
    assert compiled.replays == before


def test_validate_must_be_non_negative():
    with pytest.raises(ValueError, match="validate"):
        gg.compile(lambda x: x, validate=-1)
