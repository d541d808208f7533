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
