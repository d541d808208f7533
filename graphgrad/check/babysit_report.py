"""The babysitting report: one ``Check`` per test, printed as a table or given as a dict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STATUSES = ("ok", "warn", "fail", "skip")


@dataclass
class Check:
    """One line of the report: a name, a status, the key number and an explanation."""

    name: str
    status: str
    value: float | None
    detail: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (non-finite numbers become None)."""
        return {"status": self.status, "value": _json_number(self.value),
                "detail": self.detail, "data": _json_ready(self.data)}


def _json_number(value):
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return _json_number(value)


class BabysitReport:
    """The checks in order. ``ok`` is False if any failed; ``flags`` names the checks
    that warned or failed; ``report["overfit"]`` is one Check."""

    def __init__(self, checks: list[Check]):
        self.checks = checks

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(c.status != "fail" for c in self.checks)

    @property
    def flags(self) -> list[str]:
        """Names of the checks that warned or failed."""
        return [c.name for c in self.checks if c.status in ("warn", "fail")]

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(f"no check named {name!r}; checks: {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        """``{"ok": ..., "flags": [...], "checks": {name: {status, value, detail, data}}}``."""
        return {"ok": self.ok, "flags": self.flags,
                "checks": {c.name: c.to_dict() for c in self.checks}}

    def table(self) -> str:
        """The report as a printable table."""
        width = max(len(c.name) for c in self.checks)
        lines = [f"{'check':<{width}}  {'status':<6}  {'value':>10}  detail"]
        for c in self.checks:
            value = "" if c.value is None else f"{c.value:.3g}"
            lines.append(f"{c.name:<{width}}  {c.status.upper():<6}  {value:>10}  {c.detail}")
        verdict = "no problems found" if not self.flags else f"flagged: {', '.join(self.flags)}"
        lines.append(f"babysit: {verdict}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
