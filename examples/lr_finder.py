"""The learning-rate finder, gg.check.lr_find, on a small digits MLP; then training with its pick.

lr_find tries ``--num`` log-spaced rates η_k = η_min·(η_max/η_min)^(k/(num−1)).
For each it starts from the same initial weights, takes ``--lr-steps`` SGD
steps on the same mini-batches of a seeded subset, and scores the loss on that
subset afterwards. Rates whose loss became NaN/inf or ended above twice the
initial loss diverged; the suggestion is the rate with the lowest final loss
among the others. The model is left exactly as it was.

The script prints lr_find's table and suggestion, saves the curve as
``lr_finder.png`` in ``--out``, and then trains the model for a few epochs with
SGD at the suggested rate, printing the validation accuracy it reaches.

    python examples/lr_finder.py --out pictures/
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # pictures go to files, no display needed

import numpy as np  # noqa: E402

import graphgrad as gg  # noqa: E402


def load_digits_standardized(seed: int):
    """Standardised 8×8 digits split 75/25 into (train, validation), stratified."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SystemExit(
            f"this example needs scikit-learn ({exc}); pip install 'graphgrad[examples]'"
        ) from exc
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=seed)
    standardize = gg.transforms.Standardize().fit(x_train)
    return (standardize(x_train), y_train), (standardize(x_val), y_val)


def main(argv=None) -> dict:
    """Run the example with the command-line arguments `argv` (default: sys.argv).

    Returns what it measured and wrote, so tests can check it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the picture (default: here)")
    parser.add_argument("--num", type=int, default=13, help="how many rates to try")
    parser.add_argument("--lr-steps", type=int, default=30, help="SGD steps per rate")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs afterwards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("GRAPHGRAD_EXAMPLE_QUICK") == "1",
                        help="4 rates, 3 steps, 1 epoch (also GRAPHGRAD_EXAMPLE_QUICK=1)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    num, lr_steps, epochs = (4, 3, 1) if args.quick else (args.num, args.lr_steps, args.epochs)
    gg.manual_seed(args.seed)

    (x_train, y_train), (x_val, y_val) = load_digits_standardized(args.seed)
    model = gg.Sequential(gg.layers.Linear(64, 64), gg.layers.Tanh(), gg.layers.Linear(64, 10))
    loss = gg.losses.CrossEntropy()

    picture = args.out / "lr_finder.png"
    result = gg.check.lr_find(model, loss, (x_train, y_train), optimizer="sgd",
                              min_lr=1e-4, max_lr=10.0, num=num, steps=lr_steps,
                              batch_size=32, n_samples=512, seed=args.seed, plot=picture,
                              verbose=True)
    if result.suggestion is None:
        print("every rate diverged; nothing to train with")
        return {"result": result, "history": None, "picture": picture}
    if result.plot_path is not None:
        print(f"wrote {result.plot_path}")

    train = gg.data.DataLoader(gg.data.ArrayDataset(x_train, y_train), batch_size=32,
                               seed=args.seed)
    val = gg.data.DataLoader(gg.data.ArrayDataset(x_val, y_val), batch_size=256, shuffle=False)
    optimizer = gg.optimizers.SGD(model.parameters(), lr=result.suggestion)
    trainer = gg.Trainer(model, loss, optimizer, progress=False)
    history = trainer.fit(train, val, epochs=epochs)
    print(f"SGD at the suggested lr {result.suggestion:.3g}: after {len(history)} epoch(s) "
          f"val_loss {history.last['val_loss']:.4f}, val_accuracy "
          f"{history.last['val_accuracy']:.4f}")
    return {"result": result, "history": history, "picture": picture}


if __name__ == "__main__":
    main()
