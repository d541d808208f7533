"""A plugin author's mistakes, one outside package each, and what the author sees.

Each package is "installed" as an outside distribution would be: a module and a
``*.dist-info`` folder with an entry point of group ``graphgrad`` on a
temporary ``sys.path`` entry, so graphgrad discovers it through the entry-point
machinery exactly as for a plugin from PyPI (see ``examples/graphgrad-swish``
and tests/contract/test_entry_point_plugin.py for a real pip install). The
built-in plugins are loaded as usual. Every test asserts the message a user
reads: the warning, the ``graphgrad plugins`` listing, the ``--check`` table.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import graphgrad as gg
from graphgrad import registry
from graphgrad.cli import main
from graphgrad.config.parts import ConfigError, build_component
from graphgrad.registry import AUTOLOAD_ENV, GraphgradPluginWarning


class Site:
    """A temporary site directory: ``install`` adds a one-module outside distribution."""

    def __init__(self, root: Path):
        self.root = root

    def install(self, dist: str, module: str, source: str) -> Path:
        path = self.root / f"{module}.py"
        path.write_text(textwrap.dedent(source).lstrip())
        info = self.root / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[graphgrad]\n{module} = {module}\n")
        registry.reload()
        return path


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    registry.reload()
    yield Site(tmp_path)
    registry.reload()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def run(capsys, *argv) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphgradPluginWarning)
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def row(out: str, name: str) -> str:
    """The line of the --check table for the component ``name``."""
    (line,) = [x for x in out.splitlines() if x.split()[:1] == [name] and len(x.split()) > 1]
    return re.sub(r" {2,}", "  ", line)


# -- 7. a wrong backward is reported for the op inside the layer ------------------

WRONG_BACKWARD = """
    from graphgrad.extend import Function, Module, hookimpl

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 2 * x * x  # should be 3 x^2

    class CubeActivation(Module):
        def forward(self, x):
            return Cube.apply(x)

    class Cubic(Module):
        def __init__(self):
            super().__init__()
            self.act = CubeActivation()

        def forward(self, x):
            return self.act(x)

        @classmethod
        def example_input(cls, rng):
            return rng.normal(size=(2, 3))

    @hookimpl
    def graphgrad_register_layers():
        return [Cubic]
"""


def test_wrong_backward_names_the_op_its_class_and_the_layer_path(site, capsys):
    site.install("cubic-dist", "cubic_plugin", WRONG_BACKWARD)
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "layers,functions",
                       "--name", "cubic", "--name", "Cube")
    assert code == 1
    assert row(out, "cubic").startswith(
        "cubic  FAIL  gradcheck[train]: op Cube (cubic_plugin.Cube) in layer CubeActivation at "
        "'act': gradcheck failed for input 0 of shape (2, 3): at input element "
    )
    assert "; the layer as a whole: gradcheck failed" in row(out, "cubic")
    # the op declares no example_input: listed, never silently dropped
    assert row(out, "Cube") == (
        "Cube  SKIPPED  declares no example_input(rng); add a classmethod returning a tuple of "
        "arguments to have this op checked"
    )
    assert "layers: 1 checked, 0 passed, 1 failed, 0 skipped" in out
    assert "functions: 1 checked, 0 passed, 0 failed, 1 skipped" in out


# -- 4. a plugin that fails at import shows the file and the line -----------------

IMPORT_ERROR = """
    from graphgrad.extend import hookimpl

    RATE = 1 / 0
"""


def test_import_error_shows_file_and_line_and_the_rest_keeps_working(site, capsys):
    path = site.install("broken-dist", "broken_plugin", IMPORT_ERROR)
    where = f"{path}:3 in <module>"
    with pytest.warns(GraphgradPluginWarning) as caught:
        assert "linear" in gg.layers  # everything else keeps working
    (message,) = [str(w.message) for w in caught]
    assert message == (
        "graphgrad plugin 'broken_plugin' (broken-dist 1.0) was skipped: ZeroDivisionError: "
        f"division by zero (at {where}). Fix or uninstall that distribution, or set "
        "GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD=1 to skip all outside plugins; `graphgrad plugins` "
        "lists what loaded."
    )
    code, out, _ = run(capsys, "plugins")
    assert code == 1
    assert "broken_plugin  (entry point; broken-dist 1.0)  BROKEN, skipped\n" in out
    assert f"    error         ZeroDivisionError: division by zero (at {where})\n" in out
    assert f"    at            {where}: RATE = 1 / 0\n" in out
    code, out, _ = run(capsys, "plugins", "--json")
    (plugin,) = [p for p in json.loads(out)["plugins"] if p["name"] == "broken_plugin"]
    assert plugin["error"] == f"ZeroDivisionError: division by zero (at {where})"
    assert plugin["where"] == [f"{where}: RATE = 1 / 0"]


# -- 3. a name clash keeps the built-in and the outside one under dist:name ---------

NAME_CLASH = """
    import numpy as np
    from graphgrad.extend import hookimpl

    class Orthogonal:
        '''Not the built-in: every weight is 0.5.'''

        def __call__(self, shape, rng=None):
            return np.full(shape, 0.5)

    @hookimpl
    def graphgrad_register_initializers():
        return [Orthogonal]
"""

CLASH = (
    "two initializers are named 'orthogonal': plugin 'graphgrad_plugins.initializers' "
    "(graphgrad {version}) keeps the name; the one from plugin 'ortho_plugin' (ortho-dist 1.0) "
    "is available as 'ortho-dist:orthogonal' (also in TOML configs). Rename one (set its "
    "`name` attribute) to use both by their own names"
)


def test_name_clash_keeps_the_builtin_and_the_outside_one_stays_reachable(site, capsys):
    site.install("ortho-dist", "ortho_plugin", NAME_CLASH)
    with pytest.warns(GraphgradPluginWarning) as caught:
        builtin = gg.initializers.orthogonal
    clash = CLASH.format(version=gg.initializers.plugin_of("orthogonal").version)
    assert [str(w.message) for w in caught] == [clash]
    assert builtin.__module__ == "graphgrad_plugins.initializers"
    outside = gg.initializers["ortho-dist:orthogonal"]
    assert outside.__module__ == "ortho_plugin"
    # every other component of the kind, and every layer, keeps working
    layer = gg.layers.Linear(4, 3)
    assert layer.weight.shape == (4, 3) and "he_normal" in gg.initializers
    # the qualified name works where a config names a component
    spec = {"type": "linear", "in_features": 4, "out_features": 3,
            "init": "ortho-dist:orthogonal"}
    built = build_component("layers", spec, "model.layers[0]")
    assert (built.weight.data == 0.5).all()
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "initializers")
    assert code == 1  # the clash is a problem to fix, but the table is there
    assert f"Name conflict: {clash}" in out
    assert row(out, "orthogonal") == "orthogonal  pass"
    assert row(out, "ortho-dist:orthogonal") == "ortho-dist:orthogonal  pass"  # checked too


# -- 6. registration hooks check the kind of what they return -----------------------

WRONG_KIND = """
    from graphgrad.extend import Loss, hookimpl

    class Hinge(Loss):
        def forward(self, prediction, target):
            return (1 - prediction * target).relu()

    @hookimpl
    def graphgrad_register_layers():
        return [Hinge]
"""

INSTANCE = """
    from graphgrad.extend import Module, hookimpl

    class Swish(Module):
        def forward(self, x):
            return x * x.sigmoid()

    @hookimpl
    def graphgrad_register_layers():
        return [Swish()]
"""


@pytest.mark.parametrize(("source", "expected"), [
    (WRONG_KIND,
     "graphgrad_register_layers() of plugin 'kind_plugin' returned Hinge, which is one of the "
     "losses (a subclass of Loss); graphgrad_register_layers() expects Module subclasses (or "
     "functions that build one): return it from graphgrad_register_losses() instead"),
    (INSTANCE,
     "graphgrad_register_layers() of plugin 'kind_plugin' returned an instance of Swish "
     "(Swish()), not a class; return the class Swish itself (graphgrad_register_layers() "
     "expects Module subclasses (or functions that build one))"),
], ids=["loss-as-layer", "instance"])
def test_wrong_kind_names_hook_plugin_and_what_was_expected(site, source, expected):
    site.install("kind-dist", "kind_plugin", source)
    with pytest.warns(GraphgradPluginWarning) as caught:
        assert "linear" in gg.layers
    (message,) = [str(w.message) for w in caught]
    assert message.startswith(
        f"graphgrad plugin 'kind_plugin' (kind-dist 1.0) was skipped: {expected}")
    assert "hinge" not in gg.layers and "swish" not in gg.layers


# -- 9. an optimizer that loses its state is caught before training -----------------

LOST_STATE = """
    import numpy as np
    from graphgrad.extend import Optimizer, hookimpl

    class Heavy(Optimizer):
        '''Heavy-ball momentum, its buffers kept outside self.state (the mistake).'''

        def __init__(self, params, lr=0.01, momentum=0.9):
            super().__init__(params, dict(lr=lr, momentum=momentum))
            self.buffers = {}

        def update(self, param, grad, group, state):
            v = self.buffers.setdefault(id(param), np.zeros_like(param))
            v *= group["momentum"]
            v += grad
            param -= group["lr"] * v

    @hookimpl
    def graphgrad_register_optimizers():
        return [Heavy]
"""


def test_optimizer_whose_state_dict_misses_its_state_fails_the_check(site, capsys):
    site.install("heavy-dist", "heavy_plugin", LOST_STATE)
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "optimizers", "--name", "heavy")
    assert code == 1
    assert re.fullmatch(
        r"heavy  FAIL  state_dict: after load_state_dict\(state_dict\(\)\) the next step differs "
        r"by up to [0-9.e-]+; state_dict must hold every value step\(\) uses \(keep it in "
        r"self.state\[param\] and the param groups\)", row(out, "heavy"))


# -- a layer that promotes float32 to float64 ---------------------------------------

FLOAT64_LAYER = """
    import numpy as np
    from graphgrad.extend import Module, hookimpl

    class Shift(Module):
        def forward(self, x):
            return x + np.ones(x.shape)  # a float64 constant: float32 in, float64 out

        @classmethod
        def example_input(cls, rng):
            return rng.normal(size=(2, 3))

    @hookimpl
    def graphgrad_register_layers():
        return [Shift]
"""


def test_float64_producing_layer_fails_the_precision_check(site, capsys):
    site.install("shift-dist", "shift_plugin", FLOAT64_LAYER)
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "layers", "--name", "shift")
    assert code == 1
    assert row(out, "shift") == (
        "shift  FAIL  float32 vs float64: train: output 0 is float64 for float32 inputs and "
        "parameters; some constant promotes it (make constants Python floats or cast them to "
        "the input's dtype)"
    )


# -- 5. a random transform without a seed ------------------------------------------

NO_SEED = """
    from graphgrad.extend import RandomTransform, hookimpl

    class Jitter(RandomTransform):
        def __init__(self, scale=0.1):
            super().__init__()
            self.scale = scale

        def apply(self, x):
            return x + self.scale * self.rng.standard_normal(x.shape).astype(x.dtype)

        @classmethod
        def example_input(cls, rng):
            return rng.normal(size=(4, 3))

    @hookimpl
    def graphgrad_register_transforms():
        return [Jitter]
"""


def test_transform_without_seed_is_refused_by_configs_and_fails_the_check(site, capsys):
    site.install("jitter-dist", "jitter_plugin", NO_SEED)
    with pytest.raises(ConfigError) as info:
        build_component("transforms", "jitter", "data.transforms[0]", defaults={"seed": 3})
    assert str(info.value) == (
        "[data.transforms[0]] jitter: Jitter draws random numbers (a RandomTransform) but its "
        "constructor takes no `seed`, so the run's seed cannot reach it and the run could not "
        "be reproduced; add `seed=None` to its __init__ and pass it on with "
        "super().__init__(seed)"
    )
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "transforms", "--name", "jitter")
    assert code == 1
    assert row(out, "jitter") == (
        "jitter  FAIL  seed: Jitter is a RandomTransform but its constructor takes no seed, so "
        "configs cannot seed it; add seed=None to __init__ and pass it on: super().__init__(seed)"
    )


# -- 2. a layer without example_input is SKIPPED, and fails under --strict ----------

NO_EXAMPLE = """
    from graphgrad.extend import Module, hookimpl

    class Square(Module):
        def forward(self, x):
            return x * x

    @hookimpl
    def graphgrad_register_layers():
        return [Square]
"""


def test_layer_without_example_input_is_skipped_with_the_reason(site, capsys):
    site.install("square-dist", "square_plugin", NO_EXAMPLE)
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "layers", "--name", "square")
    assert code == 0
    assert row(out, "square") == (
        "square  SKIPPED  declares no example_input(rng); add a classmethod returning a small "
        "input to have this layer checked"
    )
    assert "layers: 1 checked, 0 passed, 0 failed, 1 skipped" in out
    code, _, _ = run(capsys, "plugins", "--check", "--kind", "layers", "--name", "square",
                     "--strict")
    assert code == 1
    code, out, _ = run(capsys, "plugins", "--check", "--json", "--kind", "layers",
                       "--name", "square")
    (result,) = json.loads(out)["check"]
    assert result["status"] == "SKIPPED" and result["plugin"] == "square_plugin"


# -- a findings rule that raises, one that returns malformed findings ---------------

BROKEN_RULES = """
    from graphgrad.extend import hookimpl
    from graphgrad.viz import Finding

    def divides_by_zero(ctx):
        return [1 / 0]

    def returns_text(ctx):
        return ["MATMUL"]  # not a Finding

    def names_a_missing_node(ctx):
        return [Finding("names_a_missing_node", "info", "HERE", nodes=("no such node",))]

    def marks_every_matmul(ctx):  # a warning on a healthy network
        return [Finding("marks_every_matmul", "warning", "MATMUL", nodes=(n,))
                for n, d in ctx.graph.nodes(data=True) if d["op"] == "MatMul"]

    def counts_ops(ctx):  # a correct rule: info only
        n = sum(d["kind"] == "op" for _, d in ctx.graph.nodes(data=True))
        return [Finding("counts_ops", "info", f"{n} ops")]

    @hookimpl
    def graphgrad_register_findings_rules():
        return [divides_by_zero, returns_text, names_a_missing_node, marks_every_matmul,
                counts_ops]
"""


def test_broken_findings_rules_fail_the_check_naming_the_plugin(site, capsys):
    import numpy as np

    site.install("rules-dist", "rules_plugin", BROKEN_RULES)
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "findings_rules")
    assert code == 1
    assert row(out, "divides_by_zero") == (
        "divides_by_zero  FAIL  plugin rules_plugin: training step: raised ZeroDivisionError: "
        "division by zero")
    assert row(out, "returns_text") == (
        "returns_text  FAIL  plugin rules_plugin: training step: it returned 'MATMUL'; it must "
        "return a list of graphgrad.viz.Finding")
    assert row(out, "names_a_missing_node").startswith(
        "names_a_missing_node  FAIL  plugin rules_plugin: training step: finding 'HERE' names "
        "node(s) ['no such node'] the graph does not have")
    assert row(out, "marks_every_matmul").startswith(
        "marks_every_matmul  FAIL  plugin rules_plugin: training step: a warning 'MATMUL' on a "
        "healthy network")
    assert row(out, "counts_ops") == (
        "counts_ops  pass  plugin rules_plugin: 2 passed, 0 failed, 0 skipped")
    assert row(out, "not_in_optimizer").startswith("not_in_optimizer  pass  plugin graphgrad.viz")
    assert "findings_rules: 14 checked, 10 passed, 4 failed, 0 skipped" in out
    # the broken rules are left out of the picture with a warning naming them and the plugin
    model = gg.layers.Linear(3, 2)
    out = model(gg.tensor(np.ones((2, 3), np.float32)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphgradPluginWarning)
        found = gg.viz.findings(out, model)
    assert [str(w.message).split(":")[0] for w in caught] == [
        "findings rule 'divides_by_zero' of plugin 'rules_plugin' skipped",
        "findings rule 'returns_text' of plugin 'rules_plugin' skipped"]
    assert "it raised ZeroDivisionError: division by zero" in str(caught[0].message)
    assert [f.rule for f in found] == ["marks_every_matmul", "names_a_missing_node",
                                       "counts_ops"]


BROKEN_RULES_HOOK = """
    from graphgrad.extend import hookimpl

    @hookimpl
    def graphgrad_register_findings_rules():
        return "every_matmul"  # not a list of functions
"""


def test_a_findings_hook_returning_no_list_fails_the_check(site, capsys):
    site.install("hook-dist", "hook_plugin", BROKEN_RULES_HOOK)
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "findings_rules")
    assert code == 1
    assert row(out, "graphgrad_register_findings_rules") == (
        "graphgrad_register_findings_rules  FAIL  plugin hook_plugin: "
        "graphgrad_register_findings_rules() must return a list of callables rule(ctx) -> "
        "list[Finding], got 'every_matmul'")
    with pytest.warns(GraphgradPluginWarning, match="plugin 'hook_plugin'"):
        assert gg.to_dot(gg.tensor([1.0], requires_grad=True).sum()).source
