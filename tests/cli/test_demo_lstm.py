"""`graphgrad demo --model lstm` and the digit-sorting task it trains on."""

from __future__ import annotations

import re

import numpy as np
import pytest

from graphgrad.cli import main
from graphgrad.data.sequence_tasks import SEP, answer_slice, digit_task, next_token_pairs


def test_digit_task_sorts_or_reverses():
    seqs = digit_task(50, 6, "sort", rng=0)
    assert seqs.shape == (50, 13) and seqs.dtype == np.int64
    assert np.all(seqs[:, 6] == SEP)
    np.testing.assert_array_equal(seqs[:, 7:], np.sort(seqs[:, :6], axis=1))
    rev = digit_task(5, 4, "reverse", rng=1)
    np.testing.assert_array_equal(rev[:, 5:], rev[:, 3::-1])
    x, y = next_token_pairs(seqs)
    np.testing.assert_array_equal(y[:, answer_slice(6)], seqs[:, 7:])
    np.testing.assert_array_equal(x[:, answer_slice(6)], seqs[:, 6:12])
    np.testing.assert_array_equal(digit_task(3, 4, rng=7), digit_task(3, 4, rng=7))
    with pytest.raises(ValueError, match="task must be one of"):
        digit_task(3, 4, "copy")


def test_quick_lstm_demo_prints_progress_and_samples(capsys):
    assert main(["demo", "--model", "lstm", "--quick"]) == 0
    out = capsys.readouterr().out
    steps = re.findall(r"^step +(\d+)  loss ([0-9.]+)  held-out token accuracy \[[#.]{20}\] "
                       r"([0-9.]+)%", out, re.MULTILINE)
    assert [int(s[0]) for s in steps] == [20, 40]
    assert "samples (held out, decoded greedily):" in out
    assert len(re.findall(r"^  \d{8} -> \d{8}  (ok|WRONG)$", out, re.MULTILINE)) == 4
    assert re.search(r"^held-out token accuracy: \d+\.\d\d% \(target 99%\)", out, re.MULTILINE)


def test_full_lstm_demo_reaches_the_target(capsys):
    from graphgrad.cli.demo_lstm import run_lstm_demo

    result = run_lstm_demo()
    out = capsys.readouterr().out
    assert result["reached"] and result["token_accuracy"] >= 0.99, out
    assert result["sequence_accuracy"] >= 0.9, out
