"""A gg.Network with a skip connection: trained briefly, summarised and rendered to SVG.

The network is a directed acyclic graph of named layers; the residual block
adds its input back to its output with the merge layer ``add``:

    h  = relu(x·W₀ + b₀)                       stem      (64 → 32)
    r  = relu(h·W₁ + b₁)                       block     (32 → 32)
    s  = r + h                                 skip      (add merge layer)
    z  = s·W₂ + b₂                             head      (32 → 10 logits)

Because ∂s/∂h = I + ∂r/∂h, the gradient reaches the stem through the skip
edge unchanged, whatever the block does to it. The script trains the network
for a few epochs on scikit-learn's 8×8 digits, prints ``gg.summary`` and writes
three Graphviz pictures into ``--out``:

* ``skip_layers.svg``   the layer graph of the Network (one node per layer);
* ``skip_forward.svg``  the ops of one forward pass to the loss, grouped by layer;
* ``skip_backward.svg`` the backward view after one backward pass: how the
  gradient flows, the Jacobian shape of every op and ‖grad‖ of every weight
  (the Add hands the same gradient to both of its inputs).

    python examples/skip_connection.py --out pictures/
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # graphgrad's plotting helpers never need a display

import numpy as np  # noqa: E402

import graphgrad as gg  # noqa: E402


def build_network(width: int = 32) -> gg.Network:
    """x → stem → stem_act → block → block_act → skip(block_act, stem_act) → head."""
    net = gg.Network(inputs=["x"])
    net.add("stem", gg.layers.Linear(64, width), inputs="x")
    net.add("stem_act", gg.layers.ReLU())
    net.add("block", gg.layers.Linear(width, width))
    net.add("block_act", gg.layers.ReLU())
    net.add("skip", gg.layers.Add(), inputs=["block_act", "stem_act"])
    net.add("head", gg.layers.Linear(width, 10, init="xavier_uniform"))
    net.check()
    return net


def load_digits_standardized(seed: int):
    """Standardised digits split 80/20 into (train, test), stratified by class."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SystemExit(
            f"this example needs scikit-learn ({exc}); pip install 'graphgrad[examples]'"
        ) from exc
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed)
    standardize = gg.transforms.Standardize().fit(x_train)
    return (standardize(x_train), y_train), (standardize(x_test), y_test)


def render_all(net: gg.Network, x: np.ndarray, y: np.ndarray, out: Path) -> list[Path]:
    """Write the layer graph, the forward ops and the backward view of one batch."""
    written = []
    net.zero_grad()  # so the pictures show no gradient left over from training
    loss = gg.losses.CrossEntropy()(net(gg.tensor(x, name="x")), y)
    missing = None

    def draw(graph, path, **opts):
        nonlocal missing
        try:
            written.append(gg.render(graph, path, **opts))
        except gg.viz.GraphvizNotFoundError as err:  # the .dot source is still written
            missing = err

    draw(gg.to_dot(net), out / "skip_layers.svg")
    draw(loss, out / "skip_forward.svg", params=net)
    loss.backward(retain_graph=True)  # keep the saved tensors: the picture lists them
    draw(loss, out / "skip_backward.svg", params=net, backward=True)
    if missing is not None:
        print(f"no pictures (the .dot sources are written): {missing}")
    return written


def loss_on_batch(steps: int = 30, seed: int = 0):
    """The loss of a briefly trained network on 64 test digits, for ``graphgrad inspect``:

        graphgrad inspect examples/skip_connection.py:loss_on_batch -o skip.html
    """
    gg.manual_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits_standardized(seed)
    net = build_network()
    optimizer = gg.optimizers.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = gg.losses.CrossEntropy()
    for i in range(steps):
        batch = slice((64 * i) % len(x_train), (64 * i) % len(x_train) + 64)
        optimizer.zero_grad()
        loss_fn(net(gg.tensor(x_train[batch])), y_train[batch]).backward()
        optimizer.step()
    net.zero_grad()
    return loss_fn(net(gg.tensor(x_test[:64], name="x")), y_test[:64])


def main(argv=None) -> dict:
    """Run the example with the command-line arguments `argv` (default: sys.argv).

    Returns what it measured and wrote, so tests can check it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the SVG pictures (default: here)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("GRAPHGRAD_EXAMPLE_QUICK") == "1",
                        help="one epoch only (also GRAPHGRAD_EXAMPLE_QUICK=1)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    gg.manual_seed(args.seed)

    (x_train, y_train), (x_test, y_test) = load_digits_standardized(args.seed)
    net = build_network()
    print(net)
    print()
    print(gg.summary(net, x_train[:16]))
    print()

    loader = gg.data.DataLoader(gg.data.ArrayDataset(x_train, y_train), batch_size=64,
                                seed=args.seed)
    test_loader = gg.data.DataLoader(gg.data.ArrayDataset(x_test, y_test), batch_size=256,
                                     shuffle=False)
    trainer = gg.Trainer(net, gg.losses.CrossEntropy(),
                         gg.optimizers.SGD(net.parameters(), lr=0.05, momentum=0.9),
                         progress=False)
    history = trainer.fit(loader, test_loader, epochs=1 if args.quick else args.epochs)
    last = history.last
    n = len(history)
    print(f"after {n} epoch{'' if n == 1 else 's'}: training loss {last['loss']:.4f}, "
          f"test accuracy {last['val_accuracy']:.4f}")

    written = render_all(net, x_test[:8], y_test[:8], args.out)
    for path in written:
        print(f"wrote {path}")
    return {"history": history, "network": net, "pictures": written}


if __name__ == "__main__":
    main()
