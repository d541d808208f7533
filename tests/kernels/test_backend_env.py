"""GRAPHGRAD_BACKEND with an unknown value: an error naming the variable and the choices."""

from __future__ import annotations

import os
import subprocess
import sys


def test_unknown_backend_in_the_environment_is_a_clear_error():
    out = subprocess.run([sys.executable, "-c", "import graphgrad"], capture_output=True,
                         text=True, env={**os.environ, "GRAPHGRAD_BACKEND": "cuda"}, timeout=120)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "GRAPHGRAD_BACKEND='cuda'" in last and "numba, numpy" in last, out.stderr
