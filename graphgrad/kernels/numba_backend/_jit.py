"""The JIT policy: the one module that imports numba, and only when a kernel is first used.

Three facts measured on the 2-core reference machine shape the policy:

* **Lazy.**  ``import numba`` alone costs ~0.5 s and compiling every kernel for
  both float dtypes up front takes tens of seconds.  So nothing here runs at
  ``import graphgrad``: the kernel modules (``elementwise``, ``reduce``,
  ``softmax``, ``optim``, ``scatter``, ``approx``) are loaded through
  :func:`lazy_module` on the first kernel call, numba is imported by the first
  :func:`kernel` decoration, and a dispatcher compiles one signature the first
  time it sees it (``cache=True`` keeps the machine code on disk for the next
  process).
* **No SVML.**  This llvmlite has no vector maths library, so ``math.exp`` in a
  loop is a scalar libm call.  float32 kernels call the vectorisable
  approximations in ``approx.py`` instead; :func:`by_dtype` picks, at compile
  time, the float32 approximation or exact ``math`` for float64.
* **Serial.**  On an idle machine a ``parallel=True`` loop over 10^6 float32
  takes 0.14 ms instead of 0.28 ms, but right after a matmul (OpenBLAS's idle
  threads still spinning) or with another process on a core, the same launch
  stalls for ~8 ms: 20-50x slower.  A training step always has a matmul just
  before its elementwise kernels, so :data:`PARALLEL` is False and every kernel
  is serial; see ``docs/kernels.md``.

``error_model="numpy"`` drops the zero-division check that Python semantics put
in every loop with a division (it blocks vectorisation); division by zero gives
inf/nan like NumPy.  The fastmath flags below keep NaN and inf semantics (no
``nnan``/``ninf``), so ``x != x`` tests and infinities behave as in NumPy.
"""

from __future__ import annotations

import importlib
import sys
import types

#: Every kernel: FMA contraction and approximate-function rewrites, signed
#: zeros may flip.  No ``reassoc``: reassociation let LLVM fold the two-constant
#: ln 2 range reduction of exp back into one constant (5 ulp) and
#: ``(x − max) − lse`` into ``x − (max + lse)`` (log-softmax off by 2e-4 at
#: logits of 1e4).  No ``arcp``: ``x / s`` as ``x · (1/s)`` overflows when s is
#: a denormal (1e-40 / 1e-40 gave inf, 0 / 1e-40 NaN).
FASTMATH = frozenset({"nsz", "contract", "afn"})
#: Pure accumulation loops (a sum or a dot product is their only float
#: operation) add ``reassoc`` so they vectorise into lane-wise partial sums,
#: accumulated in float64, so the reordering costs no accuracy.  Nothing else
#: gets it: tests/kernels/test_edge_values.py checks both facts.
REDUCTION_FASTMATH = FASTMATH | {"reassoc"}

#: Numba threads for the ordinary kernels: off (measured above).  The data
#: movement loops of convolution and pooling are the exception: they are
#: :func:`twin_kernel` loops, compiled serial and parallel, and ``conv.py`` runs
#: the parallel one only above a measured size (see its ``PARALLEL_MIN_ELEMENTS``).
PARALLEL = False

_OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True, "parallel": PARALLEL}


class _LazyModule:
    """Stands for a module until an attribute is first needed, then imports it.

    Each attribute is fetched once and kept on the proxy, so later lookups are
    plain instance-dictionary hits (the per-call hot path).  The import itself
    goes through ``importlib``, whose module locks make concurrent first calls
    from several threads wait for one import instead of seeing half a module.
    """

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str):
    """Module `name` if it is imported already, else a proxy that imports it on first use."""
    module = sys.modules.get(name)
    return module if module is not None else _LazyModule(name)


def kernel(fn=None, *, reduction: bool = False, inline: bool = False):
    """Decorate a loop as a lazily compiled, disk-cached Numba kernel.

    ``reduction=True`` adds ``reassoc`` to the fastmath flags: only for a
    loop whose one float operation is an accumulation (see ``reduce.py``).
    ``inline=True`` inlines a small helper into its callers in Numba's IR,
    before LLVM: a helper that itself calls a helper is otherwise left as
    a call, and the caller's loop does not vectorise.  No signatures are
    given, so nothing compiles until the first call.
    """

    def wrap(f):
        import numba

        flags = set(REDUCTION_FASTMATH if reduction else FASTMATH)
        return numba.njit(fastmath=flags, inline="always" if inline else "never",
                          **_OPTIONS)(f)

    return wrap(fn) if fn is not None else wrap


class Twin:
    """A loop compiled twice from one body: ``serial`` (``prange`` is ``range``) and
    ``parallel`` (``parallel=True``, Numba's threads split the ``prange`` loop).

    Both compile lazily on their first call.  Which one runs is the caller's
    choice, by a measured size threshold (``conv.py``); the two give identical
    results because each ``prange`` iteration writes its own slice of the output
    (tests/kernels/test_conv_parallel.py checks it).
    """

    def __init__(self, fn, flags):
        self._fn, self._flags = fn, flags
        self._serial = self._parallel = None

    @property
    def serial(self):
        if self._serial is None:
            import numba

            self._serial = numba.njit(fastmath=self._flags, **_OPTIONS)(self._fn)
        return self._serial

    @property
    def parallel(self):
        if self._parallel is None:
            import numba

            # a copy under its own name: Numba's disk cache is keyed by the function's
            # qualified name, not by its options, and would hand back the serial build
            f = self._fn
            g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_parallel",
                                   f.__defaults__, f.__closure__)
            g.__qualname__ = f.__qualname__ + "_parallel"
            g.__module__ = f.__module__
            self._parallel = numba.njit(fastmath=self._flags,
                                        **dict(_OPTIONS, parallel=True))(g)
        return self._parallel

    def __call__(self, *args):
        return self.serial(*args)


def twin_kernel(fn=None, *, reduction: bool = False):
    """Decorate a loop with a ``prange`` outer loop as a :class:`Twin` (serial + parallel)."""

    def wrap(f):
        return Twin(f, set(REDUCTION_FASTMATH if reduction else FASTMATH))

    return wrap(fn) if fn is not None else wrap


def numba_prange():
    """The ``numba.prange`` object, for loop modules to bind at import."""
    import numba

    return numba.prange


def by_dtype(name: str, float32_impl, float64_impl):
    """A one-argument function, callable from kernels, with one body per dtype.

    Inside a kernel, ``f(x)`` with a float32 ``x`` (or an array of float32)
    compiles to ``float32_impl(x)`` (a vectorisable approximation); any other
    argument type gets ``float64_impl(x)`` (exact ``math``).  Both are kernels
    themselves.  The choice is made while typing, so it costs nothing at run time.
    """
    from numba import types
    from numba.extending import overload

    def stub(x):
        raise NotImplementedError(f"{name} is only callable from a Numba kernel")

    stub.__name__ = stub.__qualname__ = name

    @overload(stub, inline="always",
              jit_options={"fastmath": set(FASTMATH), "error_model": "numpy"})
    def _choose(x):
        if getattr(x, "dtype", x) == types.float32:
            return lambda x: float32_impl(x)
        return lambda x: float64_impl(x)

    return stub
