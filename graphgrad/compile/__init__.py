"""Record a training step once, replay it as a plan of (fused) kernels: ``gg.compile(fn)``.

``recorder`` records one eager call, ``plan`` turns two recordings into a
flat list of kernel calls over buffers, ``fusion`` merges elementwise chains
into generated Numba kernels, ``guards`` decides when a plan may replay,
``explain`` describes a plan and ``step`` ties them together.  See
``docs/compile.md``.

The package is itself callable: ``graphgrad.compile`` is both this package
and the function of the public API (Python sets a package's attribute to a
submodule once it is imported, so a plain function of that name could not
stay in place).
"""

import sys
import types

from graphgrad.compile.fusion import declare_elementwise
from graphgrad.compile.step import CompiledStep, CompileWarning
from graphgrad.compile.step import compile as compile_step

__all__ = ["compile_step", "CompiledStep", "CompileWarning", "declare_elementwise"]


class _CallableModule(types.ModuleType):
    def __call__(self, fn=None, *, max_plans: int = 8, fuse: bool = True, validate: int = 0,
                 validate_first: int = 0):
        return compile_step(fn, max_plans=max_plans, fuse=fuse, validate=validate,
                            validate_first=validate_first)

    __call__.__doc__ = compile_step.__doc__


sys.modules[__name__].__class__ = _CallableModule
