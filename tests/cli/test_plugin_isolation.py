"""Issue 27, severity 2: an outside plugin cannot take the built-ins or other plugins down.

Each plugin is "installed" as an outside distribution (a module plus a
``*.dist-info`` with an entry point of group ``graphgrad`` on a temporary
``sys.path`` entry), so it is discovered as one from PyPI would be.
"""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import graphgrad as gg
from graphgrad import registry
from graphgrad.cli import main
from graphgrad.registry import AUTOLOAD_ENV, STRICT_ENV, GraphgradPluginWarning, PluginError


class Site:
    def __init__(self, root: Path):
        self.root = root

    def install(self, dist: str, module: str, source: str, files: dict | None = None) -> None:
        if files:  # a package: module/__init__.py is `source`, plus submodules
            (self.root / module).mkdir()
            (self.root / module / "__init__.py").write_text(textwrap.dedent(source).lstrip())
            for name, text in files.items():
                (self.root / module / name).write_text(textwrap.dedent(text).lstrip())
        else:
            (self.root / f"{module}.py").write_text(textwrap.dedent(source).lstrip())
        info = self.root / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[graphgrad]\n{module} = {module}\n")
        registry.reload()


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(STRICT_ENV, raising=False)
    registry.reload()
    yield Site(tmp_path)
    registry.reload()
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


def run(capsys, *argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphgradPluginWarning)
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _plugin(name: str) -> registry.PluginInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphgradPluginWarning)
        (info,) = [p for p in registry.plugins() if p.name == name]
    return info


SAME_CLASS_NAME = """
    from graphgrad.extend import Module, hookimpl

    class Linear(Module):
        name = "my_linear"

    @hookimpl
    def graphgrad_register_layers():
        return [Linear]
"""


def test_a_plugin_class_named_like_a_built_in_does_not_make_it_ambiguous(site):
    site.install("mylin-dist", "mylin_plugin", SAME_CLASS_NAME)
    from graphgrad_plugins.layers import Linear

    assert gg.layers.Linear is Linear  # the built-in keeps its class name
    assert gg.layers.my_linear.__module__ == "mylin_plugin"
    assert _plugin("mylin_plugin").ok


SYS_EXIT = """
    import sys
    sys.exit(2)
"""


def test_sys_exit_at_import_marks_the_plugin_broken_and_the_program_goes_on(site, capsys):
    site.install("exit-dist", "exit_plugin", SYS_EXIT)
    with pytest.warns(GraphgradPluginWarning, match=r"exit_plugin.*SystemExit\(2\).*sys.exit"):
        assert gg.layers.Linear is not None
    info = _plugin("exit_plugin")
    assert not info.ok and "SystemExit(2)" in info.error
    code, out, _ = run(capsys, "plugins")
    assert code == 1 and "exit_plugin" in out and "BROKEN" in out


MISSPELLED_HOOK = """
    from graphgrad.extend import Module, hookimpl

    class Wobble(Module):
        pass

    @hookimpl
    def graphgrad_register_layer():
        return [Wobble]
"""


def test_a_misspelled_hook_is_an_error_under_strict_plugins(site, monkeypatch):
    site.install("wobble-dist", "wobble_plugin", MISSPELLED_HOOK)
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(PluginError, match=r"wobble_plugin.*unknown hook "
                       r"'graphgrad_register_layer'.*did you mean 'graphgrad_register_layers'"):
        gg.layers.names()
    monkeypatch.delenv(STRICT_ENV)
    registry.reload()
    with pytest.warns(GraphgradPluginWarning, match="graphgrad_register_layer"):
        assert "linear" in gg.layers.names()


def test_check_name_exit_status_is_about_what_was_checked(site, capsys):
    site.install("wobble-dist", "wobble_plugin", MISSPELLED_HOOK)  # someone else's, broken
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "layers", "--name", "relu")
    assert code == 0, out
    assert "BROKEN" in out  # still listed
    code, out, _ = run(capsys, "plugins", "--check", "--name", "wobble")
    assert code == 1 and "no component of the checked kinds is called 'wobble'" in out
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "layers")
    assert code == 1  # a full check still fails on any broken plugin


PACKAGE_INIT = """
    from graphgrad.extend import Module, hookimpl
    from .ops import Cube

    class Cubic(Module):
        def forward(self, x):
            return Cube.apply(x)

    @hookimpl
    def graphgrad_register_layers():
        return [Cubic]
"""

PACKAGE_OPS = """
    from graphgrad.extend import Function

    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 2 * x * x  # wrong: should be 3 x^2

        @classmethod
        def example_input(cls, rng):
            return (rng.normal(size=(2, 3)),)

    class Helper(Function):  # defined in a submodule, not imported by __init__
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad
"""


def test_functions_in_a_plugin_submodule_are_checked(site, capsys):
    site.install("cubepkg-dist", "cubepkg", PACKAGE_INIT, {"ops.py": PACKAGE_OPS})
    code, out, _ = run(capsys, "plugins", "--check", "--kind", "functions")
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1]}
    assert "FAIL" in rows["Cube"], out
    assert "SKIPPED" in rows["Helper"]  # never silently left out
    assert code == 1


HIJACK_MATMUL = """
    from graphgrad.extend import K

    K.matmul = lambda a, b: a * 0  # replace a built-in kernel for everyone
"""


def test_assigning_a_built_in_kernel_is_refused_and_matmul_stays_right(site):
    site.install("hijack-dist", "hijack_plugin", HIJACK_MATMUL)
    with pytest.warns(GraphgradPluginWarning, match=r"hijack_plugin.*K.matmul is a built-in"):
        gg.layers.names()
    a = gg.tensor([[1.0, 2.0]])
    assert (a @ gg.tensor([[1.0], [1.0]])).item() == 3.0
    assert not _plugin("hijack_plugin").ok


KERNEL_PLUGIN = """
    import numpy as np
    from graphgrad.extend import K, Function, hookimpl

    def cube_twin(x):
        return x ** 3

    def cube_fast(x):
        return x * x * x

    class CubeOp(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return K.cube27(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x * x

    @hookimpl
    def graphgrad_register_kernels():
        return {"cube27": (cube_twin, cube_fast)}
"""

BUILTIN_NAME_KERNEL = """
    from graphgrad.extend import hookimpl

    @hookimpl
    def graphgrad_register_kernels():
        return {"matmul": lambda a, b: a}
"""


def test_plugin_kernels_come_from_the_hook_with_a_twin_per_backend(site):
    site.install("cube-dist", "cube_kernel_plugin", KERNEL_PLUGIN)
    import cube_kernel_plugin as mod  # an op used before any registry lookup

    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = mod.CubeOp.apply(x)  # K.cube27 is looked up: the plugins load, the kernel is there
    y.sum().backward()
    assert y.data.tolist() == [1.0, 8.0] and x.grad.data.tolist() == [3.0, 12.0]
    before = gg.get_backend()
    try:
        gg.set_backend("numpy")
        assert gg.kernels.K.cube27 is mod.cube_twin
        if "numba" in gg.kernels.BACKENDS:
            try:
                gg.set_backend("numba")
            except RuntimeError:
                pass
            else:
                assert gg.kernels.K.cube27 is mod.cube_fast
    finally:
        gg.set_backend(before)
    assert _plugin("cube_kernel_plugin").components == {"kernels": ["cube27"]}
    registry.reload()
    assert "cube27" not in vars(gg.kernels.K)  # a reload drops them (reinstalled on use)


def test_a_plugin_kernel_with_a_built_in_name_breaks_only_that_plugin(site):
    site.install("bad-kernel-dist", "bad_kernel_plugin", BUILTIN_NAME_KERNEL)
    with pytest.warns(GraphgradPluginWarning, match="'matmul' is one of graphgrad's own"):
        assert "linear" in gg.layers.names()
    assert not _plugin("bad_kernel_plugin").ok
    assert gg.kernels.K.matmul.__module__.startswith("graphgrad.kernels")
