"""The inspector page at scale: export time, file size and the time a browser takes to open it.

    PYTHONPATH=. python bench/inspector_page.py [--layers 2000] [--no-browser]

Builds an MLP of ``--layers`` (Linear, Tanh) blocks (5 graph nodes each: 10^4
nodes for 2000), runs a backward, writes the page with ``gg.viz.to_html`` and
opens it in headless chromium (tests/viz/_browser.py) ``--rounds`` times,
reporting the median time until ``window.ggInspector`` exists, the time to
select a node deep in the graph (which mounts the expanded layout) and the
time per frame while the full 10^4-node layout is zoomed (responsiveness).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import graphgrad as gg
from graphgrad.autograd import record_grads


def big_mlp(blocks: int):
    """(model, loss after a backward with every op's gradient kept)."""
    layers = []
    for i in range(blocks):
        layers += [gg.layers.Linear(4, 4, rng=i), gg.layers.Tanh()]
    model = gg.Sequential(*layers)
    x = gg.tensor(np.ones((2, 4), np.float32), name="x")
    loss = (model(x) ** 2).mean()
    with record_grads():
        loss.backward(retain_graph=True)
    return model, loss


FRAMES = """
const done = arguments[arguments.length - 1], svg = document.querySelector('#canvas svg');
const b = svg.viewBox.baseVal, times = [];
let i = 0, last = performance.now();
function frame(now) {
  times.push(now - last); last = now;
  if (i++ === 20) { done(times.slice(1)); return; }
  svg.setAttribute('viewBox', `${b.x + 5} ${b.y + 5} ${b.width * 0.97} ${b.height * 0.97}`);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
"""


def open_page(path: Path, rounds: int) -> tuple[list[float], list[float], list[float]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "viz"))
    from _browser import chromium_driver, console_errors

    opens, selects, frames = [], [], []
    with chromium_driver() as driver:
        for _ in range(rounds):
            t = time.perf_counter()
            driver.get(path.as_uri())
            driver.execute_script("return window.ggInspector.nodes.length")
            opens.append(time.perf_counter() - t)
            t = time.perf_counter()
            ok = driver.execute_script("return window.ggInspector.select('500/MatMul_0')")
            selects.append(time.perf_counter() - t)
            assert ok, "select failed"
            frames.append(statistics.median(driver.execute_async_script(FRAMES)))
        errors = console_errors(driver)
        assert not errors, errors
    return opens, selects, frames


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    model, loss = big_mlp(args.layers)
    print(f"graph built in {time.perf_counter() - t:.1f} s")
    n = gg.to_networkx(loss, params=model).number_of_nodes()
    out = Path(tempfile.mkdtemp()) / "big.html"
    t = time.perf_counter()
    page = gg.viz.to_html(loss, out, params=model)
    print(f"{n} nodes: to_html {time.perf_counter() - t:.1f} s, {page.size / 1e6:.1f} MB "
          f"({out})")
    if not args.no_browser:
        opens, selects, frames = open_page(out, args.rounds)
        print(f"open in chromium: median {statistics.median(opens):.2f} s "
              f"(rounds {', '.join(f'{v:.2f}' for v in opens)}); select a deep node "
              f"(mounts the expanded layout): median {statistics.median(selects):.2f} s; "
              f"zooming the full layout: median {statistics.median(frames):.0f} ms per frame")


if __name__ == "__main__":
    main()
