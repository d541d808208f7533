"""The inspector page in a real browser: headless Debian chromium driven by selenium.

Skipped (with the reason) where selenium, chromium or chromedriver is missing,
unless GRAPHGRAD_REQUIRE_BROWSER=1, which turns the skip into a failure (CI).
One browser serves the module; it is quit whatever happens (``_browser``).
Timing is measured in bench/inspector_page.py, not asserted here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.autograd import record_grads

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _browser import chromium_driver, console_errors, network_requests, skip_reason  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
REASON = skip_reason()
if REASON and os.environ.get("GRAPHGRAD_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"GRAPHGRAD_REQUIRE_BROWSER=1 but {REASON}")
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no browser: {REASON}")


@pytest.fixture(scope="module")
def driver():
    with chromium_driver() as d:
        yield d


@pytest.fixture(scope="module")
def skip_page(tmp_path_factory):
    """The page `graphgrad inspect examples/skip_connection.py:loss_on_batch` writes."""
    pytest.importorskip("sklearn")
    from graphgrad.cli import main

    out = tmp_path_factory.mktemp("inspect") / "skip.html"
    assert main(["inspect", f"{ROOT / 'examples' / 'skip_connection.py'}:loss_on_batch",
                 "-o", str(out)]) == 0
    return out


def open_page(driver, path):
    console_errors(driver), network_requests(driver)  # drain what came before
    driver.get(Path(path).as_uri())
    # a 10 MB page on a loaded machine may still be running its script after `load`
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return !!window.ggInspector"))


def details(driver) -> str:
    return driver.find_element("id", "details").text


def test_cli_page_opens_without_errors_or_requests(driver, skip_page):
    open_page(driver, skip_page)
    nodes = driver.execute_script("return window.ggInspector.nodes")
    assert {"stem.weight", "head.bias"} <= {n["id"] for n in nodes}
    assert all(set(n) == {"id", "label", "kind", "module", "shape"} for n in nodes)
    assert console_errors(driver) == []
    assert network_requests(driver) == []


def test_select_shows_the_shape_in_details(driver, skip_page):
    open_page(driver, skip_page)
    assert driver.execute_script("return window.ggInspector.select('head.weight')")
    text = details(driver)
    assert "(32, 10) float32" in text and "‖grad‖" in text
    op = next(n for n in driver.execute_script("return window.ggInspector.nodes")
              if n["label"] == "MatMul" and n["module"] == "block")
    driver.execute_script("window.ggInspector.select(arguments[0])", op["id"])
    text = details(driver)
    assert "(64, 32) float32" in text  # its output
    assert "skip_connection.py:" in text  # the user's line that ran it
    assert not driver.execute_script("return window.ggInspector.select('no such node')")
    assert console_errors(driver) == []


def test_clicking_a_node_selects_it(driver, skip_page):
    open_page(driver, skip_page)
    g = driver.find_element("css selector", 'g.node[data-gg="stem.weight"]')
    g.click()
    assert driver.execute_script("return window.ggInspector.selected") == "stem.weight"
    assert "(64, 32) float32" in details(driver)


def test_views_recolour_and_switch_layouts(driver, skip_page):
    open_page(driver, skip_page)
    fill = ('return document.querySelector(\'g.node[data-gg="head.weight"]\')'
            '.ggShape.getAttribute("fill")')
    forward = driver.execute_script(fill)
    legends = set()
    for view in ("backward", "grad", "update", "stats", "forward"):
        assert driver.execute_script("return window.ggInspector.setView(arguments[0])", view)
        assert driver.execute_script("return window.ggInspector.view") == view
        legends.add(driver.find_element("id", "legend").text)
        if view == "grad":
            assert driver.execute_script(fill) != forward  # coloured by ‖grad‖
        if view == "backward":
            assert driver.execute_script("return window.ggInspector.layout") == "backward-full"
            assert "Backward" in driver.find_element("id", "canvas").text
    assert len(legends) == 5
    assert driver.execute_script(fill) == forward
    assert not driver.execute_script("return window.ggInspector.setView('nope')")
    assert console_errors(driver) == []


def test_search_lists_and_marks_matches(driver, skip_page):
    open_page(driver, skip_page)
    box = driver.find_element("id", "search")
    box.send_keys("relu")
    driver.find_element("id", "search").send_keys("\n")
    results = driver.find_elements("css selector", "#results li")
    assert len(results) == 2
    assert len(driver.find_elements("css selector", "g.node.gg-match")) == 2
    assert driver.execute_script("return window.ggInspector.selected").endswith("Relu_0")


def test_pan_and_zoom_change_the_view_box(driver, skip_page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    open_page(driver, skip_page)
    box = 'return document.querySelector("#canvas svg").getAttribute("viewBox")'
    before = driver.execute_script(box)
    canvas = driver.find_element("id", "canvas")
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
    zoomed = driver.execute_script(box)
    assert float(zoomed.split()[2]) < float(before.split()[2])  # narrower: zoomed in
    ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(80, 40) \
        .release().perform()
    panned = driver.execute_script(box)
    assert panned.split()[:2] != zoomed.split()[:2] and panned.split()[2:] == zoomed.split()[2:]


def test_findings_select_and_centre_their_nodes(driver, tmp_path):
    model = gg.Sequential(gg.layers.Linear(10, 16, rng=0), gg.layers.ReLU(),
                          gg.layers.Linear(16, 3, rng=1))
    model[0].bias.data[:] = -10.0  # dead ReLU
    x = gg.tensor(np.random.default_rng(0).standard_normal((8, 10)).astype(np.float32),
                  name="x")
    with gg.record_stats():
        loss = (model(x) ** 2).mean()
    with record_grads():
        loss.backward(retain_graph=True)
    findings = [{"severity": "error", "title": "dead ReLU in 1", "nodes": ["1/Relu_0"],
                 "evidence": "zeros 100%", "advice": "lower the bias"},
                {"severity": "warning", "title": "no gradient", "nodes": ["0.weight", "0.bias"],
                 "evidence": {"grad_norm": 0, "zero_frac": 0.99962}, "advice": "see the ReLU"}]
    page = gg.viz.to_html(loss, tmp_path / "dead.html", params=model, findings=findings)
    open_page(driver, page.path)
    assert driver.execute_script("return window.ggInspector.findings.length") == 2
    items = driver.find_elements("css selector", "#findings li")
    assert [i.text.split("\n")[0] for i in items] == ["error: dead ReLU in 1",
                                                      "warning: no gradient"]
    # evidence given as numbers (what the findings rules return) reads as text, not JSON
    assert "grad norm 0 · zero frac 0.9996" in items[1].text
    items[1].click()
    assert driver.execute_script("return window.ggInspector.selected") == "0.weight"
    assert len(driver.find_elements("css selector", "g.node.gg-match")) == 2
    items[0].click()
    assert "zeros 100.0%" in details(driver)
    assert console_errors(driver) == []


def test_a_large_graph_opens_collapsed_and_expands_on_select(driver, tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from inspector_page import big_mlp

    model, loss = big_mlp(2000)  # 10^4 nodes
    page = gg.viz.to_html(loss, tmp_path / "big.html", params=model)
    assert page.size < 20e6
    open_page(driver, page.path)
    inspector = "return window.ggInspector"
    assert driver.execute_script(inspector + ".nodes.length") >= 10_000
    assert driver.execute_script(inspector + ".layout") == "forward-collapsed"
    assert driver.execute_script(inspector + ".select('1500/MatMul_0')")
    assert driver.execute_script(inspector + ".layout") == "forward-full"
    assert "(2, 4) float32" in details(driver)
    # only the bands of the layout near the view are in the DOM, the selected node among them
    in_dom = driver.execute_script("return document.querySelectorAll('#canvas g.node').length")
    assert 0 < in_dom < 2000
    assert driver.find_elements("css selector", 'g.node[data-gg="1500/MatMul_0"].gg-selected')
    assert driver.execute_script(inspector + ".search('3998.weight')") == ["3998.weight"]
    assert driver.execute_script(inspector + ".select('3998.weight')")
    assert "(4, 4) float32" in details(driver)
    assert driver.find_elements("css selector", 'g.node[data-gg="3998.weight"].gg-selected')
    assert console_errors(driver) == []
    assert network_requests(driver) == []


def test_step_slider_of_the_trainer_callback(driver, tmp_path):
    from graphgrad.viz.html import InspectorCallback

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 3, 32)
    model = gg.Sequential(gg.layers.Linear(6, 3, rng=0))
    loader = gg.data.DataLoader(gg.data.ArrayDataset(x, y), batch_size=16, shuffle=False)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(),
                         gg.optimizers.SGD(model.parameters(), lr=0.5), progress=False)
    callback = InspectorCallback(tmp_path / "train.html")
    trainer.fit(loader, epochs=3, callbacks=[callback])
    open_page(driver, callback.written[0])
    assert driver.find_element("id", "step").is_displayed()
    driver.execute_script("window.ggInspector.select('0.weight')")
    assert driver.find_elements("css selector", "#details svg.spark")  # ‖grad‖ per epoch
    texts = []
    for step in range(3):
        driver.execute_script("window.ggInspector.setStep(arguments[0])", step)
        assert driver.find_element("id", "steplabel").text.startswith(f"epoch {step}")
        texts.append(details(driver))
    assert len(set(texts)) == 3  # each epoch's ‖grad‖ and update ratio
    assert console_errors(driver) == []


def test_the_page_runs_inside_an_iframe_as_in_jupyter(driver, skip_page, tmp_path):
    from graphgrad.viz.html import InspectorPage

    page = InspectorPage(skip_page.read_text(encoding="utf-8"))
    host = tmp_path / "notebook.html"
    host.write_text(f"<!DOCTYPE html><html><body>{page._repr_html_()}</body></html>",
                    encoding="utf-8")
    console_errors(driver), network_requests(driver)
    driver.get(host.as_uri())
    driver.switch_to.frame(driver.find_element("tag name", "iframe"))
    try:
        assert driver.execute_script("return window.ggInspector.select('head.weight')")
        assert "(32, 10) float32" in details(driver)
    finally:
        driver.switch_to.default_content()
    assert console_errors(driver) == []
    assert network_requests(driver) == []
