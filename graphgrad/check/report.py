"""The report every component checker returns: one ``CheckItem`` per check.

``check.module``, ``check.loss``, ``check.optimizer``, ``check.schedule``,
``check.initializer``, ``check.transform`` and ``check.function`` all run a
list of named checks with ``run_checks`` and return a ``CheckReport``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from graphgrad import random as _random

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class CheckItem:
    """One check's outcome: ``status`` is "pass", "fail" or "skip"."""

    name: str
    status: str
    message: str = ""


class CheckReport:
    """The result of a ``gg.check`` component checker: one ``CheckItem`` per check.

    ``ok`` is True when nothing failed (skips are fine).  ``str(report)`` is a
    table whose first line is a verdict; ``report["gradcheck"]`` gives one
    item; ``to_dict()`` is JSON-ready.
    """

    checker = "component"

    def __init__(self, name: str, items: list[CheckItem], checker: str | None = None):
        self.name = name
        self.items = list(items)
        if checker is not None:
            self.checker = checker

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(item.status != FAIL for item in self.items)

    def _with(self, status):
        return [item for item in self.items if item.status == status]

    @property
    def failed(self) -> list[CheckItem]:
        """The failed checks."""
        return self._with(FAIL)

    @property
    def skipped(self) -> list[CheckItem]:
        """The skipped checks."""
        return self._with(SKIP)

    @property
    def summary(self) -> str:
        """One line: the first failure (``name: message``), else the counts."""
        if self.ok:
            return self.counts
        first = self.failed[0]
        return f"{first.name}: {first.message}"

    @property
    def counts(self) -> str:
        """``"n passed, n failed, n skipped"``."""
        return ", ".join(f"{len(self._with(s))} {w}" for s, w in
                         ((PASS, "passed"), (FAIL, "failed"), (SKIP, "skipped")))

    def __getitem__(self, name: str) -> CheckItem:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(f"no check named {name!r}; checks: {[i.name for i in self.items]}")

    def __iter__(self):
        return iter(self.items)

    def to_dict(self) -> dict:
        """``{"name", "ok", "checks": [{"name", "status", "message"}, ...]}``."""
        return {"name": self.name, "ok": self.ok,
                "checks": [asdict(item) for item in self.items]}

    def __str__(self) -> str:
        verdict = f"ok ({self.counts})" if self.ok else f"FAILED {self.summary}"
        head = f"check.{self.checker}({self.name}): {verdict}"
        width = max([len("check")] + [len(i.name) for i in self.items])
        lines = [head, f"  {'check':<{width}}  status  detail"]
        lines += [f"  {i.name:<{width}}  {i.status:<6}  {i.message}".rstrip() for i in self.items]
        if not self.ok:
            lines.append(f"  ({self.counts})")
        return "\n".join(lines)

    __repr__ = __str__


def describe_error(exc: BaseException) -> str:
    """``Type: message`` on one line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def run_checks(checks: list[tuple[str, Callable[[], tuple[str, str]]]], skips=None,
               gate: str | None = None) -> list[CheckItem]:
    """Run ``(name, check)`` pairs; each check returns ``(status, message)``.

    An exception is a failure with its message; a name in ``skips`` (a
    component's ``skip_checks = {"name": "why"}``) is skipped with its reason;
    once the check named ``gate`` failed, the rest are skipped.  Graphgrad's
    global random state is restored afterwards.
    """
    skips = dict(skips or {})
    state = _random.get_rng_state()
    items: list[CheckItem] = []
    try:
        for name, run in checks:
            if name in skips:
                items.append(CheckItem(name, SKIP, str(skips[name])))
                continue
            failed_gate = [i for i in items if i.name == gate and i.status == FAIL]
            if failed_gate:
                items.append(CheckItem(name, SKIP, f"{gate} failed"))
                continue
            try:
                status, message = run()
            except Exception as exc:
                status, message = FAIL, describe_error(exc)
            items.append(CheckItem(name, status, message))
    finally:
        _random.default_rng().bit_generator.state = state
    return items
