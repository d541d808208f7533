"""Plugin loading: the pluggy manager, built-in and entry-point plugins, their records.

Nothing is built at import. On first use, ``plugin_manager()`` creates a
``pluggy.PluginManager("graphgrad")``, adds the hook specs, registers every
submodule of the built-in package ``graphgrad_plugins`` (sorted by name; modules
whose name starts with ``_`` are helpers and are skipped), then the plugins
declared by installed distributions under the entry-point group ``graphgrad``
(unless ``GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD=1``), and calls each plugin's
``graphgrad_register_*`` hooks one by one, keeping what each plugin contributed.

A broken outside plugin (it fails to import, has an unknown hook, or one of its
hooks raises or returns something other than a list of components of its kind)
is unregistered and reported with a ``GraphgradPluginWarning`` that shows where
it failed (``PluginInfo.where``: the last traceback frames inside the plugin);
everything else keeps working.  Two components with one name are resolved by
the registries (``graphgrad.registry``): the first keeps it.  A broken built-in
plugin is a bug in graphgrad and raises ``PluginError``.  The registries built
from the contributions (``gg.layers``...) are in ``graphgrad.registry``, which
also re-exports this module's public names.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import pkgutil
import sys
import threading
import traceback
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from graphgrad.registry import hookspecs
from graphgrad.registry.hookspecs import EVENT_HOOKS, KERNEL_HOOK, KINDS, REGISTRATION_HOOKS
from graphgrad.registry.naming import component_name, snake_case  # noqa: F401 - re-exported

PROJECT = "graphgrad"
ENTRY_POINT_GROUP = "graphgrad"
BUILTIN_PACKAGE = "graphgrad_plugins"
AUTOLOAD_ENV = "GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD"
STRICT_ENV = "GRAPHGRAD_STRICT_PLUGINS"

BUILTIN, ENTRY_POINT, MANUAL = "built-in", "entry point", "manual"

hookimpl = pluggy.HookimplMarker(PROJECT)


# -- errors -------------------------------------------------------------------


class GraphgradPluginWarning(UserWarning):
    """An outside plugin could not be loaded or registered and was skipped."""


class PluginError(RuntimeError):
    """A plugin could not be loaded or registered."""


class DuplicateComponentError(PluginError):
    """Two plugins registered components of one kind under the same name."""


# -- plugin records -----------------------------------------------------------


@dataclass
class PluginInfo:
    """What graphgrad knows about one plugin (shown by ``graphgrad plugins``).

    ``source`` is ``"built-in"``, ``"entry point"`` or ``"manual"``;
    ``components`` maps a kind to the registry names the plugin registered;
    ``error`` is ``None`` unless the plugin is broken (and then it was skipped);
    ``where`` then lists the last traceback frames inside the plugin
    (``file:line in function: source``), innermost last.
    """

    name: str
    source: str
    distribution: str | None = None
    version: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    where: list[str] = field(default_factory=list)

    @property
    def qualifier(self) -> str:
        """The prefix of its qualified component names: its distribution, else its name."""
        return self.distribution or self.name

    @property
    def ok(self) -> bool:
        """True if the plugin loaded and registered without error."""
        return self.error is None

    @property
    def distribution_label(self) -> str:
        """``distribution version``, or ``unknown distribution``."""
        return " ".join(filter(None, [self.distribution, self.version])) or "unknown distribution"

    def describe(self) -> str:
        """``'name' (distribution version)`` for messages."""
        return f"{self.name!r} ({self.distribution_label})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the record."""
        return {
            "name": self.name,
            "source": self.source,
            "distribution": self.distribution,
            "version": self.version,
            "components": {kind: list(names) for kind, names in self.components.items()},
            "error": self.error,
            "where": list(self.where),
        }


@dataclass
class _State:
    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    # plugin name -> kind -> [(registry name, component)]
    contributions: dict[str, dict[str, list[tuple[str, Any]]]] = field(default_factory=dict)
    indexes: dict[str, Any] = field(default_factory=dict)  # kind -> registry index
    kernels: dict[str, tuple] = field(default_factory=dict)  # name -> (twin, fast or None)
    kernel_owners: dict[str, str] = field(default_factory=dict)  # kernel name -> plugin


def _kernel_table():
    """graphgrad.kernels, which `import graphgrad` always loads first.  Looked up, not
    imported: the registry and the kernels are independent layers (pyproject.toml)."""
    return sys.modules.get("graphgrad.kernels")


def _reserved_kernels() -> set[str]:
    table = _kernel_table()
    return set(table.reference.KERNELS) if table is not None else set()


def _publish_kernels(state: _State | None) -> None:
    table = _kernel_table()
    if table is not None:
        table.install_plugin_kernels({} if state is None else dict(state.kernels))


_lock = threading.RLock()
_state: _State | None = None
_partial: _State | None = None  # visible to the building thread once built-ins are in
_building = False


# -- building the manager -------------------------------------------------------


def strict_plugins() -> bool:
    """True if ``GRAPHGRAD_STRICT_PLUGINS`` is 1 (or true/yes/on): a broken outside plugin
    (an import error, sys.exit(), a misspelled hook name...) raises instead of being
    skipped with a warning."""
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def autoload_disabled() -> bool:
    """True if ``GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD`` is set to 1 (or true/yes/on)."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _distribution_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _builtin_module_names() -> list[str]:
    try:
        package = importlib.import_module(BUILTIN_PACKAGE)
    except ImportError as exc:
        raise PluginError(
            f"the built-in plugin package {BUILTIN_PACKAGE!r} cannot be imported ({exc}); "
            "graphgrad is not installed correctly: run `pip install -e .` in its checkout"
        ) from exc
    found = pkgutil.iter_modules(getattr(package, "__path__", []))
    return sorted(f"{BUILTIN_PACKAGE}.{m.name}" for m in found if not m.name.startswith("_"))


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    return sorted(found, key=lambda ep: (ep.name, ep.value))


def _build() -> _State:
    global _partial
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspecs)
    state = _State(manager)
    version = _distribution_version(PROJECT)
    for module in _builtin_module_names():
        info = PluginInfo(module, BUILTIN, PROJECT, version)
        _load(state, info, lambda module=module: importlib.import_module(module))
    _partial = state  # outside plugins may look built-in components up while they import
    if autoload_disabled():
        return state
    # Not pm.load_setuptools_entrypoints: pluggy's loader stops at the first broken plugin.
    for ep in _entry_points():
        dist, version = (ep.dist.metadata["Name"], ep.dist.version) if ep.dist else (None, None)
        name = ep.name if ep.name not in state.plugins else f"{dist}:{ep.name}"
        _load(state, PluginInfo(name, ENTRY_POINT, dist, version), ep.load)
    return state


def _load(state: _State, info: PluginInfo, load: Callable[[], object]) -> None:
    """Import and register one discovered plugin; record it, whatever happens."""
    state.plugins[info.name] = info
    try:
        _register(state, load(), info)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: sys.exit() or argparse at import
        error = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SystemExit):
            error = (f"SystemExit({exc.code!r}): the plugin called sys.exit() (or argparse "
                     "failed) while it was imported")
        info.where = plugin_frames(exc)
        if info.where:
            error += f" (at {info.where[-1].split(': ', 1)[0]})"
        info.error = " ".join(error.split())  # one line, for warnings and the CLI
        if info.source == BUILTIN:
            raise PluginError(
                f"built-in plugin {info.name!r} is broken: {info.error}. "
                "This is a bug in graphgrad; please report it."
            ) from exc
        if strict_plugins():
            raise PluginError(
                f"graphgrad plugin {info.describe()} is broken: {info.error} "
                f"({STRICT_ENV}=1 makes a broken plugin an error; unset it to skip the "
                "plugin with a warning)"
            ) from exc
        warnings.warn(
            f"graphgrad plugin {info.describe()} was skipped: {info.error}. Fix or uninstall "
            f"that distribution, or set {AUTOLOAD_ENV}=1 to skip all outside plugins; "
            "`graphgrad plugins` lists what loaded.",
            GraphgradPluginWarning,
            stacklevel=2,
        )


_OWN_FILES = ("importlib", "pluggy", os.path.join("graphgrad", "registry"))


def plugin_frames(exc: BaseException, limit: int = 3) -> list[str]:
    """The last ``limit`` traceback frames of ``exc`` outside importlib, pluggy and this
    loader (the plugin's own code), as ``file:line in function: source line``.

    For a ``PluginError`` raised because a hook raised, the frames of that cause.
    """
    while isinstance(exc, PluginError) and exc.__cause__ is not None:
        exc = exc.__cause__
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<frozen")
        and not any(part in frame.filename for part in _OWN_FILES)
    ]
    if isinstance(exc, SyntaxError) and exc.filename:  # the broken line is not a frame
        return [f"{exc.filename}:{exc.lineno}: {(exc.text or '').strip()}"]
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}: {(frame.line or '').strip()}"
        for frame in frames[-limit:]
    ]


def _register(state: _State, plugin: object, info: PluginInfo) -> None:
    """Register ``plugin`` with pluggy and collect what its registration hooks return.

    On any error the plugin is unregistered again and the error propagates.
    """
    manager = state.manager
    if manager.is_registered(plugin):
        raise PluginError(
            f"the same object is already registered as plugin {manager.get_name(plugin)!r}"
        )
    try:
        manager.register(plugin, name=info.name)
        _check_hook_names(manager, plugin)
        contributions = {kind: _call_registration(manager, info.name, kind) for kind in KINDS}
        kernels = _call_kernel_registration(manager, info.name)
    except BaseException:
        if manager.get_plugin(info.name) is plugin:
            manager.unregister(name=info.name)
        raise
    for name, pair in kernels.items():
        key = name
        if name in state.kernels:
            if info.source == MANUAL:
                manager.unregister(name=info.name)
                first = state.plugins[state.kernel_owners[name]]
                raise duplicate_error("kernels", name, first, info)
            key = f"{info.qualifier}:{name}"
            warnings.warn(
                f"two kernels are named {name!r}: plugin "
                f"{state.plugins[state.kernel_owners[name]].describe()} keeps the name; the "
                f"one from plugin {info.describe()} is getattr(K, {key!r})",
                GraphgradPluginWarning, stacklevel=3)
        state.kernels[key], state.kernel_owners[key] = pair, info.name
    state.contributions[info.name] = contributions
    state.indexes.clear()
    info.components = {
        kind: sorted(n for n, _ in items) for kind, items in contributions.items() if items
    }
    if kernels:
        info.components["kernels"] = sorted(kernels)


def _call_kernel_registration(manager: pluggy.PluginManager, plugin: str) -> dict[str, tuple]:
    """The kernels a plugin's graphgrad_register_kernels returns, checked: {name: (twin, fast)}."""
    result: dict[str, tuple] = {}
    for impl in getattr(manager.hook, KERNEL_HOOK).get_hookimpls():
        if impl.plugin_name != plugin:
            continue
        try:
            returned = impl.function()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise PluginError(f"{KERNEL_HOOK}() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(returned, dict):
            raise PluginError(f"{KERNEL_HOOK}() returned {returned!r}; it must return a dict "
                              "{name: twin} or {name: (twin, fast)}")
        for name, value in returned.items():
            twin, fast = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
                raise PluginError(f"{KERNEL_HOOK}(): kernel name {name!r} must be a Python "
                                  "identifier not starting with '_'")
            if name in _reserved_kernels():
                raise PluginError(
                    f"{KERNEL_HOOK}(): {name!r} is one of graphgrad's own kernels; a plugin "
                    "never replaces a built-in kernel (it would change every op that uses "
                    "it): give yours another name")
            if not callable(twin) or not (fast is None or callable(fast)):
                raise PluginError(f"{KERNEL_HOOK}(): kernel {name!r} must map to a NumPy "
                                  f"twin function or (twin, fast), got {value!r}")
            result[name] = (twin, fast)
    return result


def _check_hook_names(manager: pluggy.PluginManager, plugin: object) -> None:
    known = sorted(REGISTRATION_HOOKS.values()) + [KERNEL_HOOK] + list(EVENT_HOOKS)
    for caller in manager.get_hookcallers(plugin) or []:
        if caller.has_spec():
            continue
        if all(impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin):
            continue
        close = difflib.get_close_matches(caller.name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise PluginError(f"unknown hook {caller.name!r}; {hint}known hooks: {', '.join(known)}")


def _call_registration(
    manager: pluggy.PluginManager, plugin: str, kind: str
) -> list[tuple[str, Any]]:
    hook = REGISTRATION_HOOKS[kind]
    result: list[tuple[str, Any]] = []
    for impl in getattr(manager.hook, hook).get_hookimpls():
        if impl.plugin_name != plugin:
            continue
        try:
            returned = impl.function()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise PluginError(f"{hook}() raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(returned, (list, tuple)):
            raise PluginError(
                f"{hook}() returned {returned!r}; it must return a list of classes or callables"
            )
        for component in returned:
            problem = wrong_kind(kind, component)
            if problem:
                raise PluginError(f"{hook}() of plugin {plugin!r} returned {problem}")
            try:
                result.append((component_name(component), component))
            except ValueError as exc:
                raise PluginError(f"{hook}(): {exc}") from exc
    return result


# What each registration hook expects: the base class (by qualified name, so that the
# registry imports nothing above it) and whether a plain function is accepted.
_BASES: dict[str, tuple[tuple[str, ...], bool]] = {
    "layers": (("graphgrad.nn.module.Module",), True),
    "losses": (("graphgrad.nn.loss.Loss", "graphgrad.nn.module.Module"), True),
    "initializers": ((), True),
    "optimizers": (("graphgrad.optim.optimizer.Optimizer",), False),
    "schedules": (("graphgrad.optim.schedule.Schedule",), False),
    "transforms": (("graphgrad.data.transform.Transform",), True),
}
_EXPECTED = {
    "layers": "Module subclasses (or functions that build one)",
    "losses": "Loss subclasses, Module subclasses or functions loss(prediction, target)",
    "initializers": "classes or functions init(shape, rng)",
    "optimizers": "Optimizer subclasses (from graphgrad.extend)",
    "schedules": "Schedule subclasses (from graphgrad.extend)",
    "transforms": "Transform subclasses (or functions on a batch)",
}


def _qualnames(cls: type) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__}


def _kind_of(cls: type) -> str | None:
    """The kind whose base class ``cls`` derives from (the most specific one), if any."""
    names = _qualnames(cls)
    for kind in ("losses", "optimizers", "schedules", "transforms", "layers"):
        if names & set(_BASES[kind][0][:1]):
            return kind
    return None


def wrong_kind(kind: str, component: Any) -> str | None:
    """Why ``component`` cannot be a component of ``kind`` (None if it can).

    The text completes "graphgrad_register_<kind>() returned ...": it names the
    component, what was expected and, for a component of another kind, the
    hook that takes it.
    """
    hook, expected = REGISTRATION_HOOKS[kind], _EXPECTED[kind]
    bases, functions = _BASES[kind]
    if isinstance(component, type):
        other = _kind_of(component)
        if other is not None and other != kind and not (set(bases) & _qualnames(component)):
            return (
                f"{component.__qualname__}, which is one of the {other} (a subclass of "
                f"{_BASES[other][0][0].rsplit('.', 1)[1]}); {hook}() expects {expected}: "
                f"return it from {REGISTRATION_HOOKS[other]}() instead"
            )
        if bases and not set(bases) & _qualnames(component):
            return f"the class {component.__qualname__}; {hook}() expects {expected}"
        return None
    if isinstance(component, (types.FunctionType, types.BuiltinFunctionType)):
        if functions:
            return None
        return f"the function {component.__qualname__}; {hook}() expects {expected}"
    if callable(component) or type(component).__module__ != "builtins":
        return (
            f"an instance of {type(component).__qualname__} ({component!r}), not a class; "
            f"return the class {type(component).__qualname__} itself ({hook}() expects "
            f"{expected})"
        )
    return f"{component!r}, which is not a class or function; {hook}() expects {expected}"


def current_state() -> _State:
    """The loaded plugin state (manager, records, contributions), built on first use."""
    global _state, _building, _partial
    state = _state
    if state is not None:
        return state
    with _lock:  # re-entrant: a plugin module may use the registries while it is imported
        if _state is not None:
            return _state
        if _building:
            if _partial is None:
                raise PluginError(
                    "a graphgrad registry was used while the built-in plugins were being loaded "
                    "(at the top level of a plugin module?); import the component from its "
                    "module instead, e.g. `from graphgrad_plugins.layers import Linear`"
                )
            return _partial
        _building = True
        try:
            _state = _build()
        finally:
            _building, _partial = False, None
        _publish_kernels(_state)
        return _state


def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager, built (and every registration hook called) on first use."""
    return current_state().manager


def reload() -> None:
    """Forget the plugin manager and the registries; the next use rebuilds them.

    Use it after installing or removing a plugin distribution, after changing
    ``GRAPHGRAD_DISABLE_PLUGIN_AUTOLOAD``, and between tests. Plugins registered
    by hand with ``register_plugin`` are dropped too.
    """
    global _state
    with _lock:
        _state = None
        importlib.invalidate_caches()
        _publish_kernels(None)


def plugins() -> list[PluginInfo]:
    """A record of every plugin, loaded or broken, in registration order."""
    return list(current_state().plugins.values())


def _distribution_of(plugin: object) -> tuple[str | None, str | None]:
    if isinstance(plugin, types.ModuleType):
        module = plugin.__name__
    else:
        module = getattr(plugin, "__module__", None) or ""
    try:
        dists = importlib.metadata.packages_distributions().get(module.partition(".")[0], [])
    except Exception:  # unreadable metadata of some unrelated distribution
        dists = []
    return (dists[0], _distribution_version(dists[0])) if dists else (None, None)


def register_plugin(plugin: object, name: str | None = None) -> PluginInfo:
    """Register a plugin (a module, class or object with hook implementations) by hand.

    Meant for notebooks and tests. Its components are available at once. Unlike
    discovered plugins, a broken one raises ``PluginError`` (and a name clash
    ``DuplicateComponentError``), leaving the registries unchanged.
    """
    with _lock:
        state = current_state()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in state.plugins:
            raise PluginError(
                f"a plugin named {name!r} is already registered; pass another name= "
                "or call graphgrad.registry.reload() first"
            )
        info = PluginInfo(name, MANUAL, *_distribution_of(plugin))
        _register(state, plugin, info)
        added = state.contributions[name]
        try:
            for kind, registered_name in ((k, n) for k, items in added.items() for n, _ in items):
                _raise_if_taken(state, kind, registered_name, info)
        except DuplicateComponentError:
            state.manager.unregister(plugin)
            del state.contributions[name]
            state.indexes.clear()
            raise
        state.plugins[name] = info
        _publish_kernels(state)
        return info


def _raise_if_taken(state: _State, kind: str, name: str, newcomer: PluginInfo) -> None:
    for plugin, per_kind in state.contributions.items():
        if plugin != newcomer.name and any(n == name for n, _ in per_kind.get(kind, ())):
            raise duplicate_error(kind, name, state.plugins[plugin], newcomer)


def duplicate_error(
    kind: str, name: str, first: PluginInfo, second: PluginInfo
) -> DuplicateComponentError:
    """The error for two components of one kind named alike, naming both plugins."""
    return DuplicateComponentError(
        f"two {kind} are named {name!r}: one from plugin {first.describe()} and one from plugin "
        f"{second.describe()}; rename one (set its `name` attribute) or uninstall one plugin"
    )


def call_event(hook_name: str, /, **kwargs: Any) -> list[Any]:
    """Call the event hook ``hook_name`` of every plugin with keyword arguments.

    Returns the non-None results (pluggy's list), e.g.
    ``stop = any(call_event("graphgrad_epoch_end", trainer=t, epoch=e, metrics=m))``.
    """
    if hook_name not in EVENT_HOOKS:
        raise ValueError(
            f"{hook_name!r} is not a graphgrad event hook; event hooks: {', '.join(EVENT_HOOKS)}"
        )
    caller = getattr(plugin_manager().hook, hook_name)
    expected = list(caller.spec.argnames)
    if sorted(kwargs) != sorted(expected):
        raise TypeError(f"{hook_name} takes the keyword arguments {expected}, got {sorted(kwargs)}")
    return caller(**kwargs)
