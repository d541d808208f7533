"""The JIT policy of graphgrad/kernels/numba_backend/_jit.py: lazy, cached, NaN-safe, serial."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.kernels import K, reference

numba_backend = pytest.importorskip("graphgrad.kernels.numba_backend")
_jit = pytest.importorskip("graphgrad.kernels.numba_backend._jit")

LOOP_MODULES = ["approx", "elementwise", "reduce", "softmax", "optim", "scatter"]


def _run(code: str, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env={**os.environ, **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_numba_is_imported_on_the_first_kernel_call_only():
    result = _run("""
        import json, sys
        import numpy as np
        import graphgrad
        after_import = "numba" in sys.modules
        from graphgrad.kernels import K, numba_backend
        after_backend = "numba" in sys.modules
        K.relu(np.ones(3, np.float32))
        print(json.dumps([after_import, after_backend, "numba" in sys.modules,
                          graphgrad.get_backend()]))
    """, GRAPHGRAD_BACKEND="")
    assert result == [False, False, True, "numba"]


def test_environment_variable_selects_the_numpy_backend():
    result = _run("""
        import json, sys
        import graphgrad
        from graphgrad.kernels import K, reference
        print(json.dumps([graphgrad.get_backend(), K.relu is reference.relu,
                          "numba" in sys.modules]))
    """, GRAPHGRAD_BACKEND="numpy")
    assert result == ["numpy", True, False]


def test_set_backend_switches_the_table():
    previous = gg.get_backend()
    try:
        gg.set_backend("numpy")
        assert K.sigmoid is reference.sigmoid
        gg.set_backend("numba")
        assert K.sigmoid is numba_backend.elementwise.sigmoid
        assert K.matmul is reference.matmul  # no numba twin: the reference stays
    finally:
        gg.set_backend(previous)


def test_fastmath_keeps_nan_and_inf():
    for flags in (_jit.FASTMATH, _jit.REDUCTION_FASTMATH):
        assert not {"nnan", "ninf", "fast"} & set(flags)
    assert "reassoc" not in _jit.FASTMATH  # it breaks exp's two-constant range reduction


def test_every_kernel_is_lazy_cached_serial_and_numpy_error_model():
    import importlib

    for name in LOOP_MODULES:
        module = importlib.import_module(f"graphgrad.kernels.numba_backend.loops.{name}")
        dispatchers = [v for v in vars(module).values() if hasattr(v, "targetoptions")]
        assert dispatchers, name
        for d in dispatchers:
            opts = d.targetoptions
            assert type(d._cache).__name__ == "FunctionCache", d  # cache=True: on disk
            assert opts.get("error_model") == "numpy", d
            assert not opts.get("parallel"), d
            assert set(opts["fastmath"]) <= set(_jit.REDUCTION_FASTMATH), d


def test_kernels_compile_lazily():
    result = _run("""
        import json
        from graphgrad.kernels.numba_backend.loops import elementwise
        before = len(elementwise.relu.signatures)
        import numpy as np
        elementwise.relu(np.ones(4, np.float32), np.empty(4, np.float32))
        print(json.dumps([before, len(elementwise.relu.signatures)]))
    """)
    assert result == [0, 1]


def test_lazy_module_defers_execution():
    from graphgrad.kernels.numba_backend._jit import lazy_module

    scatter = "graphgrad.kernels.numba_backend.loops.scatter"
    importlib.import_module(scatter)  # once imported, the module itself is returned
    assert lazy_module(scatter) is sys.modules[scatter]
    result = _run("""
        import json, sys, threading
        from graphgrad.kernels.numba_backend._jit import lazy_module
        m = lazy_module("graphgrad.kernels.numba_backend.loops.scatter")
        loaded_before = "numba" in sys.modules
        found = []
        # two threads race for the first use: both must get the compiled kernel
        threads = [threading.Thread(target=lambda: found.append(m.index_add_rows))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        loops = sys.modules["graphgrad.kernels.numba_backend.loops.scatter"]
        same = found[0] is found[1] is loops.index_add_rows
        print(json.dumps([loaded_before, "numba" in sys.modules, len(found), same]))
    """)
    assert result == [False, True, 2, True]


def test_backend_results_agree_through_the_ops():
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    previous = gg.get_backend()
    results = {}
    try:
        for backend in ("numpy", "numba"):
            gg.set_backend(backend)
            t = gg.tensor(x, requires_grad=True)
            loss = gg.softmax_cross_entropy(t.sigmoid() * 3 + t.relu(), np.arange(6) % 5).mean()
            loss.backward()
            results[backend] = (loss.item(), t.grad.data)
    finally:
        gg.set_backend(previous)
    assert abs(results["numpy"][0] - results["numba"][0]) < 1e-6
    np.testing.assert_allclose(results["numpy"][1], results["numba"][1], rtol=1e-5, atol=1e-7)
