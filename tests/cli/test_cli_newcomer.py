"""What a newcomer meets first: the command's help, and errors that say what to do.

Missing optional packages are simulated (``sys.modules[name] = None`` makes
``import name`` raise ImportError), never uninstalled; a missing Graphviz
``dot`` is simulated with an empty PATH. Every test here is fast.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.cli import SUBCOMMANDS, build_parser, main
from graphgrad.cli import render as cli_render
from graphgrad.cli.demo import DEMO_CONFIG

ROOT = Path(__file__).resolve().parents[2]
DIGITS_TOML = ROOT / "examples" / "configs" / "digits.toml"
EXTRA_INSTALL = 'pip install -e ".[examples]"'

MODEL_PY = """\
import graphgrad as gg

def loss():
    x = gg.tensor([[1.0, 2.0]], requires_grad=True, name="x")
    return (x * 2.0).tanh().sum()

def needs(x):
    return x

def boom():
    return undefined_name + 1

def number():
    return 3
"""


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model_py(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(MODEL_PY, encoding="utf-8")
    return tmp_path / "model.py"


def no_module(monkeypatch, *names):
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


# -- help -------------------------------------------------------------------------


def test_top_level_help_shows_examples_and_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in SUBCOMMANDS:
        assert f"graphgrad {command.name}" in out, command.name
    assert "Exit codes" in out and "docs/index.md" in out


@pytest.mark.parametrize("command", [c.name for c in SUBCOMMANDS])
def test_every_subcommand_help_has_an_example_and_fits_80_columns(command):
    description = next(c.description for c in SUBCOMMANDS if c.name == command)
    assert re.search(rf"^  (GRAPHGRAD_\w+=1 )?graphgrad {command}\b", description, re.M), (
        f"`graphgrad {command} --help` shows no example command line")
    assert "Exits with" in description
    too_long = [line for line in description.splitlines() if len(line) > 79]
    assert not too_long, too_long


def test_every_option_has_help():
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():  # noqa: SLF001
        for action in sub._actions:  # noqa: SLF001
            assert action.help, f"graphgrad {name} {action.option_strings or action.dest}"


def test_the_render_help_example_runs(tmp_path, monkeypatch, capsys):
    """The model.py shown by `graphgrad render --help` works as shown."""
    text = cli_render.DESCRIPTION
    block = text[text.index("  import graphgrad"):text.index("  graphgrad render model.py")]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text("\n".join(line[2:] for line in block.splitlines()))
    code, out, err = run(capsys, "render", "model.py:loss", "-o", "loss.svg")
    assert (tmp_path / "loss.dot").is_file()
    if code == 2:  # no Graphviz here: the .dot source is still written
        assert "`dot` was not found" in err
    else:
        assert code == 0 and "wrote loss.svg" in out


# -- a missing `examples` extra ---------------------------------------------------------


def test_demo_without_scikit_learn_says_how_to_install_the_extra(monkeypatch, capsys):
    no_module(monkeypatch, "sklearn", "sklearn.datasets")
    code, out, err = run(capsys, "demo", "--quick")
    assert code == 2 and err.count("\n") == 1  # one line, no traceback
    assert "needs scikit-learn" in err
    assert EXTRA_INSTALL in err and "graphgrad[examples]" in err


def test_history_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path):
    no_module(monkeypatch, "matplotlib", "matplotlib.figure", "matplotlib.pyplot")
    history = gg.History([{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}])
    with pytest.raises(ImportError, match=re.escape("graphgrad[examples]")):
        history.plot(tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()


def test_lr_find_plot_without_matplotlib_names_the_extra(monkeypatch, tmp_path, capsys):
    no_module(monkeypatch, "matplotlib", "matplotlib.figure", "matplotlib.pyplot")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = gg.Sequential(gg.layers.Linear(2, 2, rng=0))
    result = gg.check.lr_find(model, gg.losses.CrossEntropy(), (x, y), num=3, steps=2,
                              n_samples=32, plot=tmp_path / "lr.png")
    assert result.suggestion > 0  # the sweep itself still runs
    assert "needs matplotlib" in capsys.readouterr().out
    assert not (tmp_path / "lr.png").exists()


# -- a missing Graphviz `dot` -----------------------------------------------------------


def test_render_without_dot_says_how_to_install_graphviz(model_py, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(model_py.parent / "empty-bin"))
    code, _, err = run(capsys, "render", "model.py:loss", "-o", "graph.svg")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("graphgrad render: error: the Graphviz program `dot` was not found")
    assert "apt-get install graphviz" in err and "dot -Tsvg graph.dot -o graph.svg" in err
    assert (model_py.parent / "graph.dot").is_file()


# -- configs ------------------------------------------------------------------------


@pytest.fixture
def config_with(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def write(old, new):
        text = DIGITS_TOML.read_text(encoding="utf-8")
        assert old in text
        (tmp_path / "edited.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
        return "edited.toml"

    return write


@pytest.mark.parametrize("command", ["train", "babysit"])
@pytest.mark.parametrize("old,new,expected", [
    ("momentum = 0.9", "momentun = 0.9",
     "[optimizer] sgd: unknown key(s) ['momentun']; valid keys: ['lr', 'momentum', "),
    ("epochs = 40", "epoch = 40",
     "[train]: unknown key(s) ['epoch']; valid keys: ['checkpoint_every', 'compile', 'epochs', "),
    ("[optimizer]", "[optimiser]", "unknown key(s) ['optimiser']; valid keys: ['babysit', "),
    ("in_features = 64", "in_feature = 64",
     "[model.layers[1]] linear: unknown key(s) ['in_feature']; valid keys: ['in_features', "),
])
def test_a_misspelt_config_key_lists_the_valid_keys(config_with, capsys, command, old, new,
                                                     expected):
    path = config_with(old, new)
    code, out, err = run(capsys, command, path)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"graphgrad {command}: error: edited.toml: ")
    assert expected in err
    right = old.split()[0].strip("[]")
    assert f"did you mean '{right}'?" in err


def test_did_you_mean_pairs_several_misspelt_keys():
    from graphgrad.config.parts import did_you_mean

    assert did_you_mean(["lr"], ["momentum"]) == ""
    assert did_you_mean(["momentun"], ["lr", "momentum"]) == "; did you mean 'momentum'?"
    assert did_you_mean(["in_feature", "outfeatures"], ["in_features", "out_features"]) == (
        "; did you mean 'in_features' for 'in_feature', 'out_features' for 'outfeatures'?")


@pytest.mark.parametrize("command", ["train", "babysit"])
def test_a_config_that_does_not_exist_says_what_to_give(tmp_path, monkeypatch, capsys,
                                                         command):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, command, "missing.toml")
    assert code == 2 and err.count("\n") == 1
    assert "no config file at 'missing.toml': it does not exist" in err
    assert str(tmp_path) in err and "examples/configs/digits.toml" in err
    (tmp_path / "folder").mkdir()
    code, _, err = run(capsys, command, "folder")
    assert code == 2 and "is a directory, not a config file" in err


def test_invalid_toml_names_the_file_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.toml").write_text("x = \n", encoding="utf-8")
    code, _, err = run(capsys, "train", "broken.toml")
    assert code == 2
    assert err.startswith("graphgrad train: error: 'broken.toml' is not valid TOML")
    assert err.count("broken.toml") == 1


def test_the_docs_show_the_real_digits_config():
    """docs/training.md says its TOML block *is* examples/configs/digits.toml."""
    text = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    shown = tomllib.loads(block)
    with DIGITS_TOML.open("rb") as file:
        real = tomllib.load(file)
    assert shown == real == DEMO_CONFIG


# -- render: script and function -------------------------------------------------------


@pytest.mark.parametrize("target,expected", [
    ("nosuch.py:loss", "script 'nosuch.py' not found (working directory: "),
    ("model.py:nope", "model.py has no function 'nope'; functions defined there: boom, loss, "
                      "needs, number"),
    ("model.py", "expected SCRIPT.py:FUNCTION, got 'model.py'"),
    ("model.py:needs", "model.py:needs needs argument(s) x, but render calls FUNCTION with none"),
    ("model.py:boom", "model.py:boom raised NameError: name 'undefined_name' is not defined "
                      "(model.py, line 11)"),
    ("model.py:number", "model.py:number returned int; it must return the graphgrad Tensor"),
])
def test_render_errors_say_what_is_wrong(model_py, capsys, target, expected):
    code, out, err = run(capsys, "render", target)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("graphgrad render: error: ")
    assert expected in err


def test_render_a_script_that_fails_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text("import graphgrad\n\nraise RuntimeError('oops')\n")
    code, _, err = run(capsys, "render", "bad.py:loss")
    assert code == 2
    assert "running bad.py failed: RuntimeError: oops (bad.py, line 3)" in err


# -- the docs: links resolve, every page is reachable ----------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "examples" / "README.md", ROOT / "examples" / "graphgrad-swish" / "README.md"]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves(page):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+\s+(.*)$", FENCE.sub("", resolved.read_text("utf-8")),
                                  re.M)
            if anchor not in {_anchor(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_every_docs_page_is_reachable_from_the_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = {Path(t.partition("#")[0]).name for t in LINK.findall(index)}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert not pages - linked, f"not linked from docs/index.md: {sorted(pages - linked)}"
