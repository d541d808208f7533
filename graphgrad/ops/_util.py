"""Helpers shared by the op modules (they import nothing from graphgrad.ops)."""

from __future__ import annotations

import numpy as np

from graphgrad.autograd import function as _function_module
from graphgrad.autograd.function import Function
from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K


def recording() -> bool:
    """Whether ops record a graph right now (the one spelling of it in ops/).

    Inside backward this is False unless ``create_graph=True``; backward
    functions then take a fast path that calls kernels directly, because
    nobody will differentiate the gradient again.
    """
    return STATE.enabled


def wrap(array) -> Tensor:
    """A graph-less Tensor around a kernel's result (the one spelling of it in ops/)."""
    return Tensor._wrap(array)


def as_tensor(x) -> Tensor:
    """Tensors pass through; anything else becomes a constant Tensor.

    A list or tuple that holds Tensors (at any depth) is stacked along a new
    first axis with a gradient, as ``gg.stack`` would: NumPy would stack it
    too, and ``np.asarray`` would read each Tensor through ``__array__`` and
    silently detach it.  Plain numbers in such a list become constants of the
    Tensors' dtype.
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)) and holds_tensor(x):
        return _stack_nested(x)
    t = Tensor._wrap(np.asarray(x))
    t._constant = True
    return t


def holds_tensor(x) -> bool:
    """Whether a (nested) list or tuple holds a Tensor anywhere."""
    if isinstance(x, Tensor):
        return True
    return isinstance(x, (list, tuple)) and any(holds_tensor(e) for e in x)


_function_module.STACK_LIST = as_tensor


def _first_tensor(x):
    if isinstance(x, Tensor):
        return x
    for e in x if isinstance(x, (list, tuple)) else ():
        t = _first_tensor(e)
        if t is not None:
            return t
    return None


def _stack_nested(x) -> Tensor:
    from graphgrad.ops.shape import stack  # the op modules import _util, not the reverse

    dtype = _first_tensor(x).dtype

    def part(e):
        if isinstance(e, Tensor):
            return e
        if isinstance(e, (list, tuple)) and holds_tensor(e):
            return _stack_nested(e)
        t = Tensor._wrap(np.asarray(e, dtype=dtype if np.asarray(e).dtype.kind in "fiub"
                                    and dtype.kind == "f" else None))
        t._constant = True
        return t

    parts = [part(e) for e in x]
    shapes = {p.shape for p in parts}
    if len(shapes) > 1:
        raise ValueError(
            "a list of tensors is stacked along a new first axis (as np.asarray and "
            f"gg.stack do), but its elements have different shapes {sorted(shapes)}; "
            "give same-shape tensors, or use gg.concatenate / gg.stack explicitly")
    return stack(parts, axis=0)


def normalize_axis(op, axis, ndim) -> tuple:
    """axis (None, an int or a sequence of ints) as a sorted tuple of non-negative ints.

    None means every axis.  An out-of-range or repeated axis is an error that
    names the op.  A 0-d tensor accepts axis 0 and -1 (as PyTorch's dim), which
    reduce nothing: the axes are ``()``.
    """
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis % ndim,)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if ndim == 0:  # one value, nothing to reduce: axis 0 or -1 mean no axes (PyTorch's dim)
        if all(a in (0, -1) for a in axes):
            return ()
        raise ValueError(f"{op}: axis {axis} is out of range for a 0-d tensor "
                         "(only 0, -1 or None)")
    limit = max(ndim, 1)
    out = []
    for a in axes:
        if not -limit <= a < limit:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % limit)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def normalize_dim(op, axis, ndim) -> int:
    """One axis as a non-negative int (ops that work along a single axis)."""
    limit = max(ndim, 1)
    if not isinstance(axis, (int, np.integer)) or not -limit <= axis < limit:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dims")
    return int(axis) % limit


def dim_alias(op, axis, dim, default=None):
    """NumPy's `axis` or PyTorch's `dim` (give at most one)."""
    if dim is not None:
        if axis is not None and axis != default:
            raise TypeError(f"{op}: give axis or dim, not both (got axis={axis}, dim={dim})")
        return dim
    return axis


def keepdim_alias(op, keepdims, keepdim) -> bool:
    """NumPy's `keepdims` or PyTorch's `keepdim` (give at most one, or the same value)."""
    if keepdim is None:
        return bool(keepdims)
    if keepdims and not keepdim:
        raise TypeError(f"{op}: give keepdims or keepdim, not both (got keepdims={keepdims}, "
                        f"keepdim={keepdim})")
    return bool(keepdim)


class UnaryOp(Function):
    """y = K.<kernel>(x);  ∂/∂x = derivative(g, x), with the input x saved as a Tensor.

    The base of the elementwise ops whose derivative is a short graphgrad
    expression: a subclass sets ``kernel`` and ``derivative`` (so backward is
    differentiable again).
    """

    kernel = ""

    @classmethod
    def forward(cls, ctx, x):
        ctx.save_for_backward(x)
        return getattr(K, cls.kernel)(x)

    @classmethod
    def backward(cls, ctx, g):
        (x,) = ctx.saved_tensors
        return cls.derivative(g, x)
