"""Digits MLP: standardisation, early stopping and training curves with gg.Trainer.

scikit-learn's bundled 8×8 digits (1797 images, 10 classes, no download) are
split 60/20/20 into training, validation and test sets, stratified by class.
Each pixel is standardised with statistics of the training set only,

    x' = (x − μ) / σ,   μ, σ per pixel over the training images

(pixels that are constant in training are only centred), and an MLP

    64 → 128 → ReLU → Dropout(0.2) → 10

is trained with Adam on the mean cross-entropy  L = −(1/N) Σᵢ log softmax(zᵢ)_{yᵢ}.
Early stopping watches the validation loss, stops after ``--patience`` epochs
without improvement and restores the weights of the best epoch. The script
prints a line every 5 epochs and the test accuracy, and saves the curves
(History.plot) and the history as JSON into ``--out``.

    python examples/digits_mlp.py --out pictures/
    python examples/digits_mlp.py --quick          # 3 epochs, for a smoke test
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed: pictures go to files

import numpy as np  # noqa: E402

import graphgrad as gg  # noqa: E402
from graphgrad.training.callbacks import EpochLogger  # noqa: E402


def load_splits(seed: int):
    """(x_train, y_train), (x_val, y_val), (x_test, y_test): 60/20/20, stratified."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SystemExit(
            f"this example needs scikit-learn ({exc}); pip install 'graphgrad[examples]'"
        ) from exc
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, stratify=y, random_state=seed)
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def build_model(hidden: int = 128, dropout: float = 0.2):
    """The MLP 64 → hidden → ReLU → Dropout → 10 (logits)."""
    return gg.Sequential(
        gg.layers.Linear(64, hidden, init="he_normal"),
        gg.layers.ReLU(),
        gg.layers.Dropout(dropout),
        gg.layers.Linear(hidden, 10, init="xavier_uniform"),
    )


def main(argv=None) -> dict:
    """Run the example with the command-line arguments `argv` (default: sys.argv).

    Returns what it measured and wrote, so tests can check it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the pictures and the history (default: here)")
    parser.add_argument("--epochs", type=int, default=100, help="at most this many epochs")
    parser.add_argument("--patience", type=int, default=8,
                        help="epochs without a better validation loss before stopping")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("GRAPHGRAD_EXAMPLE_QUICK") == "1",
                        help="a few epochs only (also GRAPHGRAD_EXAMPLE_QUICK=1)")
    args = parser.parse_args(argv)
    epochs = 3 if args.quick else args.epochs
    args.out.mkdir(parents=True, exist_ok=True)
    gg.manual_seed(args.seed)

    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_splits(args.seed)
    standardize = gg.transforms.Standardize(mode="per_feature").fit(x_train)
    train_loader = gg.data.DataLoader(gg.data.ArrayDataset(x_train, y_train), batch_size=64,
                                      shuffle=True, seed=args.seed, transform=standardize)
    val_loader = gg.data.DataLoader(gg.data.ArrayDataset(x_val, y_val), batch_size=256,
                                    shuffle=False, transform=standardize)
    print(f"digits: {len(x_train)} training, {len(x_val)} validation, {len(x_test)} test images")

    model = build_model()
    optimizer = gg.optimizers.Adam(model.parameters(), lr=args.lr)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(), optimizer, metrics=["accuracy"],
                         progress=False)
    stopper = gg.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best=True)
    history = trainer.fit(train_loader, val_loader, epochs=epochs, early_stopping=stopper,
                          callbacks=[EpochLogger(every=5)])

    logits = trainer.predict(standardize(x_test))
    test_accuracy = float((logits.argmax(axis=1) == y_test).mean())
    if history.stop_reason == "early_stopping":
        print(f"early stopping after epoch {len(history)}: no better val_loss for "
              f"{args.patience} epochs; restored the weights of epoch {history.best_epoch + 1}")
    else:
        print(f"ran all {len(history)} epochs; best val_loss at epoch {history.best_epoch + 1}")
    print(f"test accuracy (best weights): {test_accuracy:.4f}")

    curves = args.out / "digits_curves.png"
    history.plot(curves)
    history.save(args.out / "digits_history.json")
    print(f"wrote {curves} and {args.out / 'digits_history.json'}")
    return {"history": history, "test_accuracy": test_accuracy, "curves": curves}


if __name__ == "__main__":
    main()
