"""The bench's W6 transformer-encoder training step compiles with no fallback and replays
what eager computes; the W6 variants agree with each other (and with PyTorch)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from graphgrad.compile import CompileWarning

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import workloads_transformer as w6  # noqa: E402


def test_w6_step_compiles_without_fallback_and_equals_eager_over_20_steps():
    eager, compiled = w6.build("graphgrad-layers"), w6.build("graphgrad-compiled")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)  # any fallback or re-record warns
        for i in range(20):
            want, got = eager(), compiled()
            assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (i, got, want)
    text = compiled.compiled.explain()
    assert "runs eager" not in text and "18 replay(s)" in text, text
    for (name, p), (_, q) in zip(eager.model.named_parameters(),
                                 compiled.model.named_parameters(), strict=True):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-6, atol=1e-6, err_msg=name)


def test_w6_plain_ops_step_equals_the_layers_step():
    ops, layers = w6.build("graphgrad"), w6.build("graphgrad-layers")
    for _ in range(3):
        np.testing.assert_allclose(ops(), layers(), rtol=1e-5)


def test_w6_torch_step_equals_the_layers_step():
    pytest.importorskip("torch", reason="the PyTorch comparison needs torch (bench extra)")
    torch_step, layers = w6.build("torch"), w6.build("graphgrad-layers")
    for _ in range(3):
        np.testing.assert_allclose(torch_step(), layers(), rtol=1e-5)


def test_w6_reset_restarts_from_the_first_weights():
    step = w6.build("graphgrad-compiled")
    first = [step() for _ in range(3)]
    step.reset()
    np.testing.assert_allclose([step() for _ in range(3)], first, rtol=1e-6)


def test_w6_unknown_framework_names_the_choices():
    with pytest.raises(ValueError, match="W6 has no 'numpy' variant"):
        w6.build("numpy")


@pytest.mark.parametrize("need_weights", [True, False])
def test_attention_masks_passed_to_the_step_are_inputs_of_the_replay(need_weights):
    # the padding mask changes after the plan is proved (and blocks a whole row once):
    # the replay must read it, on both MultiheadAttention paths, without falling back
    import graphgrad as gg
    mha = gg.layers.MultiheadAttention(8, 2, rng=0)
    x = gg.tensor(np.random.default_rng(0).normal(size=(3, 5, 8)))

    def loss(x, mask):
        out, weights = mha(x, x, x, key_padding_mask=mask, need_weights=need_weights)
        return (out * out).sum() + (0.0 if weights is None else (weights * weights).sum())

    step = gg.compile(loss)
    open_, tail, row = (np.zeros((3, 5), bool) for _ in range(3))
    tail[:, 3:] = True
    row[0] = True
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for mask in (open_, open_, open_, tail, row, open_):
            want = float(loss(x, gg.tensor(mask)).data)
            got = float(step(x, gg.tensor(mask)).data)
            assert got == pytest.approx(want, rel=1e-12), mask
    assert "runs eager" not in step.explain()
    if need_weights:  # a fully blocked row has weights 0 (graphgrad's documented choice)
        _, weights = mha(x, x, x, key_padding_mask=gg.tensor(row))
        assert np.all(weights.data[0] == 0) and np.allclose(weights.data[1:].sum(-1), 1)
