"""glibc allocator tuning at kernel-table import (graphgrad/kernels/malloc.py).

Each check runs in a fresh subprocess, since the allocator's state is per
process: importing graphgrad.kernels calls mallopt (both calls succeed), after
which a freed 20 MiB array's memory is reused by the next one (no page faults),
where glibc's default gives the freed block back to the OS and the next array
faults its pages in again; GRAPHGRAD_MALLOC_TUNING=0 leaves the default.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

_ON_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
glibc = pytest.mark.skipif(not _ON_GLIBC, reason="mallopt tuning is glibc-only")

_PROBE = r"""
import json, resource
import numpy as np
import graphgrad.kernels
from graphgrad.kernels import malloc

def faults_of_a_fresh_array(nbytes):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(nbytes // 8)
    a.fill(1.0)
    del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0

size = 20 << 20
faults = [faults_of_a_fresh_array(size) for _ in range(4)]
print(json.dumps({"state": malloc.STATE, "faults": faults, "pages": size // 4096}))
"""


def _probe(**env):
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                         env=full, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_import_tunes_malloc_and_freed_arrays_are_reused():
    got = _probe(GRAPHGRAD_MALLOC_TUNING="1")
    assert got["state"]["applied"] is True
    assert got["state"]["results"] == {"M_MMAP_THRESHOLD": 1, "M_TRIM_THRESHOLD": 1}
    # after the first array, the same-sized arrays reuse its pages: (almost) no faults,
    # where fresh memory faults once per page or per fault-around / huge-page block
    assert max(got["faults"][1:]) < got["pages"] // 100, got


@glibc
def test_the_environment_variable_disables_it_and_glibc_then_refaults():
    got = _probe(GRAPHGRAD_MALLOC_TUNING="0")
    assert got["state"] == {"applied": False, "reason": "GRAPHGRAD_MALLOC_TUNING=0",
                            "results": {}}
    # glibc's default: the first 20 MiB block was mmap'd and unmapped on free, so the
    # second array (now under the raised dynamic threshold) is fresh heap memory: it
    # faults (a page at a time, or per 2 MiB huge page where the kernel gives those)
    assert got["faults"][1] > 0, got


def test_tune_is_a_no_op_off_glibc(monkeypatch):
    from graphgrad.kernels import malloc

    monkeypatch.setattr(malloc, "_glibc", lambda: None)
    monkeypatch.setattr(malloc, "STATE", None)
    assert malloc.tune({}) == {"applied": False, "reason": "not glibc", "results": {}}
    assert malloc.tune({"GRAPHGRAD_MALLOC_TUNING": "off"})["applied"] is False


def test_thresholds_the_user_set_for_glibc_are_kept(monkeypatch):
    from graphgrad.kernels import malloc

    called = []
    monkeypatch.setattr(malloc, "STATE", malloc.STATE)  # restored after the test
    monkeypatch.setattr(malloc, "_glibc", lambda: called.append(1))
    got = malloc.tune({"MALLOC_MMAP_THRESHOLD_": "268435456"})
    assert got["applied"] is False and "MALLOC_MMAP_THRESHOLD_" in got["reason"]
    assert malloc.tune({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"})["applied"] is False
    assert called == []  # mallopt was never reached
