"""What the sequence demos (``--model lstm``, ``--model transformer``) share.

Both train a next-token model on the digit-sorting task of
``graphgrad.data.sequence_tasks``: a step loop that scores only the answer
tokens, a held-out evaluation with a progress bar every few steps, and a few
held-out samples decoded greedily at the end.
"""

from __future__ import annotations

import time

import numpy as np

TARGET_TOKEN_ACCURACY = 0.99


def greedy(model, seqs: np.ndarray, length: int) -> np.ndarray:
    """Decode the answers: feed ``x SEP``, then each predicted token back in (argmax)."""
    import graphgrad as gg

    tokens = seqs[:, :length + 1].copy()
    with gg.no_grad():
        for _ in range(length):
            nxt = model(tokens).data[:, -1].argmax(-1)
            tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
    return tokens[:, length + 1:]


def train_to_target(step, model, batches, held_out, length: int, max_steps: int, every: int,
                    file) -> tuple[float, int, float]:
    """Call ``step(x, y_answers)`` on fresh batches until the held-out token accuracy reaches
    the target or ``max_steps``; print a progress line every ``every`` steps.

    ``batches()`` returns one ``(x, y)`` next-token pair of arrays; ``y_answers`` is the
    contiguous flat vector of its answer targets, ``y[:, answer_slice(length)]``.  The
    accuracy is the fraction of held-out answer tokens predicted right, teacher-forced.
    Returns ``(accuracy, steps, seconds)``.  The matrix products run on one BLAS thread, as
    the CNN demo's do: they are small, and on a loaded machine OpenBLAS's spinning threads
    made the LSTM demo's step 20x slower in CPU time.
    """
    from graphgrad.cli.demo import _one_blas_thread

    with _one_blas_thread():
        return _train(step, model, batches, held_out, length, max_steps, every, file)


def _train(step, model, batches, held_out, length, max_steps, every, file):
    import graphgrad as gg
    from graphgrad.data.sequence_tasks import answer_slice, next_token_pairs

    hx, hy = next_token_pairs(held_out)
    answers = answer_slice(length)
    start, n, accuracy = time.perf_counter(), 0, 0.0
    while n < max_steps:
        x, y = batches()
        loss = step(x, np.ascontiguousarray(y[:, answers]).reshape(-1))
        n += 1
        if n % every == 0 or n == max_steps:
            with gg.no_grad():
                pred = model(hx).data[:, answers].argmax(-1)
            accuracy = float((pred == hy[:, answers]).mean())
            bar = "#" * int(20 * accuracy) + "." * (20 - int(20 * accuracy))
            print(f"step {n:5d}  loss {float(loss.data):.4f}  held-out token accuracy "
                  f"[{bar}] {accuracy:.2%}  {time.perf_counter() - start:6.1f} s",
                  file=file, flush=True)
            if accuracy >= TARGET_TOKEN_ACCURACY:
                break
    return accuracy, n, time.perf_counter() - start


def report(model, held_out, length: int, accuracy: float, steps: int, seconds: float,
           file) -> dict:
    """Print four greedy held-out samples and the summary line; return the demo's result dict."""
    from graphgrad.cli.demo import _one_blas_thread

    with _one_blas_thread():
        decoded = greedy(model, held_out[:200], length)
    sequence_accuracy = float((decoded == held_out[:200, length + 1:]).all(axis=1).mean())
    print("\nsamples (held out, decoded greedily):", file=file)
    for seq, out in zip(held_out[:4], decoded[:4], strict=True):
        ok = "ok" if np.array_equal(out, seq[length + 1:]) else "WRONG"
        print(f"  {''.join(map(str, seq[:length]))} -> {''.join(map(str, out))}  {ok}",
              file=file)
    print(f"\nheld-out token accuracy: {accuracy:.2%} (target {TARGET_TOKEN_ACCURACY:.0%}); "
          f"whole sequences right (greedy, 200 held out): {sequence_accuracy:.1%}; "
          f"{steps} steps in {seconds:.1f} s", file=file)
    return {"token_accuracy": accuracy, "sequence_accuracy": sequence_accuracy,
            "steps": steps, "seconds": seconds, "target": TARGET_TOKEN_ACCURACY,
            "reached": accuracy >= TARGET_TOKEN_ACCURACY}
