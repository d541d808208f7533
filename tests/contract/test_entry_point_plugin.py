"""The example outside plugin (examples/graphgrad-swish) is found through its entry point.

The package is pip-installed (offline: no index, no build isolation, no deps)
into a temporary target directory that is put on ``sys.path``; graphgrad then
discovers it through the entry-point group ``graphgrad`` in the installed
metadata, exactly as for a plugin installed from PyPI.  Nothing registers it by
hand, and nothing is left in the environment afterwards.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad import registry
from graphgrad.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "graphgrad-swish"


def _forget_swish_modules():
    for name in [m for m in sys.modules if m.split(".")[0] == "graphgrad_swish"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def installed_swish(tmp_path_factory):
    root = tmp_path_factory.mktemp("swish")
    src, site = root / "src", root / "site"
    # build from a copy, so the build's egg-info and build/ never land in the repository
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                 "__pycache__"))
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           "--no-index", "--disable-pip-version-check", "--root-user-action=ignore", "--quiet",
           "--target", str(site), str(src)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"pip could not install {EXAMPLE.name}:\n{result.stdout}\n{result.stderr}")
    _forget_swish_modules()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(registry.AUTOLOAD_ENV, raising=False)
        mp.syspath_prepend(str(site))
        importlib.invalidate_caches()
        registry.reload()
        try:
            yield site
        finally:
            registry.reload()
    _forget_swish_modules()
    importlib.invalidate_caches()
    registry.reload()


def test_swish_is_discovered_through_the_entry_point(installed_swish):
    _forget_swish_modules()
    registry.reload()
    assert "graphgrad_swish" not in sys.modules  # not imported (let alone registered) by us
    swish = gg.layers["swish"]
    assert swish is gg.layers.Swish
    module = sys.modules["graphgrad_swish"]
    assert Path(module.__file__).is_relative_to(installed_swish)
    info = gg.layers.plugin_of("swish")
    assert info.source == registry.ENTRY_POINT
    assert info.name == "swish"
    assert (info.distribution, info.version) == ("graphgrad-swish", "0.1.0")
    assert info.components == {"layers": ["swish"], "initializers": ["lecun_uniform"]}
    assert "linear" in gg.layers  # the built-ins are still there


def test_the_plugin_layer_and_initializer_work(installed_swish):
    x = np.random.default_rng(0).standard_normal((3, 4))
    y = gg.layers.Swish(beta=2.0)(gg.tensor(x))
    np.testing.assert_allclose(y.data, x / (1 + np.exp(-2.0 * x)), rtol=1e-12)
    layer = gg.layers.Swish.example(np.random.default_rng(0))
    report = gg.check.module(layer, layer.example_input(np.random.default_rng(0)))
    assert report.ok, str(report)
    w = gg.initializers.lecun_uniform()((400, 300), np.random.default_rng(0))
    bound = np.sqrt(3 / 400)
    assert np.abs(w).max() <= bound and w.std() == pytest.approx(bound / np.sqrt(3), rel=0.01)
    linear = gg.layers.Linear(400, 3, init="lecun_uniform", rng=0)
    assert np.abs(linear.weight.data).max() <= bound


def test_cli_lists_and_checks_the_plugin(installed_swish, capsys):
    assert main(["plugins", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (entry,) = [p for p in payload["plugins"] if p["name"] == "swish"]
    assert entry["distribution"] == "graphgrad-swish" and entry["error"] is None
    assert main(["plugins", "--check"]) == 0
    out = capsys.readouterr().out
    assert any(line.split()[:2] == ["swish", "pass"] for line in out.splitlines())


def test_autoload_opt_out_skips_the_plugin(installed_swish, monkeypatch):
    monkeypatch.setenv(registry.AUTOLOAD_ENV, "1")
    registry.reload()
    try:
        assert "swish" not in gg.layers
        assert "linear" in gg.layers
    finally:
        monkeypatch.delenv(registry.AUTOLOAD_ENV)
        registry.reload()
    assert "swish" in gg.layers
