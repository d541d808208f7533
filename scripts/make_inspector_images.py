"""Screenshots of the inspector page for docs/visualization.md (docs/img/inspector-*.png).

    PYTHONPATH=. python scripts/make_inspector_images.py [OUTPUT_DIR]   # default: docs/img

Writes the pages with `graphgrad inspect`/`gg.viz.to_html` and photographs them in
headless chromium (tests/viz/_browser.py): a healthy network (the skip-connection
example, gradient view, a MatMul selected) and a broken one (the dead-ReLU example
of examples/debugging, forward-stats view, the dead ReLU selected).  Also prints
the size of the digits CNN's training-step page.  Needs chromium, chromedriver,
selenium, Graphviz and scikit-learn.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad.autograd import record_grads
from graphgrad.viz.html import record_source

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "viz"), str(ROOT / "examples"),
                str(ROOT / "examples" / "debugging")]


def _backward(loss):
    with record_grads():
        loss.backward(retain_graph=True)
    return loss


def dead_relu_page(path):
    from dead_relu import build

    model, x, y = build()
    with gg.record_stats(), record_source():
        loss = gg.softmax_cross_entropy(model(x), y).mean()
    return gg.viz.to_html(_backward(loss), path, params=model, title="dead_relu.py (broken)")


def cnn_page(path):
    from digits_cnn import build_model
    from sklearn.datasets import load_digits

    gg.manual_seed(0)
    digits = load_digits()
    x = gg.tensor((digits.images[:64, None] / 16.0).astype(np.float32), name="x")
    model = build_model()
    with record_source():
        loss = gg.losses.CrossEntropy()(model(x), digits.target[:64])
    return gg.viz.to_html(_backward(loss), path, params=model, title="digits CNN, one step")


def shoot(driver, page, view, node, out):
    driver.get(Path(page).as_uri())
    driver.execute_script("window.ggInspector.setView(arguments[0])", view)
    assert driver.execute_script("return window.ggInspector.select(arguments[0])", node), node
    driver.execute_script("window.ggInspector.fit()")
    driver.save_screenshot(str(out))
    print(f"wrote {out}")


def main(out=None) -> None:
    from _browser import chromium_driver

    from graphgrad.cli import main as cli

    out = Path(out) if out else ROOT / "docs" / "img"
    tmp = Path(tempfile.mkdtemp())
    skip = tmp / "skip.html"
    assert cli(["inspect", f"{ROOT / 'examples' / 'skip_connection.py'}:loss_on_batch",
                "-o", str(skip), "--title", "skip_connection.py (healthy)"]) == 0
    dead = dead_relu_page(tmp / "dead.html")
    cnn = cnn_page(tmp / "cnn.html")
    print(f"digits CNN training-step page: {cnn.size / 1e6:.2f} MB")
    with chromium_driver() as driver:
        shoot(driver, skip, "grad", "block/MatMul_0", out / "inspector-healthy.png")
        shoot(driver, dead.path, "stats", "1/Relu_0", out / "inspector-dead-relu.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
