"""An LSTM training step compiles under gg.compile with no fallback and replays exactly."""

from __future__ import annotations

import warnings

import numpy as np

import graphgrad as gg
from graphgrad.cli.demo_lstm import _model
from graphgrad.data.sequence_tasks import VOCAB, digit_task, next_token_pairs


def _trainer():
    model = _model(np.random.default_rng(0))
    opt = gg.optimizers.Adam(model.parameters(), lr=0.01)

    def step(x, y):
        loss = gg.softmax_cross_entropy(model(x).reshape((-1, VOCAB)), y.reshape(-1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return model, step


def test_lstm_training_step_compiles_without_fallback_and_matches_eager():
    eager_model, eager = _trainer()
    compiled_model, step = _trainer()
    compiled = gg.compile(step)
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback warns (CompileWarning)
        for _ in range(4):
            x, y = next_token_pairs(digit_task(8, 4, "sort", rng))
            want, got = eager(x, y), compiled(x, y)
            np.testing.assert_allclose(got.data, want.data, rtol=1e-5, atol=1e-6)
    text = compiled.explain()
    assert "replay(s)" in text and "runs eager" not in text and "2 replay(s)" in text
    assert "lstm_cell" in text
    for (name, p), (_, q) in zip(eager_model.named_parameters(),
                                 compiled_model.named_parameters(), strict=True):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-4, atol=1e-6, err_msg=name)
