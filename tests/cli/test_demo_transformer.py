"""`graphgrad demo --model transformer`: CLI wiring, a falling loss, no compile fallback."""

from __future__ import annotations

import re
import warnings

import numpy as np

import graphgrad as gg
from graphgrad.cli import main
from graphgrad.cli.demo_transformer import _model
from graphgrad.compile import CompileWarning
from graphgrad.data.sequence_tasks import VOCAB, digit_task, next_token_pairs

STEP_LINE = re.compile(r"^step +(\d+)  loss ([0-9.]+)  held-out token accuracy \[[#.]{20}\] "
                       r"([0-9.]+)%", re.MULTILINE)


def test_quick_transformer_demo_prints_progress_samples_and_a_falling_loss(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)  # the compiled step never falls back
        assert main(["demo", "--model", "transformer", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "2 pre-norm encoder layers, d_model 64, 4 heads" in out
    steps = STEP_LINE.findall(out)
    assert [int(s[0]) for s in steps] == [20, 40]
    # ln(10) = 2.30 is the loss of a uniform guess over the digits; 40 steps go well below it
    assert float(steps[-1][1]) < 1.5, out
    assert float(steps[-1][2]) > 30.0, out  # chance is 10 %
    assert "samples (held out, decoded greedily):" in out
    assert len(re.findall(r"^  \d{8} -> \d{8}  (ok|WRONG)$", out, re.MULTILINE)) == 4
    assert re.search(r"^held-out token accuracy: \d+\.\d\d% \(target 99%\)", out, re.MULTILINE)


def test_the_model_is_causal_a_later_token_never_changes_an_earlier_logit():
    model = _model(np.random.default_rng(0))
    x, _ = next_token_pairs(digit_task(3, 8, "sort", rng=1))
    changed = x.copy()
    changed[:, 10:] = (changed[:, 10:] + 3) % VOCAB
    with gg.no_grad():
        a, b = model(x).data, model(changed).data
    np.testing.assert_array_equal(a[:, :10], b[:, :10])
    assert not np.allclose(a[:, 10:], b[:, 10:])


def test_the_position_embedding_tells_repeated_tokens_apart():
    model = _model(np.random.default_rng(0))
    x = np.full((1, 6), 5)
    with gg.no_grad():
        out = model(x).data[0]
        # without positions, causal attention over equal tokens averages equal values,
        # so every position would give the same logits
        model.positions.weight.data[...] = 0
        flat = model(x).data[0]
    np.testing.assert_allclose(flat, np.broadcast_to(flat[0], flat.shape), rtol=1e-5, atol=1e-5)
    assert np.abs(out - out[0]).max() > 1e-2


def test_full_transformer_demo_reaches_the_target(capsys):
    from graphgrad.cli.demo_transformer import run_transformer_demo

    result = run_transformer_demo()
    out = capsys.readouterr().out
    assert result["reached"] and result["token_accuracy"] >= 0.99, out
    assert result["sequence_accuracy"] >= 0.9, out
