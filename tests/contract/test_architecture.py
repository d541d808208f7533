"""The layout is the architecture, and that is checked, not just described.

- import-linter's contracts (pyproject.toml) hold: arrows point down;
- no import cycle joins two parts of the package (subpackages and top-level
  modules, counting function-level imports and the lazy-name tables) but the
  documented late bind of the ops into Tensor (autograd <-> ops);
- ``import graphgrad`` loads only the core (autograd, ops, the kernel table and
  the random generator), none of the heavy dependencies;
- every import path of graphgrad 0.1 still works, with a DeprecationWarning
  naming the new home;
- no submodule is named after a name its package exports lazily (it would
  shadow the function after ``import package.name``);
- pyproject lists every subpackage.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "graphgrad"

# What `import graphgrad` may load: the core. A module outside these is a lazy
# import that stopped being lazy.
CORE_PREFIXES = ("graphgrad.autograd", "graphgrad.ops", "graphgrad.kernels")
CORE_MODULES = {"graphgrad", "graphgrad._legacy", "graphgrad.random"}
HEAVY = ("numba", "llvmlite", "networkx", "pluggy", "graphviz", "matplotlib", "scipy", "tqdm")


def _in_fresh_python(code: str):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.skip("import-linter is not installed (the test extra installs it)")
    done = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


# The one documented cycle: Tensor's dunders call the ops, bound at the bottom of
# autograd/tensor.py (pyproject.toml's import-linter contracts ignore the same import).
ALLOWED_CYCLE = {"graphgrad.autograd", "graphgrad.ops"}
LATE_BIND = ("graphgrad.autograd.tensor", "graphgrad.ops")


def _part(module: str) -> str:
    """The part of graphgrad a module belongs to: its subpackage or top-level module."""
    return ".".join(module.split(".")[:2])


def _imports_between_parts():
    """{(importing part, imported part): [(importer, imported, line)]} over every import
    grimp sees (function-level ones too) plus the packages' lazy-name tables
    (``_LAZY``/``_LAZY_MODULES``, resolved by ``importlib`` on first use)."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (test extra)")
    graph = grimp.build_graph("graphgrad", exclude_type_checking_imports=True)
    edges: dict[tuple[str, str], list] = {}

    def add(importer, imported, line):
        a, b = _part(importer), _part(imported)
        if a != b:
            edges.setdefault((a, b), []).append((importer, imported, line))

    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            for d in graph.get_import_details(importer=importer, imported=imported) or [{}]:
                add(importer, imported, d.get("line_number"))
        if graph.find_children(importer) or importer == "graphgrad":
            package = importlib.import_module(importer)
            for table in ("_LAZY", "_LAZY_MODULES"):
                for imported in set(vars(package).get(table, {}).values()):
                    add(importer, imported, table)
    return edges


def _cycles_between_parts(edges):
    import networkx as nx

    graph = nx.DiGraph(list(edges))
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def test_no_import_cycle_between_parts_but_the_documented_one():
    edges = _imports_between_parts()
    cycles = [c for c in _cycles_between_parts(edges) if set(c) != ALLOWED_CYCLE]
    shown = []
    for cycle in cycles:
        for (a, b), where in sorted(edges.items()):
            if a in cycle and b in cycle:
                importer, imported, line = where[0]
                shown.append(f"{a} -> {b} (e.g. {importer}:{line} imports {imported})")
    assert not cycles, ("import cycle between parts of graphgrad: " + "; ".join(shown)
                        + ". Move the shared piece down a layer or pass it in.")
    late = {(i, m) for i, m, _ in edges.get(("graphgrad.autograd", "graphgrad.ops"), [])}
    assert late <= {LATE_BIND}, f"autograd imports the ops beyond the late bind: {late}"


def test_the_cycle_check_sees_a_new_cycle():
    edges = _imports_between_parts()
    edges[("graphgrad.kernels", "graphgrad.nn")] = [("graphgrad.kernels", "graphgrad.nn", 1)]
    cycles = _cycles_between_parts(edges)
    assert any({"graphgrad.kernels", "graphgrad.nn"} <= set(c) for c in cycles), cycles


def test_import_graphgrad_loads_only_the_core():
    loaded = _in_fresh_python(
        "import json, sys, graphgrad; print(json.dumps(sorted(sys.modules)))")
    ours = [m for m in loaded if m == "graphgrad" or m.startswith("graphgrad.")]
    outside_core = [m for m in ours
                    if m not in CORE_MODULES and not m.startswith(CORE_PREFIXES)]
    assert not outside_core, f"import graphgrad loaded more than the core: {outside_core}"
    assert "graphgrad.kernels.numba_backend.loops" not in ours  # loops compile on first use
    heavy = sorted({m.split(".")[0] for m in loaded} & set(HEAVY))
    assert not heavy, f"import graphgrad imported {heavy}"


def test_lazy_names_load_their_part_on_first_use():
    loaded = _in_fresh_python(
        "import json, sys, graphgrad as gg\n"
        "before = 'graphgrad.viz' in sys.modules or 'graphgrad.nn' in sys.modules\n"
        "gg.Module, gg.to_dot, gg.check.babysit, gg.Trainer\n"
        "print(json.dumps([before, sorted(m for m in sys.modules if m.startswith('graphgrad'))]))")
    before, after = loaded
    assert before is False
    for part in ("graphgrad.nn", "graphgrad.viz", "graphgrad.check.babysitting",
                 "graphgrad.training"):
        assert part in after


def _legacy_table():
    from graphgrad import _legacy

    return _legacy.MOVED


@pytest.mark.parametrize("old", sorted(_legacy_table()))
def test_every_old_import_path_still_works_and_names_its_new_home(old):
    homes = _legacy_table()[old]
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any(homes[0] in m and old in m for m in messages), messages
    new = importlib.import_module(homes[0])
    public = [k for k in vars(new) if not k.startswith("_")]
    assert public and all(getattr(module, k) is getattr(new, k) for k in public)


def test_importing_an_old_module_does_not_shadow_the_function_of_the_same_name():
    code = ("import json, warnings; warnings.simplefilter('ignore')\n"
            "import graphgrad as gg\n"
            "import graphgrad.tensor\n"
            "from graphgrad.tensor import Tensor\n"
            "print(json.dumps(gg.tensor([1.0, 2.0]).data.tolist()))")
    assert _in_fresh_python(code) == [1.0, 2.0]


def test_the_plugin_guide_imports_still_work():
    # the exact lines 0.1's docs/plugins.md told plugin authors to write
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from graphgrad.module import Module, Parameter, Sequential\n"
            "from graphgrad.losses_base import Loss\n"
            "from graphgrad.optim import Optimizer, Schedule\n"
            "from graphgrad.random import resolve_rng\n"
            "from graphgrad.callbacks import EarlyStopping\n"
            "from graphgrad.checkpoint import CheckpointError\n"
            "from graphgrad.train import Trainer\n"
            "from graphgrad.hookspecs import hookspec\n"
            "import graphgrad.extend as ext\n"
            "assert Module is ext.Module and Loss is ext.Loss\n"
            "print('[]')")
    assert _in_fresh_python(code) == []


def test_extend_is_importable_without_building_the_plugin_manager():
    code = ("import json, graphgrad.extend\n"
            "from graphgrad.registry import loader\n"
            "import sys\n"
            "print(json.dumps([loader._state is None, 'graphgrad_plugins' in sys.modules]))")
    assert _in_fresh_python(code) == [True, False]


def test_no_submodule_is_named_after_a_lazily_exported_name():
    clashes = []
    for init in PACKAGE.rglob("__init__.py"):
        package = ".".join(init.parent.relative_to(ROOT).parts)
        module = importlib.import_module(package)
        exported = set(getattr(module, "__all__", ())) | set(getattr(module, "_LAZY", {}))
        for name in exported:
            file, folder = init.parent / f"{name}.py", init.parent / name / "__init__.py"
            if not (file.exists() or folder.exists()):
                continue
            value, sub = getattr(module, name, None), f"{package}.{name}"
            # harmless only where the value is the submodule itself, or the submodule
            # answers calls as the function does (gg.sweep and graphgrad/sweep/)
            if not (isinstance(value, type(module)) or callable(importlib.import_module(sub))):
                clashes.append(sub)
    assert not clashes, f"submodules shadowing exported names: {clashes}"


def test_pyproject_lists_every_subpackage():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
