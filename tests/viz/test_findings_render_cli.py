"""`graphgrad render`: the script's folder on sys.path while FUNCTION runs, a model
returned alone draws its layers (shared parameters counted once), findings printed."""

import os
import shutil
import textwrap

import pytest

from graphgrad import cli


def need_dot():
    """Skip without Graphviz's `dot`, unless CI demands it (GRAPHGRAD_REQUIRE_DOT=1)."""
    if shutil.which("dot") is None:
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip("Graphviz `dot` is not installed")


def write(tmp_path, name, text):
    (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path / name


def test_function_imports_a_neighbour_inside_its_body(tmp_path, capsys, monkeypatch):
    need_dot()
    monkeypatch.chdir(tmp_path.parent)
    write(tmp_path, "neighbour_26.py", """
        import graphgrad as gg
        def build():
            x = gg.tensor([[1.0, 2.0]], requires_grad=True, name="x")
            return (x * x).sum()
    """)
    script = write(tmp_path, "model.py", """
        def loss():
            import neighbour_26
            return neighbour_26.build()
    """)
    out = tmp_path / "g.svg"
    assert cli.main(["render", f"{script}:loss", "-o", str(out)]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    import sys
    assert str(tmp_path) not in sys.path  # removed after the call


def test_a_model_returned_alone_draws_its_layers_shared_counted_once(tmp_path, capsys):
    need_dot()
    script = write(tmp_path, "model.py", """
        import graphgrad as gg
        def model():
            a, b = gg.layers.Linear(4, 4), gg.layers.Linear(4, 4)
            m = gg.Sequential(gg.layers.Linear(3, 4), gg.layers.ReLU(), a, gg.layers.ReLU(), b)
            b.weight = a.weight
            return m
    """)
    out = tmp_path / "m.svg"
    assert cli.main(["render", f"{script}:model", "-o", str(out)]) == 0
    src = (tmp_path / "m.dot").read_text()
    assert "0: Linear" in src and "4: Linear" in src
    assert src.count("shared: layers 2, 4") == 2
    # (3*4+4) + (16+4) + 4 (b's own bias; its weight is a's): 40, the weight counted once
    assert "40 parameters" in src


def test_render_prints_the_findings(tmp_path, capsys):
    need_dot()
    script = write(tmp_path, "model.py", """
        import numpy as np
        import graphgrad as gg
        def loss():
            m = gg.Sequential(gg.layers.Linear(3, 4))
            x = gg.tensor(np.ones((2, 3), np.float32))
            p = gg.softmax(m(x), axis=-1)
            return gg.losses["cross_entropy"]()(p, gg.tensor(np.array([0, 1])))
    """)
    assert cli.main(["render", f"{script}:loss", "-o", str(tmp_path / "g.svg")]) == 0
    out = capsys.readouterr().out
    assert "ERROR PROBABILITIES INTO LOGITS LOSS" in out
    assert "PROBABILITIES INTO LOGITS LOSS" in (tmp_path / "g.dot").read_text()
