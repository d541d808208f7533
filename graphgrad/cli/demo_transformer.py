"""``graphgrad demo --model transformer``: a causal transformer learns to sort digit strings.

The task is the LSTM demo's (``graphgrad.data.sequence_tasks``, generated, no
download): a sequence ``x₁ … x₈ SEP y₁ … y₈`` with y = x sorted, read left to
right and trained, teacher-forced, to predict each next token; only the 8
answer tokens are scored.  The model: a token embedding 11→64 plus a learned
position embedding (an ``Embedding`` of the 16 positions, looked up at
``arange(T)``), a ``TransformerEncoder`` of 2 pre-norm
``TransformerEncoderLayer`` (d_model 64, 4 heads, feed-forward 128, no
dropout) under a causal mask (position t attends to positions ≤ t), a final
``LayerNorm`` and a linear read-out 64→11.  AdamW (lr 3e-3, weight decay
0.01), batches of 64 fresh sequences; the training step runs under
``gg.compile`` (the whole step — forward, backward, AdamW update — replayed as
generated Numba code; no fallback).  Every 50 steps the token accuracy on 1000
held-out sequences is measured; training stops at the target (99 %) or after
``max_steps``.  It prints a progress line per evaluation and a few held-out
samples decoded greedily.  Timings are in the README and ``docs/layers.md``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from graphgrad.cli._sequence_demo import TARGET_TOKEN_ACCURACY, report, train_to_target

LENGTH, D_MODEL, HEADS, FEEDFORWARD, LAYERS, BATCH, LR = 8, 64, 4, 128, 2, 64, 3e-3


def _model(rng, max_len: int = 2 * LENGTH):
    import graphgrad as gg
    from graphgrad.data.sequence_tasks import VOCAB

    class SortTransformer(gg.Module):
        """Token + learned position embedding → causal TransformerEncoder → LayerNorm → Linear."""

        def __init__(self):
            super().__init__()
            self.tokens = gg.layers.Embedding(VOCAB, D_MODEL, rng=rng)
            self.positions = gg.layers.Embedding(max_len, D_MODEL, rng=rng)
            layer = gg.layers.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0,
                                                      norm_first=True, rng=rng)
            self.encoder = gg.layers.TransformerEncoder(layer, LAYERS,
                                                        norm=gg.layers.LayerNorm(D_MODEL))
            self.head = gg.layers.Linear(D_MODEL, VOCAB, rng=rng)

        def forward(self, tokens):
            t = tokens.shape[1]
            causal = np.triu(np.ones((t, t), dtype=bool), 1)  # True = blocked: the future
            x = self.tokens(tokens) + self.positions(np.arange(t))
            return self.head(self.encoder(x, mask=causal, is_causal=True))

    return SortTransformer()


def run_transformer_demo(quick: bool = False, max_steps: int | None = None,
                         seed: int | None = None, compile: bool = True,
                         file=None) -> dict[str, Any]:
    """Train the sorting transformer (see the module docstring), printing to ``file``.

    ``quick=True`` is a smoke run (40 steps, evaluation every 20);
    ``compile=False`` runs the step eagerly.  Returns ``{"token_accuracy",
    "sequence_accuracy", "steps", "seconds", "target", "reached"}`` as the LSTM
    demo does.
    """
    import graphgrad as gg
    from graphgrad.data.sequence_tasks import VOCAB, answer_slice, digit_task, next_token_pairs

    file = file or sys.stdout
    seed = 0 if seed is None else int(seed)
    max_steps = (40 if quick else 1500) if max_steps is None else int(max_steps)
    rng = np.random.default_rng(seed)
    model = _model(rng)
    opt = gg.optimizers.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    held_out = digit_task(1000, LENGTH, "sort", rng=seed + 1000)
    answers = answer_slice(LENGTH)
    print(f"graphgrad demo: a causal transformer ({LAYERS} pre-norm encoder layers, d_model "
          f"{D_MODEL}, {HEADS} heads, feed-forward {FEEDFORWARD}, learned positions; "
          f"{model.num_parameters():,} parameters) learns to sort strings of {LENGTH} digits\n"
          f"(x SEP sorted(x), next-token prediction, batches of {BATCH} fresh sequences, AdamW "
          f"lr {LR}, step {'compiled with gg.compile' if compile else 'eager'}; target "
          f"{TARGET_TOKEN_ACCURACY:.0%} token accuracy on 1000 held-out sequences)\n",
          file=file, flush=True)

    def step(x, y_answers):
        logits = model(x)[:, answers]
        loss = gg.softmax_cross_entropy(logits.reshape((-1, VOCAB)), y_answers).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    accuracy, steps, seconds = train_to_target(
        gg.compile(step) if compile else step, model,
        lambda: next_token_pairs(digit_task(BATCH, LENGTH, "sort", rng=rng)),
        held_out, LENGTH, max_steps, 20 if quick else 50, file)
    return report(model, held_out, LENGTH, accuracy, steps, seconds, file)
