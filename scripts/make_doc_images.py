"""Regenerate the pictures of docs/visualization.md and docs/networks.md (docs/img/*.svg).

The gallery of docs/visualization.md ("What the picture tells you",
docs/img/case_*.svg) draws the seven broken trainings built by
examples/debugging/seven_cases.py, the builders tests/viz/test_seven_cases.py
asserts on.

    python scripts/make_doc_images.py [OUTPUT_DIR]     # default: docs/img

Deterministic: fixed seeds, the NumPy kernel backend, and Graphviz's own
(deterministic) layout, so running it twice gives identical files.  Needs the
Graphviz `dot` program.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad.autograd import record_grads

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


class Block(gg.Module):
    """A residual block: x + relu(lin(x))."""

    def __init__(self, width, rng):
        super().__init__()
        self.lin = gg.layers.Linear(width, width, rng=rng)
        self.act = gg.layers.ReLU()

    def forward(self, x):
        return x + self.act(self.lin(x))


def mlp():
    """The docs' MLP (15 -> 10 -> 5, batch of 4) and its loss."""
    model = gg.Sequential(gg.layers.Linear(15, 10, rng=0), gg.layers.ReLU(),
                          gg.layers.Linear(10, 5, rng=1))
    x = gg.tensor(np.random.default_rng(2).standard_normal((4, 15)).astype(np.float32),
                  name="x")
    labels = np.array([0, 3, 1, 4])
    loss = gg.softmax_cross_entropy(model(x), labels).mean()
    return model, loss


def resnet():
    """Two residual blocks between an input and an output layer (nested modules)."""
    model = gg.Sequential({"stem": gg.layers.Linear(8, 6, rng=0),
                           "blocks": gg.Sequential(Block(6, rng=1), Block(6, rng=2)),
                           "head": gg.layers.Linear(6, 2, rng=3)})
    x = gg.tensor(np.random.default_rng(4).standard_normal((3, 8)).astype(np.float32),
                  name="x")
    return model, model(x)


def lecture():
    """The lecture's 15 -> 10 -> 5 network on one example, for the Jacobian view."""
    rng = np.random.default_rng(5)
    model = gg.Sequential({"layer1": gg.layers.Linear(15, 10, bias=False, rng=6),
                           "act": gg.layers.Tanh(),
                           "layer2": gg.layers.Linear(10, 5, bias=False, rng=7)})
    x = gg.tensor(rng.standard_normal(15).astype(np.float32), name="x")
    return model, model(x).sum()


def siamese():
    """Two inputs through one shared encoder, their difference scored, an MSE loss node."""
    encoder = gg.layers.Linear(3, 8, activation="relu", rng=8)
    net = gg.Network(inputs=["left", "right", "similarity"], outputs=["loss", "score"])
    net.add("enc_left", encoder, inputs="left")
    net.add("enc_right", encoder, inputs="right")
    net.add("diff", gg.layers.Subtract(), inputs=["enc_left", "enc_right"])
    net.add("score", gg.layers.Linear(8, 1, rng=9))
    net.add("loss", gg.losses.MSE(), inputs=["score", "similarity"])
    rng = np.random.default_rng(10)
    batch = {"left": rng.standard_normal((4, 3)).astype(np.float32),
             "right": rng.standard_normal((4, 3)).astype(np.float32),
             "similarity": rng.standard_normal((4, 1)).astype(np.float32)}
    return net, batch


def two_heads():
    """Numeric and categorical inputs, two heads, each with its loss, weighted 0.7 / 0.3."""
    net = gg.Network(inputs=["num", "cat", "price", "label"], outputs=["total"])
    net.add("emb", gg.layers.Embedding(10, 4, rng=11), inputs="cat")
    net.add("flat", gg.layers.Flatten())
    net.add("join", gg.layers.Concat(), inputs=["num", "flat"])
    net.add("hidden", gg.layers.Linear(5 + 4, 16, activation="relu", rng=12))
    net.add("price_head", gg.layers.Linear(16, 1, rng=13), inputs="hidden")
    net.add("label_head", gg.layers.Linear(16, 3, rng=14), inputs="hidden")
    net.add("price_loss", gg.losses.MSE(), inputs=["price_head", "price"])
    net.add("label_loss", gg.losses.CrossEntropy(), inputs=["label_head", "label"])
    net.add("total", gg.layers.Lambda(lambda a, b: 0.7 * a + 0.3 * b, name="0.7·a + 0.3·b"),
            inputs=["price_loss", "label_loss"])
    rng = np.random.default_rng(15)
    batch = {"num": rng.standard_normal((8, 5)).astype(np.float32),
             "cat": rng.integers(0, 10, size=(8, 1)),
             "price": rng.standard_normal((8, 1)).astype(np.float32),
             "label": rng.integers(0, 3, size=8)}
    return net, batch


def digits_cnn():
    """The CNN of ``graphgrad demo --model cnn`` on 4 digits, and its loss."""
    L = gg.layers
    model = gg.Sequential(
        L.Conv2d(1, 16, 3, padding=1, rng=8), L.BatchNorm2d(16), L.ReLU(), L.MaxPool2d(2),
        L.Conv2d(16, 32, 3, padding=1, rng=9), L.BatchNorm2d(32), L.ReLU(), L.MaxPool2d(2),
        L.Flatten(), L.Linear(128, 10, rng=10))
    x = gg.tensor(np.random.default_rng(11).standard_normal((4, 1, 8, 8)).astype(np.float32),
                  name="x")
    loss = gg.softmax_cross_entropy(model(x), np.array([0, 3, 1, 4])).mean()
    return model, loss


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else OUT
    if shutil.which("dot") is None:
        print("Graphviz `dot` is needed (Debian: apt-get install graphviz)", file=sys.stderr)
        return 1
    previous = gg.get_backend()
    gg.set_backend("numpy")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _draw_all(tmp, out)
    finally:
        gg.set_backend(previous)
    return 0


def _draw_all(tmp, out):
    def render(graph, name):
        path = gg.render(graph, Path(tmp) / f"{name}.svg")  # the .dot stays in tmp
        shutil.copyfile(path, out / f"{name}.svg")
        print(f"wrote {out / (name + '.svg')}")

    model, loss = mlp()
    render(gg.to_dot(loss, params=model), "mlp")
    with record_grads():
        loss.backward(retain_graph=True)
    render(gg.to_dot(loss, params=model, backward=True), "mlp_backward")

    model, y = resnet()
    render(gg.to_dot(y, params=model), "resnet")
    render(gg.to_dot(y, params=model, depth=1), "resnet_depth1")

    model, y = lecture()
    render(gg.to_dot(y, params=model, backward=True, show_saved=False), "lecture_backward")

    net, batch = siamese()
    render(gg.to_dot(net, batch), "network_siamese")
    net, batch = two_heads()
    render(gg.to_dot(net, batch), "network_two_heads")
    model, loss = digits_cnn()
    render(gg.to_dot(loss, params=model), "digits_cnn")
    for name, dot in debugging_pictures():
        render(dot, name)
    for name, dot in gallery_pictures():
        render(dot, name)


def seven_cases():
    """examples/debugging/seven_cases.py as a module (in sys.modules: it defines a dataclass)."""
    path = OUT.parents[1] / "examples" / "debugging" / "seven_cases.py"
    spec = importlib.util.spec_from_file_location("graphgrad_example_seven_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def gallery_pictures():
    """(``"case_NAME"``, Digraph): the default picture of each of the seven cases."""
    for name, build in seven_cases().CASES.items():
        yield f"case_{name}", build().dot()


def debugging_pictures():
    """(name, Digraph) of each broken network in examples/debugging/ (the docs'
    "Debugging with pictures" section)."""
    import runpy

    folder = OUT.parents[1] / "examples" / "debugging"

    def find(name):
        return runpy.run_path(str(folder / f"{name}.py"), run_name=f"docs_{name}")

    _, _, dot = find("shape_error")["find"]()
    yield "debug_shape_error", dot
    yield "debug_dead_relu", find("dead_relu")["find"]()[1]
    yield "debug_exploding", find("exploding_tanh")["find"]()[2]
    yield "debug_detached", find("detached_skip")["find"]()[1]
    large = find("large_graphs")
    model, loss = large["unrolled_loop"](4)
    yield "debug_loop_steps", gg.to_dot(loss, params=model, show_saved=False)
    yield "debug_loop_rolled", large["find"]()["loop_rolled"]
    yield "debug_nan", find("nan_log")["find"]()[2]


if __name__ == "__main__":
    raise SystemExit(main())
