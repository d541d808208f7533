"""Every script in examples/ runs (quick settings, temporary output folder) and does what it says.

Each example is loaded with ``runpy`` and its ``main(argv)`` called with
``--quick --out <tmp>``; the checks compare what it returns and writes with
independent facts (closed forms, chance level, file formats). One example also
runs as a user runs it, in a subprocess with ``GRAPHGRAD_EXAMPLE_QUICK=1`` and
the default output folder (the working directory).
"""

from __future__ import annotations

import math
import os
import re
import runpy
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import graphgrad as gg

matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(p.stem for p in EXAMPLES.glob("*.py"))
TESTED = {"digits_mlp", "digits_cnn", "skip_connection", "optimizer_paths", "lr_schedules",
          "lr_finder", "hierarchical_softmax"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HAS_DOT = shutil.which("dot") is not None


def run_example(name: str, out: Path, *extra: str):
    """Call examples/<name>.py's main with quick settings; returns what main returns."""
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"example_{name}")
    return namespace["main"](["--quick", "--out", str(out), *extra])


def assert_png(path: Path) -> np.ndarray:
    """The file is a PNG that matplotlib reads back as a non-blank image."""
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0.01, f"{path} is blank"
    return image


def svg_text(path: Path) -> str:
    """Every text of an SVG file (which must parse as XML with an <svg> root)."""
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join(t.strip() for t in root.itertext() if t.strip())


def test_every_example_is_tested_and_documented():
    assert set(SCRIPTS) == TESTED, "add a smoke test for each new example (and the README row)"
    index = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in SCRIPTS:
        source = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8")
        assert source.startswith('"""'), f"{name}.py needs a module docstring"
        assert 'matplotlib.use("Agg")' in source, f"{name}.py must not need a display"
        assert f"{name}.py" in index, f"examples/README.md does not describe {name}.py"


@pytest.mark.parametrize("name", sorted(TESTED))
def test_help_describes_quick_and_out(name, capsys):
    namespace = runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name=f"example_{name}")
    with pytest.raises(SystemExit) as exit_info:
        namespace["main"](["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--quick" in text and "--out" in text


def test_digits_mlp(tmp_path, capsys):
    result = run_example("digits_mlp", tmp_path)
    history = result["history"]
    assert len(history) == 3  # quick: 3 epochs, too few for early stopping to fire
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert all(math.isfinite(v) for v in history[key])
    assert history["loss"][-1] < history["loss"][0]
    assert result["test_accuracy"] > 0.5  # chance is 0.1 for ten balanced classes
    loaded = gg.History.load(tmp_path / "digits_history.json")
    assert loaded["val_loss"] == pytest.approx(history["val_loss"])
    assert_png(tmp_path / "digits_curves.png")
    assert "test accuracy" in capsys.readouterr().out


def test_digits_cnn(tmp_path, capsys):
    result = run_example("digits_cnn", tmp_path)
    history = result["history"]
    assert len(history) == 2
    assert history["loss"][-1] < history["loss"][0]
    assert result["test_accuracy"] > 0.3  # 2 epochs on 280 images; chance is 0.1
    assert result["model"][0].weight.shape == (16, 1, 3, 3)
    assert_png(tmp_path / "digits_cnn_curves.png")
    out = capsys.readouterr().out
    assert "Total params: 6,186" in out  # 160 + 32 + 4,640 + 64 + 1,290
    if HAS_DOT:
        text = svg_text(tmp_path / "digits_cnn_graph.svg")
        assert "Conv2d" in text and "k 3, s 1, p 1" in text and "k 2, s 2, p 0" in text


def test_skip_connection(tmp_path, capsys):
    result = run_example("skip_connection", tmp_path)
    net = result["network"]
    assert net.graph.has_edge("stem_act", "skip") and net.graph.has_edge("block_act", "skip")
    assert result["history"].last["val_accuracy"] > 0.5
    out = capsys.readouterr().out
    assert "Total params: 3,466" in out  # 64·32+32 + 32·32+32 + 32·10+10
    for stem in ("skip_layers", "skip_forward", "skip_backward"):
        assert (tmp_path / f"{stem}.dot").exists()
    if not HAS_DOT:
        pytest.skip("Graphviz `dot` is not installed: only the .dot sources were written")
    layers = svg_text(tmp_path / "skip_layers.svg")
    assert all(name in layers for name in ("stem", "block_act", "skip", "head", "Add"))
    assert "AddBackward" in svg_text(tmp_path / "skip_backward.svg")


def test_optimizer_paths_on_rosenbrock(tmp_path):
    result = run_example("optimizer_paths", tmp_path)
    paths = result["paths"]
    assert list(paths) == ["SGD", "momentum", "Nesterov", "Adagrad", "RMSprop", "Adam",
                           "Newton"]
    rosenbrock = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2  # noqa: E731
    for name, (lr, points) in paths.items():
        assert points.shape == (21, 2), name  # quick: 20 steps, none diverged
        np.testing.assert_array_equal(points[0], [-1.5, 2.0])
        assert rosenbrock(points[-1]) < rosenbrock(points[0]), name
        assert lr in ((1.0,) if name == "Newton" else (1e-3, 1e-2))
    # plain SGD at 1e-2 overflows on this surface (curvature ≈ 1900 at the start), so the
    # tuning must have fallen back to 1e-3
    assert paths["SGD"][0] == 1e-3
    assert_png(tmp_path / "optimizer_paths_rosenbrock.png")


def test_optimizer_paths_newton_solves_the_quadratic_in_one_step(tmp_path):
    result = run_example("optimizer_paths", tmp_path, "--surface", "quadratic")
    _, newton = result["paths"]["Newton"]
    np.testing.assert_allclose(newton[1], [0.0, 0.0], atol=1e-9)
    # gradient descent contracts each eigen-direction of A (eigenvalues 1 and 50) by
    # |1 − η·λ| per step, so after 20 steps at η = 1e-2 the distance has shrunk by at
    # most (1 − 0.01)^20 along the flat direction
    lr, sgd = result["paths"]["SGD"]
    assert lr == 1e-2
    assert np.linalg.norm(sgd[-1]) <= np.linalg.norm(sgd[0]) * (1 - lr) ** 20 + 1e-12
    assert_png(tmp_path / "optimizer_paths_quadratic.png")


def test_lr_schedules_match_their_formulas(tmp_path):
    result = run_example("lr_schedules", tmp_path)
    curves, t = result["curves"], np.arange(20)  # quick: 20 steps from η₀ = 0.1
    assert set(gg.schedules.names()) <= {label.split(" + ")[0] for label in curves}
    expected = {
        "constant": np.full(20, 0.1),
        "step_decay": 0.1 * 0.5 ** (t // 5),
        "inverse_decay": 0.1 / (1 + 0.05 * t),
        "exponential_decay": 0.1 * np.exp(-3 / 20 * t),
        "cosine": 0.1 * (1 + np.cos(np.pi * np.minimum(t, 16) / 16)) / 2,
        "linear_warmup": np.where(t < 2, 0.1 * (0.1 + 0.9 * t / 2), 0.1),
        "noam": 0.1 * np.sqrt(2) * np.minimum((t + 1) ** -0.5, (t + 1) * 2 ** -1.5),
        "linear_warmup + cosine": np.where(
            t < 2, 0.1 * t / 2, 0.1 * (1 + np.cos(np.pi * np.minimum(t - 2, 18) / 18)) / 2),
    }
    for label, formula in expected.items():
        np.testing.assert_allclose(curves[label][0], formula, rtol=1e-12, err_msg=label)
    assert result["skipped"] == []
    assert_png(tmp_path / "lr_schedules.png")


def test_lr_finder(tmp_path, capsys):
    result = run_example("lr_finder", tmp_path)
    sweep = result["result"]
    np.testing.assert_allclose(sweep.lrs, np.geomspace(1e-4, 10.0, 4))
    assert sweep.suggestion in sweep.lrs
    best = min(loss for loss, bad in zip(sweep.losses, sweep.diverged) if not bad)
    assert sweep.losses[sweep.lrs.index(sweep.suggestion)] == best
    assert len(result["history"]) == 1
    out = capsys.readouterr().out
    assert f"suggested learning rate: {sweep.suggestion:.3g}" in out
    assert_png(tmp_path / "lr_finder.png")


def test_hierarchical_softmax(tmp_path, capsys):
    result = run_example("hierarchical_softmax", tmp_path)
    runs = result["results"]
    assert list(runs) == ["full softmax", "hierarchical", "hierarchical, shuffled tree"]
    for name, run in runs.items():
        assert len(run["accuracy"]) == 1, name  # quick: one epoch, 100 classes
        assert run["accuracy"][0] > 0.2, name  # chance is 0.01
        assert run["forward_backward_ms"] > 0 and run["step_ms"] > 0
    # the same data: a tree that follows the groups of similar classes learns faster than
    # a tree whose clusters are arbitrary mixes of classes
    assert runs["hierarchical"]["accuracy"][0] > runs["hierarchical, shuffled tree"]["accuracy"][0]
    times = result["head_times"]
    assert all(len(v) == 2 and all(x > 0 for x in v) for v in times.values())
    assert "clusters of 10 classes" in capsys.readouterr().out
    assert_png(tmp_path / "hierarchical_softmax.png")


def test_an_example_runs_as_a_script_with_the_environment_switch(tmp_path):
    env = {**os.environ, "GRAPHGRAD_EXAMPLE_QUICK": "1"}
    env.pop("MPLBACKEND", None)
    done = subprocess.run([sys.executable, str(EXAMPLES / "lr_schedules.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "t=19" in done.stdout  # quick: 20 steps
    assert_png(tmp_path / "lr_schedules.png")  # --out defaults to the working directory


# -- the docs that walk through the examples ------------------------------------------------

DOCS = EXAMPLES.parent / "docs"


def test_plugin_guide_shows_the_example_package_as_it_is():
    guide = (DOCS / "plugins.md").read_text(encoding="utf-8")
    for part in ("pyproject.toml", "graphgrad_swish/__init__.py"):
        text = (EXAMPLES / "graphgrad-swish" / part).read_text(encoding="utf-8")
        assert text.strip() in guide, f"docs/plugins.md is out of date with graphgrad-swish/{part}"


def test_docs_index_links_resolve():
    index = DOCS / "index.md"
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", index.read_text(encoding="utf-8"))
    assert targets, "docs/index.md links nothing"
    missing = [t for t in targets if not (index.parent / t).exists()]
    assert not missing, f"docs/index.md links missing files: {missing}"
    linked = {(index.parent / t).resolve() for t in targets}
    # the pages there were when the index was written; pages added later get their line
    # in the docs pass (a hard failure here would block whoever adds a page)
    for page in ("autodiff.md", "networks.md", "layers.md", "training-components.md",
                 "training.md", "visualization.md", "plugins.md", "architecture.md"):
        assert (DOCS / page).resolve() in linked, f"docs/index.md does not link {page}"
