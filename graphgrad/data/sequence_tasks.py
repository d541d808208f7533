"""Generated algorithmic sequence tasks (no download): sort or reverse a string of digits.

A sample is one token sequence ``x₁ … x_L SEP y₁ … y_L`` over the vocabulary
0–9 (digits) and 10 (``SEP``), where y is x sorted (``task="sort"``) or
reversed (``task="reverse"``).  A causal sequence model (an LSTM, a causal
transformer) reads it left to right and is trained to predict each next token;
only the L predictions after ``SEP`` are scored (`answer_slice`).
"""

from __future__ import annotations

import numpy as np

VOCAB = 11  # digits 0-9 and SEP
SEP = 10
TASKS = ("sort", "reverse")


def digit_task(n: int, length: int = 8, task: str = "sort", rng=None) -> np.ndarray:
    """`n` sequences ``x SEP y`` of shape (n, 2·length + 1), int64; y = sorted(x) or x reversed.

    ``rng`` is a ``numpy.random.Generator`` or a seed (None: fresh entropy).
    """
    if task not in TASKS:
        raise ValueError(f"digit_task: task must be one of {TASKS}, got {task!r}")
    if n < 1 or length < 1:
        raise ValueError(f"digit_task: n and length must be >= 1, got n={n}, length={length}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = rng.integers(0, 10, size=(n, length))
    y = np.sort(x, axis=1) if task == "sort" else x[:, ::-1]
    sep = np.full((n, 1), SEP)
    return np.concatenate([x, sep, y], axis=1).astype(np.int64)


def next_token_pairs(seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) for next-token prediction: ``seqs[:, :-1]`` and ``seqs[:, 1:]``."""
    return seqs[:, :-1], seqs[:, 1:]


def answer_slice(length: int) -> slice:
    """The positions of the (inputs, targets) pairs whose target is an answer token y_j."""
    return slice(length, 2 * length)
