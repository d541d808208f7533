"""The `graphgrad` command line (graphgrad/cli/, graphgrad/__main__.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest

from graphgrad import cli, registry
from graphgrad.extend import Module
from graphgrad.registry import AUTOLOAD_ENV, hookimpl, register_plugin
from graphgrad.registry import loader as plugin_loader
from graphgrad.viz.finding import builtin_rules


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    """An empty stand-in for the built-in plugin package, autoload off, a fresh manager."""
    builtins = f"ggtest_cli_builtins_{uuid.uuid4().hex[:8]}"
    (tmp_path / builtins).mkdir()
    (tmp_path / builtins / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugin_loader, "BUILTIN_PACKAGE", builtins)
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    registry.reload()
    yield tmp_path / builtins
    registry.reload()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def write_distribution(root: Path, dist: str, version: str, module: str, source: str) -> None:
    """A distribution on ``root`` whose entry point ``module`` (group graphgrad) is ``module``."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[graphgrad]\n{module} = {module}\n")


class Softsign(Module):
    def forward(self, x):
        return x / (1 + abs(x))

    @classmethod
    def example_input(cls, rng):
        return rng.normal(size=(2, 3))


class Gauss(Module):
    def forward(self, x):
        return (-x * x).exp()

    def example_input(self, rng):  # an instance method works too
        return "bad input"


class Needy(Module):
    def __init__(self, width):
        super().__init__()
        self.width = width

    example_input = Softsign.example_input


class Built(Module):
    """Needs arguments, but says how to build a small one."""

    def __init__(self, width):
        super().__init__()
        self.width = width

    @classmethod
    def example(cls, rng):
        return cls(4)

    def forward(self, x):
        return x * self.width

    example_input = Softsign.example_input


class NoExample(Module):
    pass


class FakeLayers:
    @hookimpl
    def graphgrad_register_layers(self):
        return [Softsign, Gauss, Needy, Built, NoExample]

    @hookimpl
    def graphgrad_register_losses(self):
        return [Softsign]


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plugins_lists_plugins_with_distribution_and_components(capsys):
    register_plugin(FakeLayers(), name="fake_layers")
    code, out, err = run(capsys, "plugins")
    assert code == 0 and err == ""
    assert "fake_layers  (manual; unknown distribution)" in out
    assert "layers        built, gauss, needy, no_example, softsign" in out
    assert "losses        softsign" in out
    assert "1 plugin: 1 loaded, 0 broken." in out
    assert "not loaded (GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD is set)" in out


def test_plugins_lists_broken_plugins_with_their_error(capsys, tmp_path, monkeypatch):
    write_distribution(tmp_path, "good-dist", "1.0", "good_plugin", "")
    write_distribution(tmp_path, "bad-dist", "0.3", "bad_plugin", "raise ImportError('no GPU')")
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", registry.GraphgradPluginWarning)  # listed, not warned
        code, out, err = run(capsys, "plugins")
    assert err == ""
    assert code == 1
    assert "bad_plugin  (entry point; bad-dist 0.3)  BROKEN, skipped" in out
    assert "error         ImportError: no GPU" in out
    assert "good_plugin  (entry point; good-dist 1.0)\n    " in out
    assert "(no components)" in out


def test_plugins_json(capsys):
    register_plugin(FakeLayers(), name="fake_layers")
    code, out, _ = run(capsys, "plugins", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["autoload"] is False and payload["conflicts"] == []
    (plugin,) = payload["plugins"]
    assert plugin["name"] == "fake_layers" and plugin["error"] is None
    assert plugin["components"]["losses"] == ["softsign"]


def test_plugins_via_python_dash_m_finds_an_installed_entry_point(tmp_path):
    source = """
        from graphgrad.registry import hookimpl

        def mish(shape, rng):
            return None

        @hookimpl
        def graphgrad_register_initializers():
            return [mish]
    """
    write_distribution(tmp_path, "mish-dist", "0.9", "mish_plugin", source)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop(AUTOLOAD_ENV, None)
    command = [sys.executable, "-m", "graphgrad", "plugins"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mish_plugin  (entry point; mish-dist 0.9)" in done.stdout
    assert "initializers  mish" in done.stdout
    env[AUTOLOAD_ENV] = "1"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "mish_plugin" not in done.stdout


@pytest.mark.parametrize("command", [c.name for c in cli.SUBCOMMANDS])
def test_every_subcommand_has_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: graphgrad {command}")
    assert "--help" in out and len(out.splitlines()) > 5


def test_top_level_help_lists_the_subcommands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in cli.SUBCOMMANDS:
        assert command.name in out


def test_usage_errors_exit_2(capsys):
    assert run(capsys, "no-such-command")[0] == 2
    assert run(capsys, "plugins", "--bogus")[0] == 2
    code, _, err = run(capsys)
    assert code == 2 and "usage: graphgrad" in err


def test_errors_are_one_line_without_traceback(capsys, sandbox):
    (sandbox / "broken.py").write_text("import no_such_module_anywhere\n")
    code, out, err = run(capsys, "plugins")
    assert code == 2 and out == ""
    assert err.startswith("graphgrad plugins: error: PluginError: built-in plugin")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# -- graphgrad plugins --check ------------------------------------------------------


def test_check_prints_a_table_per_kind(capsys):
    register_plugin(FakeLayers(), name="fake_layers")
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "layers")
    assert code == 1
    table = out.split("\n\n")[-2].splitlines()
    assert table[0].split() == ["layers", "result", "detail"]
    rows = {line.split()[0]: line.split()[1] for line in table[1:]}
    assert rows == {"built": "pass", "gauss": "FAIL", "needy": "FAIL", "no_example": "SKIPPED",
                    "softsign": "pass"}
    gauss = next(line for line in table if line.startswith("gauss"))
    assert re.sub(" +", " ", gauss).startswith("gauss FAIL forward: "), gauss
    assert "cannot build Needy()" in out and "classmethod `example(rng)`" in out
    assert out.splitlines()[-1] == "layers: 5 checked, 2 passed, 2 failed, 1 skipped"


def test_check_json_and_filters(capsys):
    register_plugin(FakeLayers(), name="fake_layers")
    code, out, _ = run(capsys, "plugins", "--check", "--json", "--kind", "layers",
                       "--name", "built", "--name", "gauss")
    results = {r["name"]: r["status"] for r in json.loads(out)["check"]}
    assert code == 1 and results == {"built": "pass", "gauss": "FAIL"}
    built = next(r for r in json.loads(out)["check"] if r["name"] == "built")
    assert built["kind"] == "layers" and built["plugin"] == "fake_layers"
    assert [c["name"] for c in built["checks"]][:2] == ["forward", "gradcheck[train]"]
    code, _, err = run(capsys, "plugins", "--check", "--kind", "layer")
    assert code == 2 and "--kind: unknown kind(s) layer; kinds: layers,losses," in err
    code, _, err = run(capsys, "plugins", "--name", "built")
    assert code == 2 and "--kind, --name and --strict go with --check" in err


def test_check_passes_on_every_builtin_component_of_every_kind(capsys, monkeypatch):
    monkeypatch.setattr(plugin_loader, "BUILTIN_PACKAGE", "graphgrad_plugins")
    registry.reload()
    code, out, _ = run(capsys, "plugins", "--check", "--strict")
    assert code == 0, out
    counts = {}
    for line in out.splitlines():
        match = re.fullmatch(r"(\w+): (\d+) checked, (\d+) passed, 0 failed, 0 skipped", line)
        if match:
            counts[match[1]] = (int(match[2]), int(match[3]))
    kinds = ["layers", "losses", "optimizers", "schedules", "initializers", "transforms"]
    assert list(counts) == [*kinds, "functions", "findings_rules"], out
    for kind in kinds:  # every registered component was checked, and passed
        n = len(registry.Registry(kind))
        assert counts[kind] == (n, n), (kind, out)
    n = len(builtin_rules())  # every built-in findings rule too
    assert n >= 9 and counts["findings_rules"] == (n, n), out
