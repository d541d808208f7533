"""Shared pieces of the training-config reader: the error type, key checks, components.

A component (layer, loss, optimizer, schedule, transform) is written in TOML
as its registry name, ``"relu"``, or as a table with ``type`` and the
constructor's keyword arguments, ``{ type = "linear", in_features = 64,
out_features = 10 }``. The keys are checked against the constructor's
signature, so a typo is an error that lists the valid keys.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any


class ConfigError(ValueError):
    """A training config is invalid; the message names the section and the key."""


def did_you_mean(unknown, valid) -> str:
    """``"; did you mean 'momentum'?"`` for misspelt keys that are close to a valid one."""
    pairs = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1, cutoff=0.6)
        if close:
            pairs.append(f"{close[0]!r} for {key!r}" if len(unknown) > 1 else repr(close[0]))
    return f"; did you mean {', '.join(pairs)}?" if pairs else ""


def check_keys(section: str, table: Any, valid) -> None:
    """Raise ConfigError for keys of ``table`` not in ``valid``, listing the valid ones."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table, got {type(table).__name__}: {table!r}")
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"[{section}]: unknown key(s) {unknown}; valid keys: {sorted(valid)}"
                          f"{did_you_mean(unknown, valid)}")


def positive_int(section: str, key: str, value: Any) -> int:
    """``value`` if it is an integer >= 1 (not a bool), else a ConfigError naming the key."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"[{section}] {key} must be a positive integer, got {value!r}")
    return value


def parse_spec(spec: Any, section: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{type = "name", ...}`` → ``(name, keyword arguments)``."""
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict):
        if not isinstance(spec.get("type"), str):
            raise ConfigError(f"[{section}] needs type = '<registry name>', got keys "
                              f"{sorted(spec)}")
        return spec["type"], {k: v for k, v in spec.items() if k != "type"}
    raise ConfigError(f"[{section}] must be a registry name or a table with type = ..., got "
                      f"{spec!r}")


def accepted_keys(component: Any, supplied: tuple[str, ...] = ()) -> list[str] | None:
    """The keyword arguments ``component`` accepts (None if it takes ``**kwargs``),
    without those the reader supplies itself (e.g. an optimizer's ``params``)."""
    try:
        parameters = inspect.signature(component).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [n for n, p in parameters.items() if p.kind in kinds and n not in supplied]


def _refuse_unseedable(component: Any, name: str, section: str) -> None:
    """A random transform whose constructor takes no seed cannot follow the run's seed."""
    from graphgrad.data.transform import RandomTransform

    if isinstance(component, type) and issubclass(component, RandomTransform):
        raise ConfigError(
            f"[{section}] {name}: {component.__name__} draws random numbers (a RandomTransform) "
            "but its constructor takes no `seed`, so the run's seed cannot reach it and the run "
            "could not be reproduced; add `seed=None` to its __init__ and pass it on with "
            "super().__init__(seed)"
        )


def build_component(kind: str, spec: Any, section: str, args: tuple = (),
                    supplied: tuple[str, ...] = (), defaults: dict[str, Any] | None = None):
    """Instantiate the registry component described by ``spec`` with ``args`` first.

    ``supplied`` names the parameters ``args`` fill; ``defaults`` are passed
    only if the component accepts them and the spec does not set them (e.g. a
    seed for random transforms: a ``RandomTransform`` that takes no ``seed`` is
    an error, since the run could not be reproduced).  ``spec``'s name may be
    qualified, ``distribution:name``, for a component whose name another plugin
    took first.
    """
    from graphgrad.registry import Registry, UnknownComponentError

    name, kwargs = parse_spec(spec, section)
    try:
        component = Registry(kind).get(name)
    except UnknownComponentError as exc:
        raise ConfigError(f"[{section}] type: {exc}") from exc
    valid = accepted_keys(component, supplied)
    if valid is not None:
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise ConfigError(f"[{section}] {name}: unknown key(s) {unknown}; valid keys: "
                              f"{valid}{did_you_mean(unknown, valid)}")
        for key, value in (defaults or {}).items():
            if key in valid and key not in kwargs:
                kwargs[key] = value
        if "seed" in (defaults or {}) and "seed" not in valid:
            _refuse_unseedable(component, name, section)
    try:
        return component(*args, **kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(f"[{section}] {name}: {exc}") from exc
