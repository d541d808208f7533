"""The plugin manager and the component registries (graphgrad/plugin_loader.py, registry.py).

Every test runs against a sandbox: an empty stand-in for the built-in plugin
package, entry-point autoload off unless the test turns it on, and a fresh
plugin manager, so the tests do not depend on which built-in plugins exist.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest

from graphgrad import registry
from graphgrad.extend import Module
from graphgrad.registry import (
    AUTOLOAD_ENV,
    DuplicateComponentError,
    GraphgradPluginWarning,
    PluginError,
    Registry,
    UnknownComponentError,
    call_event,
    component_name,
    hookimpl,
    register_plugin,
    snake_case,
)
from graphgrad.registry import loader as plugin_loader


class Sandbox:
    """Writes fake built-in plugin modules and fake installed distributions under ``root``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.builtins = f"ggtest_builtins_{uuid.uuid4().hex[:8]}"
        (root / self.builtins).mkdir()
        (root / self.builtins / "__init__.py").write_text("")
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.setattr(plugin_loader, "BUILTIN_PACKAGE", self.builtins)
        monkeypatch.setenv(AUTOLOAD_ENV, "1")

    def builtin(self, name: str, source: str) -> str:
        """Add a module to the stand-in built-in package; return its plugin name."""
        (self.root / self.builtins / f"{name}.py").write_text(textwrap.dedent(source))
        return f"{self.builtins}.{name}"

    def distribution(self, dist: str, version: str, plugins: dict[str, str], **modules: str):
        """Install (on sys.path) a distribution whose entry points of group
        ``graphgrad`` are ``plugins`` (name -> "module" or "module:object")."""
        for module, source in modules.items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in plugins.items())
        (info / "entry_points.txt").write_text(f"[graphgrad]\n{lines}")


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    box = Sandbox(tmp_path, monkeypatch)
    registry.reload()
    yield box
    registry.reload()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


LAYER_PLUGIN = """
    from graphgrad.extend import Module
    from graphgrad.registry import hookimpl

    class Swish(Module):
        def __init__(self, beta=1.0):
            super().__init__()
            self.beta = beta

    def lecun_tanh(shape, rng):
        return None

    @hookimpl
    def graphgrad_register_layers():
        return [Swish]

    @hookimpl
    def graphgrad_register_initializers():
        return [lecun_tanh]
"""


# -- fake plugins registered by hand ----------------------------------------------


class ScaledTanh(Module):
    """A layer named by its class name."""


class FancyDense(Module):
    """A layer with an explicit registry name."""

    name = "dense"

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.args = (in_features, out_features, bias)


class FakeLayers:
    @hookimpl
    def graphgrad_register_layers(self):
        return [ScaledTanh, FancyDense]


# -- naming ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ScaledTanh", "scaled_tanh"),
        ("HeNormal", "he_normal"),
        ("SGD", "sgd"),
        ("BCEWithLogits", "bce_with_logits"),
        ("MSELoss", "mse_loss"),
        ("XavierUniform", "xavier_uniform"),
        ("ReLU", "relu"),
        ("LeakyReLU", "leaky_relu"),
        ("PReLU", "prelu"),
        ("NoisyReLU", "noisy_relu"),
        ("RMSprop", "rmsprop"),
        ("Conv2D", "conv2d"),
        ("Conv2d", "conv2d"),
        ("Conv2DTranspose", "conv2d_transpose"),
        ("Layer2Norm", "layer2_norm"),
        ("RBF", "rbf"),
        ("HTTPServer", "http_server"),
        ("he_normal", "he_normal"),
        ("Adam", "adam"),
    ],
)
def test_snake_case(name, expected):
    assert snake_case(name) == expected


def test_component_name_prefers_own_name_attribute():
    class Base:
        name = "base"

    class Child(Base):  # an inherited name does not count
        pass

    def he_uniform(shape, rng):
        return None

    he_uniform.name = "kaiming_uniform"
    assert component_name(Base) == "base"
    assert component_name(Child) == "child"
    assert component_name(ScaledTanh) == "scaled_tanh"
    assert component_name(he_uniform) == "kaiming_uniform"
    with pytest.raises(ValueError, match="`name` attribute"):
        component_name(lambda x: x)


# -- lookup ---------------------------------------------------------------------


def test_lookup_by_attribute_item_and_registry_name():
    register_plugin(FakeLayers(), name="fake_layers")
    layers = Registry("layers")
    assert layers.ScaledTanh is ScaledTanh
    assert layers.scaled_tanh is ScaledTanh
    assert layers["scaled_tanh"] is ScaledTanh
    assert layers["FancyDense"] is FancyDense
    assert layers.dense is FancyDense
    assert layers.get("dense") is FancyDense
    assert layers.create("dense", 3, 2, bias=False).args == (3, 2, False)
    assert layers.names() == ["dense", "scaled_tanh"]
    assert list(layers) == ["dense", "scaled_tanh"] and len(layers) == 2
    assert "dense" in layers and "FancyDense" in layers and ScaledTanh in layers
    assert "swish" not in layers and object not in layers
    assert layers.plugin_of("ScaledTanh").name == "fake_layers"
    assert {"dense", "scaled_tanh", "ScaledTanh"} <= set(dir(layers))
    assert Registry("losses").names() == []


def test_typo_lists_known_names_and_suggests_the_closest():
    register_plugin(FakeLayers(), name="fake_layers")
    layers = Registry("layers")
    with pytest.raises(UnknownComponentError) as info:
        layers["scaled_tahn"]
    message = str(info.value)
    assert "did you mean 'scaled_tanh'?" in message
    assert "known layers: dense, scaled_tanh" in message
    assert info.value.suggestion == "scaled_tanh"
    with pytest.raises(KeyError):
        layers["nope"]
    with pytest.raises(AttributeError, match="did you mean 'scaled_tanh'"):
        layers.ScaledTan  # noqa: B018
    assert not hasattr(layers, "Swish")
    assert layers.get("nope", None) is None


def test_unknown_kind_suggests_the_right_one():
    with pytest.raises(ValueError, match="did you mean 'layers'"):
        Registry("layer")


def test_same_class_name_under_two_registry_names_is_ambiguous():
    def make(name):
        return type("Swish", (Module,), {"name": name})

    class Plugin:
        @hookimpl
        def graphgrad_register_layers(self):
            return [make("swish"), make("swish_v2")]

    register_plugin(Plugin())
    with pytest.raises(UnknownComponentError, match="ambiguous.*'swish', 'swish_v2'"):
        getattr(Registry("layers"), "Swish")  # noqa: B009
    assert Registry("layers").swish_v2.name == "swish_v2"


# -- duplicates -----------------------------------------------------------------


def test_duplicate_name_by_hand_names_both_plugins_and_changes_nothing():
    register_plugin(FakeLayers(), name="first_plugin")

    class OtherTanh(Module):
        name = "scaled_tanh"

    class Clash:
        @hookimpl
        def graphgrad_register_layers(self):
            return [OtherTanh]

    with pytest.raises(DuplicateComponentError) as info:
        register_plugin(Clash(), name="second_plugin")
    assert "'first_plugin'" in str(info.value) and "'second_plugin'" in str(info.value)
    assert "two layers are named 'scaled_tanh'" in str(info.value)
    assert Registry("layers").scaled_tanh is ScaledTanh
    assert [p.name for p in registry.plugins()] == ["first_plugin"]


def test_clash_between_builtin_and_entry_point_keeps_the_builtin(sandbox, monkeypatch):
    builtin = sandbox.builtin("acts", LAYER_PLUGIN)
    sandbox.distribution("swish-dist", "2.0", {"swish_plugin": "swish_mod"}, swish_mod=LAYER_PLUGIN)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    with pytest.warns(GraphgradPluginWarning) as caught:
        names = Registry("layers").names()
    assert names == ["swish", "swish-dist:swish"]
    layers = Registry("layers")
    assert layers.swish.__module__ == builtin
    assert layers["swish-dist:swish"].__module__ == "swish_mod"
    assert layers.plugin_of("swish-dist:swish").name == "swish_plugin"
    assert layers["graphgrad:swish"] is layers.swish  # every component has a qualified name
    (message,) = [str(w.message) for w in caught]
    assert message == (
        f"two layers are named 'swish': plugin '{builtin}' (graphgrad "
        f"{registry.plugins()[0].version}) keeps the name; the one from plugin 'swish_plugin' "
        "(swish-dist 2.0) is available as 'swish-dist:swish' (also in TOML configs). Rename "
        "one (set its `name` attribute) to use both by their own names"
    )
    with pytest.warns(GraphgradPluginWarning, match="two initializers are named 'lecun_tanh'"):
        assert Registry("initializers").names() == ["lecun_tanh", "swish-dist:lecun_tanh"]
    assert registry.conflicts()[0] == message and len(registry.conflicts()) == 2


# -- discovery ------------------------------------------------------------------


def test_builtins_are_registered_sorted_and_lazily(sandbox):
    marker = sandbox.root / "imported.txt"
    source = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n" + textwrap.dedent(LAYER_PLUGIN)
    sandbox.builtin("zeta", source.replace("[Swish]", "[]").replace("[lecun_tanh]", "[]"))
    sandbox.builtin("alpha", source)
    sandbox.builtin("_helpers", "raise ImportError('a helper module is not a plugin')")
    registry.reload()
    assert not marker.exists()  # nothing is built before first use
    infos = registry.plugins()
    assert [p.name for p in infos] == [f"{sandbox.builtins}.alpha", f"{sandbox.builtins}.zeta"]
    assert infos[0].source == "built-in" and infos[0].distribution == "graphgrad"
    assert infos[0].components == {"layers": ["swish"], "initializers": ["lecun_tanh"]}
    assert Registry("initializers").lecun_tanh(None, None) is None


def test_broken_builtin_raises(sandbox):
    sandbox.builtin("broken", "import no_such_module_anywhere\n")
    with pytest.raises(PluginError, match="built-in plugin .*broken.*bug in graphgrad"):
        Registry("layers").names()


def test_entry_point_of_an_installed_distribution_is_discovered(sandbox, monkeypatch):
    sandbox.distribution("swish-dist", "1.2.3", {"swish": "swish_mod"}, swish_mod=LAYER_PLUGIN)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    registry.reload()
    layers = Registry("layers")
    assert layers.Swish.__module__ == "swish_mod"
    assert layers.create("swish", beta=2.0).beta == 2.0
    assert "lecun_tanh" in Registry("initializers")
    info = layers.plugin_of("swish")
    assert (info.name, info.source, info.distribution, info.version) == (
        "swish",
        "entry point",
        "swish-dist",
        "1.2.3",
    )
    assert info.components == {"layers": ["swish"], "initializers": ["lecun_tanh"]}


def test_autoload_opt_out_skips_entry_points(sandbox, monkeypatch):
    sandbox.distribution("swish-dist", "1.0", {"swish": "swish_mod"}, swish_mod=LAYER_PLUGIN)
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    registry.reload()
    assert "swish" not in Registry("layers")
    assert "swish" not in [p.name for p in registry.plugins()]
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    registry.reload()
    assert "swish" in Registry("layers")


def test_entry_point_plugin_may_use_the_registry_at_import(sandbox, monkeypatch):
    sandbox.builtin("acts", LAYER_PLUGIN)
    sandbox.distribution(
        "ext-dist",
        "0.1",
        {"ext": "ext_mod"},
        ext_mod="""
            from graphgrad.registry import Registry, hookimpl

            class BetaSwish(Registry("layers").Swish):
                pass

            @hookimpl
            def graphgrad_register_layers():
                return [BetaSwish]
        """,
    )
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    assert issubclass(Registry("layers").beta_swish, Registry("layers").swish)


# -- broken outside plugins ------------------------------------------------------

WORKING = {"good": "good_mod"}


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("import no_such_module_anywhere\n", "ModuleNotFoundError: No module named"),
        (
            """
            from graphgrad.extend import Module
            from graphgrad.registry import hookimpl

            class Fine(Module):
                pass

            @hookimpl
            def graphgrad_register_losses():
                raise RuntimeError("cannot find my weights file")

            @hookimpl
            def graphgrad_register_layers():
                return [Fine]
            """,
            "graphgrad_register_losses() raised RuntimeError: cannot find my weights file",
        ),
        (
            """
            from graphgrad.registry import hookimpl

            @hookimpl
            def graphgrad_register_layers():
                return None
            """,
            "graphgrad_register_layers() returned None; it must return a list",
        ),
        (
            """
            from graphgrad.registry import hookimpl

            @hookimpl
            def graphgrad_register_layer():
                return []
            """,
            "unknown hook 'graphgrad_register_layer'; did you mean 'graphgrad_register_layers'?",
        ),
    ],
    ids=["import-error", "hook-raises", "not-a-list", "unknown-hook"],
)
def test_broken_outside_plugin_is_skipped_with_a_warning(sandbox, monkeypatch, source, error):
    sandbox.distribution("good-dist", "1.0", WORKING, good_mod=LAYER_PLUGIN)
    sandbox.distribution("bad-dist", "0.3", {"bad": "bad_mod"}, bad_mod=source)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    with pytest.warns(GraphgradPluginWarning) as caught:
        names = Registry("layers").names()
    assert names == ["swish"]  # the good plugin works, nothing of the bad one is kept
    assert Registry("losses").names() == []
    message = next(str(w.message) for w in caught if "'bad'" in str(w.message))
    assert "plugin 'bad' (bad-dist 0.3) was skipped" in message and error in message
    bad = next(p for p in registry.plugins() if p.name == "bad")
    assert not bad.ok and error in bad.error and bad.components == {}
    assert "\n" not in bad.error
    assert not registry.plugin_manager().has_plugin("bad")


def test_broken_plugin_event_hooks_are_not_called(sandbox, monkeypatch):
    sandbox.distribution(
        "bad-dist",
        "0.3",
        {"bad": "bad_mod"},
        bad_mod="""
            from graphgrad.registry import hookimpl

            @hookimpl
            def graphgrad_register_layers():
                raise ValueError("boom")

            @hookimpl
            def graphgrad_epoch_end():
                return True
        """,
    )
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    with pytest.warns(GraphgradPluginWarning, match="boom"):
        registry.plugin_manager()
    assert call_event("graphgrad_epoch_end", trainer=None, epoch=0, metrics={}) == []


# -- registering by hand, reload ---------------------------------------------------


def test_register_plugin_by_hand_refreshes_and_reload_forgets_it():
    assert "dense" not in Registry("layers")
    info = register_plugin(FakeLayers(), name="notebook")
    assert info.source == "manual" and info.components == {"layers": ["dense", "scaled_tanh"]}
    assert "dense" in Registry("layers")
    with pytest.raises(PluginError, match="already registered"):
        register_plugin(FakeLayers(), name="notebook")
    registry.reload()
    assert "dense" not in Registry("layers")


def test_register_plugin_by_hand_raises_when_broken():
    class Broken:
        @hookimpl
        def graphgrad_register_layers(self):
            return [42]

    with pytest.raises(PluginError, match="42, which is not a class or function"):
        register_plugin(Broken())
    assert registry.plugins() == [] and not registry.plugin_manager().get_plugins()


def test_no_warning_when_everything_is_fine(sandbox, monkeypatch):
    sandbox.distribution("good-dist", "1.0", WORKING, good_mod=LAYER_PLUGIN)
    monkeypatch.setenv(AUTOLOAD_ENV, "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphgradPluginWarning)
        assert "swish" in Registry("layers")


# -- event hooks -----------------------------------------------------------------


class Listener:
    def __init__(self):
        self.calls = []

    @hookimpl
    def graphgrad_epoch_end(self, metrics, epoch):  # a subset, in any order
        self.calls.append((epoch, metrics))
        return metrics["loss"] < 0.1 or None

    @hookimpl
    def graphgrad_dot_node_attrs(self, node, attrs):
        if node.get("op") == "matmul":
            attrs["fillcolor"] = "gold"


def test_event_hooks_are_called_with_keywords():
    listener = Listener()
    register_plugin(listener, name="listener")
    assert call_event("graphgrad_epoch_end", trainer="t", epoch=3, metrics={"loss": 0.5}) == []
    assert call_event("graphgrad_epoch_end", trainer="t", epoch=4, metrics={"loss": 0.05}) == [True]
    assert listener.calls == [(3, {"loss": 0.5}), (4, {"loss": 0.05})]
    attrs = {"label": "matmul"}
    call_event("graphgrad_dot_node_attrs", node={"op": "matmul"}, attrs=attrs)
    assert attrs == {"label": "matmul", "fillcolor": "gold"}


def test_call_event_rejects_bad_calls():
    with pytest.raises(ValueError, match="not a graphgrad event hook"):
        call_event("graphgrad_register_layers")
    with pytest.raises(TypeError, match=r"takes the keyword arguments \['trainer', 'epoch'"):
        call_event("graphgrad_epoch_end", trainer=None, epoch=1)
    with pytest.raises(TypeError):
        call_event("graphgrad_train_start", None)


# -- registration hooks check what they return ------------------------------------------


def _returned(hook: str, component) -> str:
    plugin = type("Plugin", (), {hook: hookimpl(lambda self: [component])})()
    with pytest.raises(PluginError) as info:
        register_plugin(plugin, name="p")
    return str(info.value)


def sgd_step(params, lr):
    """A function, not an Optimizer class."""


def test_registration_hooks_refuse_the_wrong_kind_naming_hook_and_plugin():
    from graphgrad.extend import Loss, Schedule

    assert _returned("graphgrad_register_optimizers", sgd_step) == (
        "graphgrad_register_optimizers() of plugin 'p' returned the function sgd_step; "
        "graphgrad_register_optimizers() expects Optimizer subclasses (from graphgrad.extend)")
    assert _returned("graphgrad_register_optimizers", Schedule) == (
        "graphgrad_register_optimizers() of plugin 'p' returned Schedule, which is one of the "
        "schedules (a subclass of Schedule); graphgrad_register_optimizers() expects Optimizer "
        "subclasses (from graphgrad.extend): return it from graphgrad_register_schedules() "
        "instead")
    assert _returned("graphgrad_register_transforms", ScaledTanh) == (
        "graphgrad_register_transforms() of plugin 'p' returned ScaledTanh, which is one of the "
        "layers (a subclass of Module); graphgrad_register_transforms() expects Transform "
        "subclasses (or functions on a batch): return it from graphgrad_register_layers() "
        "instead")
    assert "returned the class dict; graphgrad_register_losses() expects Loss subclasses" in (
        _returned("graphgrad_register_losses", dict))
    assert registry.plugins() == []

    class Ok:
        @hookimpl
        def graphgrad_register_losses(self):
            return [Loss, ScaledTanh, sgd_step]  # a Module as a loss, a function as a loss

    assert register_plugin(Ok(), name="ok").components["losses"] == [
        "loss", "scaled_tanh", "sgd_step"]
