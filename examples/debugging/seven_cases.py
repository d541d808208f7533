"""Seven broken trainings the default picture marks by itself (findings, issue 26).

    python examples/debugging/seven_cases.py [--out DIR]

Each builder returns a `Case`: what to draw (`root`), the `model`, the
`optimizer` if one matters, and the `to_dot` options of its picture (`view`).
``gg.viz.findings(case.root, case.model, case.optimizer)`` lists what is wrong;
``gg.to_dot(case.root, params=case.model, optimizer=case.optimizer,
**case.view)`` draws it, marked, with no opt-in flag.  The cases:

1. ``softmax_into_cross_entropy``: a Softmax fed into a loss that takes logits;
2. ``layer_not_in_optimizer``: the last Linear left out of the optimizer, its
   gradient summed over three backward calls;
3. ``learning_rate_overflow``: lr = 1e9, the forward overflows (the
   anomaly error names the magnitudes and the learning rate);
4. ``batchnorm_train_mode_in_eval``: ``model.eval()`` forgotten before evaluating;
5. ``ten_sigmoid_layers``: gradients vanish across ten (Linear, Sigmoid) pairs;
6. ``shared_weight``: two layers sharing one weight by accident;
7. ``dead_cnn_channels``: a CNN whose feature maps die behind a bias of −10.

tests/viz/test_seven_cases.py asserts on each; scripts/make_doc_images.py
draws them for docs/visualization.md ("What the picture tells you").
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import graphgrad as gg


@dataclass
class Case:
    """A broken training: draw `root` with ``params=model``, ``optimizer`` and `view`;
    `extra` holds what else a test needs (the inputs, the anomaly error)."""

    root: Any
    model: Any
    optimizer: Any = None
    view: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def dot(self):
        """The default picture of the case (its findings drawn)."""
        return gg.to_dot(self.root, params=self.model, optimizer=self.optimizer, **self.view)

    def findings(self):
        """``gg.viz.findings`` of the case."""
        return gg.viz.findings(self.root, self.model, self.optimizer)


def data(n=32, d=6, k=3, seed=0):
    """(x, labels): `n` standard-normal rows of `d` features and labels in [0, k)."""
    rng = np.random.default_rng(seed)
    return (gg.tensor(rng.normal(size=(n, d)).astype(np.float32), name="x"),
            gg.tensor(rng.integers(0, k, size=n)))


def cross_entropy(prediction, labels):
    """The mean cross-entropy loss of the registry (takes logits)."""
    return gg.losses["cross_entropy"]()(prediction, labels)


def softmax_into_cross_entropy() -> Case:
    """1. 6 → 8 → ReLU → 3 → Softmax, then a cross-entropy that applies its own softmax."""
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.ReLU(), gg.layers.Linear(8, 3),
                          gg.layers.Softmax())
    x, y = data()
    loss = cross_entropy(model(x), y)
    loss.backward()
    return Case(loss, model)


def layer_not_in_optimizer() -> Case:
    """2. SGD over the first Linear only; three steps, so the last layer's gradient is the
    sum of three backward calls (``zero_grad`` never clears it)."""
    gg.manual_seed(1)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.ReLU(), gg.layers.Linear(8, 3))
    opt = gg.optimizers["sgd"](list(model[0].parameters()), lr=0.1)
    x, y = data()
    for _ in range(3):
        opt.zero_grad()
        loss = cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return Case(loss, model, opt)


def learning_rate_overflow(max_steps: int = 60) -> Case:
    """3. SGD with lr = 1e9 under ``gg.detect_anomaly()`` until it stops at the first
    non-finite value; `root` is the output it stopped at, ``extra["error"]`` the error
    (None if it never stopped)."""
    gg.manual_seed(2)
    model = gg.Sequential(gg.layers.Linear(6, 32), gg.layers.ReLU(), gg.layers.Linear(32, 3))
    opt = gg.optimizers["sgd"](list(model.parameters()), lr=1e9)
    x, y = data()
    error, root = None, None
    with np.errstate(all="ignore"):
        for _ in range(max_steps):
            opt.zero_grad()
            try:
                with gg.detect_anomaly():
                    root = cross_entropy(model(x), y)
                    root.backward()
            except gg.viz.AnomalyError as e:
                error, root = e, e.output
                break
            opt.step()
    return Case(root, model, extra={"error": error})


def bn_model():
    """6 → 8 → BatchNorm → ReLU → Dropout(0.5) → 3."""
    return gg.Sequential(gg.layers.Linear(6, 8), gg.layers.BatchNorm(8), gg.layers.ReLU(),
                         gg.layers.Dropout(0.5), gg.layers.Linear(8, 3))


def batchnorm_train_mode_in_eval() -> Case:
    """4. One training step, then an evaluation forward with ``model.eval()`` forgotten:
    the BatchNorm normalises by the batch and the Dropout drops."""
    gg.manual_seed(3)
    model = bn_model()
    x, y = data()
    cross_entropy(model(x), y).backward()  # a training step: leaves .grad behind
    return Case(model(x), model, extra={"x": x, "y": y})


def ten_sigmoid_layers() -> Case:
    """5. Ten (Linear, Sigmoid) pairs and a last Linear, drawn at ``depth=0`` (folded)."""
    gg.manual_seed(5)
    layers = []
    for i in range(10):
        layers += [gg.layers.Linear(6 if i == 0 else 16, 16), gg.layers.Sigmoid()]
    model = gg.Sequential(*layers, gg.layers.Linear(16, 3))
    x, y = data()
    loss = cross_entropy(model(x), y)
    loss.backward()
    return Case(loss, model, view={"depth": 0})


def shared_weight() -> Case:
    """6. Four Linear layers with Tanh between; layer 4's weight set to layer 2's."""
    gg.manual_seed(6)
    model = gg.Sequential(gg.layers.Linear(6, 8), gg.layers.Tanh(), gg.layers.Linear(8, 8),
                          gg.layers.Tanh(), gg.layers.Linear(8, 8), gg.layers.Tanh(),
                          gg.layers.Linear(8, 3))
    model[4].weight = model[2].weight  # by accident
    x, y = data()
    loss = cross_entropy(model(x), y)
    loss.backward()
    return Case(loss, model)


def dead_cnn_channels() -> Case:
    """7. Conv2d(1, 32, 3) → ReLU → Linear; 31 of the 32 channels behind a bias of −10."""
    gg.manual_seed(7)
    cnn = gg.Sequential(gg.layers.Conv2d(1, 32, 3, padding=1), gg.layers.ReLU(),
                        gg.layers.Flatten(), gg.layers.Linear(32 * 6 * 6, 3))
    cnn[0].bias.data[...] = -10.0
    cnn[0].bias.data[0] = 0.0  # one channel lives: 31 of 32 dead
    x = gg.tensor(np.random.default_rng(0).normal(size=(8, 1, 6, 6)).astype(np.float32),
                  name="x")
    with gg.record_stats():
        loss = cross_entropy(cnn(x), gg.tensor(np.arange(8) % 3))
    loss.backward()
    return Case(loss, cnn)


#: name -> builder, in the order of the docs' gallery
CASES = {
    "softmax_into_cross_entropy": softmax_into_cross_entropy,
    "layer_not_in_optimizer": layer_not_in_optimizer,
    "learning_rate_overflow": learning_rate_overflow,
    "batchnorm_train_mode_in_eval": batchnorm_train_mode_in_eval,
    "ten_sigmoid_layers": ten_sigmoid_layers,
    "shared_weight": shared_weight,
    "dead_cnn_channels": dead_cnn_channels,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write case_NAME.svg here")
    args = parser.parse_args(argv)
    for name, build in CASES.items():
        case = build()
        print(f"{name}:")
        for f in case.findings():
            print(f"  {f.line()}")
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            print("  wrote", gg.render(case.dot(), args.out / f"case_{name}.svg"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
