"""Hierarchical softmax on many classes: accuracy and time per step against the full softmax.

A full softmax over C classes scores every class for every sample, O(H·C) for
H features. The hierarchical softmax (``gg.losses.HierarchicalSoftmax``)
splits the classes into K ≈ √C clusters of S = ⌈C/K⌉ consecutive class ids
and factorises

    p(c | h) = p(k | h) · p(c | k, h),      both factors softmaxes,

so the loss −log p(k | h) − log p(c | k, h) of a sample touches K + S ≈ 2√C
output units: O(H·√C).

Synthetic data (``--classes`` C, default 1000): classes come in groups of S
similar classes (a group centre plus a class offset, plus Gaussian noise per
sample), as words come in groups of related words. Three models share one
feature layer h = tanh(x·W + b) (32 → 64) and are trained with Adam for
``--epochs`` epochs:

* ``full softmax``       Linear(64, C) + the fused softmax cross-entropy;
* ``hierarchical``       the tree's clusters are the groups of similar classes;
* ``hierarchical, shuffled tree``  the same data with the class ids permuted,
  so each cluster is an arbitrary mix of classes (the tree ignores the data).

The script prints, per model, the test accuracy after every epoch and the
median time of forward + backward and of the optimizer step. Then it times
forward + backward of the two output layers alone for growing C, where
O(H·C) against O(H·√C) shows. Both results go to ``hierarchical_softmax.png``
in ``--out``. Timings depend on the machine and on the kernel backend (the
hierarchical softmax gathers each sample's cluster weights and scatters their
gradients back, which costs more per unit than one big matrix product).

    python examples/hierarchical_softmax.py --out pictures/
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # pictures go to files, no display needed

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import graphgrad as gg  # noqa: E402

IN_FEATURES, HIDDEN = 32, 64


def make_data(n_classes: int, per_class: int, noise: float, rng: np.random.Generator):
    """Samples x = group centre + class offset + noise; labels grouped by consecutive id.

    The groups have the size S of the hierarchical softmax's clusters, so class
    c belongs to group ⌊c/S⌋ exactly as it belongs to cluster ⌊c/S⌋.
    """
    size = math.ceil(n_classes / math.ceil(math.sqrt(n_classes)))
    groups = rng.normal(scale=2.0, size=(math.ceil(n_classes / size), IN_FEATURES))
    centres = groups[np.arange(n_classes) // size] + rng.normal(size=(n_classes, IN_FEATURES))
    labels = np.repeat(np.arange(n_classes), per_class)
    x = centres[labels] + noise * rng.normal(size=(len(labels), IN_FEATURES))
    order = rng.permutation(len(labels))
    return x[order].astype(np.float32), labels[order]


class Model:
    """Features h = tanh(x·W + b), then a full-softmax or a hierarchical-softmax output."""

    def __init__(self, kind: str, n_classes: int, lr: float, seed: int):
        gg.manual_seed(seed)
        self.kind = kind
        self.features = gg.Sequential(gg.layers.Linear(IN_FEATURES, HIDDEN), gg.layers.Tanh())
        if kind == "full":
            self.head = gg.layers.Linear(HIDDEN, n_classes, init="xavier_uniform")
        else:
            self.head = gg.losses.HierarchicalSoftmax(HIDDEN, n_classes, rng=seed)
        params = [*self.features.parameters(), *self.head.parameters()]
        self.optimizer = gg.optimizers.Adam(params, lr=lr)

    def loss(self, x: np.ndarray, y: np.ndarray):
        """Mean −log p(y | x) of the batch."""
        h = self.features(gg.tensor(x))
        if self.kind == "full":
            return gg.softmax_cross_entropy(self.head(h), y).mean()
        return self.head(h, y)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The most probable class of each sample (scores every class: O(H·C))."""
        with gg.no_grad():
            h = self.features(gg.tensor(x))
            if self.kind == "full":
                return self.head(h).numpy().argmax(axis=1)
            return self.head.predict(h)


def train(model: Model, data, epochs: int, batch_size: int, rng) -> dict:
    """Adam on mini-batches; test accuracy after each epoch and median phase times."""
    (x, y), (x_test, y_test) = data
    forward_backward, update, accuracy = [], [], []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            t0 = time.perf_counter()
            model.optimizer.zero_grad()
            loss = model.loss(x[batch], y[batch])
            loss.backward()
            t1 = time.perf_counter()
            model.optimizer.step()
            t2 = time.perf_counter()
            forward_backward.append(t1 - t0)
            update.append(t2 - t1)
        accuracy.append(float((model.predict(x_test) == y_test).mean()))
    return {"accuracy": accuracy, "loss": float(loss.item()),
            "forward_backward_ms": 1e3 * float(np.median(forward_backward)),
            "step_ms": 1e3 * float(np.median(update))}


def fastest_ms(loss_fn, repeats: int) -> float:
    """The fastest of `repeats` forward + backward runs of ``loss_fn()``, in ms.

    The minimum is the least disturbed by other work on the machine (as
    ``timeit`` reports it); one extra first call warms caches and the JIT up.
    """
    samples = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        loss_fn().backward()
        samples.append(time.perf_counter() - t0)
    return 1e3 * min(samples[1:])


def time_heads(class_counts, batch_size: int, repeats: int, rng) -> dict:
    """Forward + backward time (ms) of each output layer alone, per class count."""
    h = gg.tensor(rng.normal(size=(batch_size, HIDDEN)).astype(np.float32), requires_grad=True)
    times = {"full": [], "hierarchical": []}
    for n_classes in class_counts:
        y = rng.integers(0, n_classes, batch_size)
        full = gg.layers.Linear(HIDDEN, n_classes, rng=0)
        tree = gg.losses.HierarchicalSoftmax(HIDDEN, n_classes, rng=0)
        times["full"].append(
            fastest_ms(lambda f=full, y=y: gg.softmax_cross_entropy(f(h), y).mean(), repeats))
        times["hierarchical"].append(fastest_ms(lambda t=tree, y=y: t(h, y), repeats))
    return times


def plot(results: dict, class_counts, head_times: dict, path: Path) -> None:
    """Test accuracy per epoch (left) and forward + backward time against C (right)."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    acc, speed = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, result in results.items():
        epochs = np.arange(1, len(result["accuracy"]) + 1)
        acc.plot(epochs, result["accuracy"], "-o", ms=4, label=name)
    acc.set(xlabel="epoch", ylabel="test accuracy", title="accuracy", ylim=(0, 1))
    acc.set_xticks(epochs)
    acc.legend(fontsize=8)
    acc.grid(alpha=0.3)
    for name, values in head_times.items():
        speed.plot(class_counts, values, "-o", ms=4, label=name)
    speed.set(xscale="log", yscale="log", xlabel="classes C",
              ylabel="forward + backward (ms)", title="output layer alone, one batch")
    speed.legend(fontsize=8)
    speed.grid(alpha=0.3, which="both")
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    """Run the example with the command-line arguments `argv` (default: sys.argv).

    Returns what it measured and wrote, so tests can check it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--per-class", type=int, default=20, help="training samples per class")
    parser.add_argument("--noise", type=float, default=1.0, help="per-sample noise (std)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the picture (default: here)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("GRAPHGRAD_EXAMPLE_QUICK") == "1",
                        help="100 classes, 1 epoch, a short timing sweep "
                             "(also GRAPHGRAD_EXAMPLE_QUICK=1)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    n_classes, epochs = (100, 1) if args.quick else (args.classes, args.epochs)
    class_counts = (100, 400) if args.quick else (1000, 4000, 16000, 64000)
    rng = np.random.default_rng(args.seed)

    train_data = make_data(n_classes, args.per_class, args.noise, rng)
    test_data = make_data(n_classes, 5, args.noise, np.random.default_rng(args.seed))
    relabel = rng.permutation(n_classes)  # the same data, class ids scattered over clusters
    shuffled = ((train_data[0], relabel[train_data[1]]), (test_data[0], relabel[test_data[1]]))
    runs = {"full softmax": ("full", (train_data, test_data)),
            "hierarchical": ("hierarchical", (train_data, test_data)),
            "hierarchical, shuffled tree": ("hierarchical", shuffled)}

    tree = gg.losses.HierarchicalSoftmax(HIDDEN, n_classes)
    print(f"{n_classes} classes, {len(train_data[1])} training and {len(test_data[1])} test "
          f"samples; the tree has {tree.n_clusters} clusters of {tree.cluster_size} classes")
    results = {}
    for name, (kind, data) in runs.items():
        model = Model(kind, n_classes, args.lr, args.seed)
        results[name] = result = train(model, data, epochs, args.batch_size,
                                       np.random.default_rng(args.seed))
        print(f"{name:<28} test accuracy by epoch "
              f"{' '.join(f'{a:.3f}' for a in result['accuracy'])}; final batch loss "
              f"{result['loss']:.3f}; median forward+backward {result['forward_backward_ms']:.2f}"
              f" ms, optimizer step {result['step_ms']:.2f} ms")

    head_times = time_heads(class_counts, args.batch_size, 2 if args.quick else 3, rng)
    print(f"\nforward + backward of the output layer alone, batch of {args.batch_size}, "
          f"fastest of {2 if args.quick else 3} runs ({gg.get_backend()} kernels):")
    print(f"{'classes':>8} {'full (ms)':>10} {'hierarchical (ms)':>18} {'ratio':>7}")
    for c, full, tree_ms in zip(class_counts, head_times["full"], head_times["hierarchical"]):
        print(f"{c:>8} {full:>10.2f} {tree_ms:>18.2f} {full / tree_ms:>7.2f}")

    picture = args.out / "hierarchical_softmax.png"
    plot(results, class_counts, head_times, picture)
    print(f"wrote {picture}")
    return {"results": results, "head_times": head_times, "picture": picture}


if __name__ == "__main__":
    main()
