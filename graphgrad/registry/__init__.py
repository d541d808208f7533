"""The component registries (``gg.layers``, ``gg.losses``...) and the plugin API.

A ``Registry`` is a read-only view of the components of one kind, indexed
from what the plugins contributed when the plugin manager was built (see
``graphgrad.registry.loader``: built-in plugins, entry points, the autoload
switch, broken-plugin handling).  This module is the one to import from: it
re-exports the loader's public names (``hookimpl``, ``register_plugin``,
``reload``, ``plugins``, ``call_event``, the errors and the naming rules).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphgrad.registry.hookspecs import KINDS
from graphgrad.registry.loader import (  # noqa: F401 - re-exported: graphgrad.registry is the plugin API
    AUTOLOAD_ENV,
    BUILTIN,
    ENTRY_POINT,
    ENTRY_POINT_GROUP,
    MANUAL,
    PROJECT,
    STRICT_ENV,
    DuplicateComponentError,
    GraphgradPluginWarning,
    PluginError,
    PluginInfo,
    autoload_disabled,
    call_event,
    current_state,
    duplicate_error,
    hookimpl,
    plugin_manager,
    plugins,
    register_plugin,
    reload,
    strict_plugins,
)
from graphgrad.registry.naming import component_name, snake_case  # noqa: F401


class UnknownComponentError(KeyError, AttributeError):
    """No component of this kind has that name (raised by item and attribute access)."""

    def __init__(self, message: str, *, kind: str, key: str, suggestion: str | None = None):
        super().__init__(message)
        self.kind, self.key, self.suggestion = kind, key, suggestion

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0])


@dataclass
class _Index:
    components: dict[str, Any]  # registry name -> component (shadowed ones as "dist:name")
    owners: dict[str, str]  # registry name -> plugin name
    aliases: dict[str, list[str]]  # __name__ -> registry names
    qualified: dict[str, str]  # "dist:name" -> registry name, for every component
    conflicts: list[str]  # one message per name two plugins registered


def _clash_message(kind: str, name: str, keeper: PluginInfo, other: PluginInfo, alias: str) -> str:
    return (
        f"two {kind} are named {name!r}: plugin {keeper.describe()} keeps the name; the one "
        f"from plugin {other.describe()} is available as {alias!r} (also in TOML configs). "
        "Rename one (set its `name` attribute) to use both by their own names"
    )


def _index(kind: str) -> _Index:
    """Index the components of ``kind``; a clash keeps the first (built-ins load first)."""
    state = current_state()
    index = state.indexes.get(kind)
    if index is not None:
        return index
    components: dict[str, Any] = {}
    owners: dict[str, str] = {}
    qualified: dict[str, str] = {}
    conflicts: list[str] = []
    for plugin, per_kind in state.contributions.items():
        info = state.plugins[plugin]
        for name, component in per_kind.get(kind, ()):
            key = name
            if name in components and not (
                components[name] is component and owners[name] == plugin
            ):
                key = f"{info.qualifier}:{name}"
                if key in components:  # two plugins of one distribution
                    key = f"{plugin}:{name}"
                conflicts.append(
                    _clash_message(kind, name, state.plugins[owners[name]], info, key)
                )
            components[key], owners[key] = component, plugin
            qualified.setdefault(f"{info.qualifier}:{name}", key)
    aliases: dict[str, list[str]] = {}
    for name, component in components.items():
        alias = getattr(component, "__name__", None)
        if isinstance(alias, str) and alias != name and alias not in components:
            aliases.setdefault(alias, []).append(name)
    for alias, names in aliases.items():
        # A built-in keeps its class name too: a plugin class also called `Linear`
        # must not make gg.layers.Linear ambiguous for every program.
        builtin = [n for n in names if state.plugins[owners[n]].source == BUILTIN]
        if len(names) > 1 and len(builtin) == 1:
            aliases[alias] = builtin  # the others stay reachable by their registry names
    index = _Index(dict(sorted(components.items())), owners, aliases, qualified, conflicts)
    state.indexes[kind] = index
    for message in conflicts:
        warnings.warn(message, GraphgradPluginWarning, stacklevel=3)
    return index


def conflicts() -> list[str]:
    """One message per component name two plugins registered (every kind).

    The first plugin (built-ins load first) keeps the name; the other
    component stays usable under its qualified name ``distribution:name``.
    """
    return [message for kind in KINDS for message in _index(kind).conflicts]


_MISSING = object()


class Registry:
    """A read-only view of the components of one kind (``gg.layers``, ``gg.losses``...).

    Look components up by registry name or by class/function name::

        gg.layers.Linear, gg.layers.linear, gg.layers["linear"], gg.layers.get("linear")
        gg.layers.create("linear", 3, 2)    # == gg.layers.Linear(3, 2)

    A component whose name a plugin loaded earlier already took (built-ins load
    first) is listed as ``distribution:name``; every component can be looked
    up that way (``gg.layers["graphgrad:linear"]``).

    ``names()`` is sorted; ``in``, ``len`` and iteration (over names) work like a
    dict's keys. The registry is filled from the plugins on first use.
    """

    def __init__(self, kind: str):
        if kind not in KINDS:
            close = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}{hint}")
        self.kind = kind

    def _resolve(self, key: str) -> str:
        index = _index(self.kind)
        if key in index.components:
            return key
        if isinstance(key, str) and key in index.qualified:
            return index.qualified[key]
        matches = index.aliases.get(key, [])
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UnknownComponentError(
                f"{key!r} is ambiguous among {self.kind}: it is the name of "
                f"{', '.join(map(repr, matches))}; use one of those registry names",
                kind=self.kind,
                key=key,
            )
        known = list(index.components)
        normalized = snake_case(key) if isinstance(key, str) else str(key)
        close = difflib.get_close_matches(normalized, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownComponentError(
            f"no {self.kind} component named {key!r}; {hint}known {self.kind}: "
            f"{', '.join(known) or '(none)'}. Run `graphgrad plugins` to see the installed "
            "plugins and any that failed to load.",
            kind=self.kind,
            key=key,
            suggestion=close[0] if close else None,
        )

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The component called ``name``; ``default`` if given and there is none, else an error."""
        try:
            return _index(self.kind).components[self._resolve(name)]
        except UnknownComponentError:
            if default is _MISSING:
                raise
            return default

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call (instantiate) the component ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """The registry names, sorted."""
        return list(_index(self.kind).components)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, component)`` pairs, sorted by name."""
        return list(_index(self.kind).components.items())

    def plugin_of(self, name: str) -> PluginInfo:
        """The record of the plugin that registered the component ``name``."""
        owner = _index(self.kind).owners[self._resolve(name)]
        return current_state().plugins[owner]

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # keep copy, pickle and introspection away from plugins
            raise AttributeError(name)
        return self.get(name)

    def __contains__(self, item: object) -> bool:
        index = _index(self.kind)
        if isinstance(item, str):
            return (item in index.components or item in index.qualified
                    or len(index.aliases.get(item, [])) == 1)
        return any(component is item for component in index.components.values())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(_index(self.kind).components)

    def __dir__(self) -> list[str]:
        index = _index(self.kind)
        return sorted({*super().__dir__(), *index.components, *index.aliases})

    def __repr__(self) -> str:
        return f"<graphgrad registry {self.kind!r}>"
