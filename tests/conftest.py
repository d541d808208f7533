"""Shared fixtures: every op test runs under each kernel backend."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import HealthCheck, settings

import graphgrad as gg
from graphgrad.kernels import BACKENDS

AVAILABLE_BACKENDS = [
    b for b in BACKENDS if b == "numpy" or importlib.util.find_spec("numba") is not None
]


@pytest.fixture(params=AVAILABLE_BACKENDS)
def backend(request):
    """Run the test with the kernel table switched to each available backend."""
    previous = gg.get_backend()
    gg.set_backend(request.param)
    try:
        yield request.param
    finally:
        gg.set_backend(previous)


# Gradchecks are slow-ish; a modest number of examples per test keeps the suite fast.
settings.register_profile(
    "graphgrad",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("graphgrad")


# -- Graphviz `dot` --------------------------------------------------------------
# A test that needs `dot` (it draws a picture) asks for the `dot` fixture or carries
# @pytest.mark.requires_dot: without `dot` on PATH it skips with the reason, unless
# GRAPHGRAD_REQUIRE_DOT=1 (CI with Graphviz), where a missing `dot` fails the test.
# As a safety net, a test that raises graphgrad's GraphvizNotFoundError or the
# graphviz package's ExecutableNotFound while `dot` is missing skips the same way.

import os  # noqa: E402
import shutil  # noqa: E402

DOT_REASON = "Graphviz `dot` is not on PATH (install graphviz; GRAPHGRAD_REQUIRE_DOT=1 fails instead)"


def dot_missing() -> bool:
    """Whether Graphviz's `dot` is absent from PATH."""
    return shutil.which("dot") is None


def _require_dot() -> None:
    if dot_missing():
        if os.environ.get("GRAPHGRAD_REQUIRE_DOT") == "1":
            pytest.fail("GRAPHGRAD_REQUIRE_DOT=1 but Graphviz `dot` is not on PATH")
        pytest.skip(DOT_REASON)


@pytest.fixture
def dot():
    """Skip (or, with GRAPHGRAD_REQUIRE_DOT=1, fail) when Graphviz `dot` is missing."""
    _require_dot()


def pytest_configure(config):
    config.addinivalue_line("markers", "requires_dot: the test draws with Graphviz `dot`")


def pytest_runtest_setup(item):
    if item.get_closest_marker("requires_dot") is not None:
        _require_dot()


def _dot_errors() -> tuple:
    from graphgrad.viz import GraphvizNotFoundError

    errors = [GraphvizNotFoundError]
    try:
        import graphviz

        errors.append(graphviz.ExecutableNotFound)
    except ImportError:
        pass
    return tuple(errors)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    excinfo = outcome.excinfo
    if (excinfo is not None and dot_missing()
            and os.environ.get("GRAPHGRAD_REQUIRE_DOT") != "1"
            and issubclass(excinfo[0], _dot_errors())):
        outcome.force_exception(pytest.skip.Exception(f"{DOT_REASON}: {excinfo[1]}"[:300]))
