"""Tensor: an ndarray, its gradient and the node that created it.

Arithmetic dunders and methods call the ops in `graphgrad.ops`; the ops record
the graph.  dtype rules are NumPy 2's: Python scalars are "weak" (float32 stays
float32 in ``x * 2.0``), and a Python float list becomes float32.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.grad_mode import STATE

_FLOAT_KINDS = "fc"


def _resolve_dtype(dtype):
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"graphgrad.tensor: unknown dtype {dtype!r}") from exc


class Tensor:
    """An n-dimensional array that can record the ops applied to it."""

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_output_nr", "name",
                 "_version", "_constant", "__weakref__")
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__
    is_parameter = False

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        arr = _to_array(data, _resolve_dtype(dtype))
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"requires_grad=True needs a floating-point tensor, but the data has dtype "
                f"{arr.dtype}; pass dtype='float32' (or float64) to differentiate it"
            )
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self._output_nr = 0
        self.name = name
        self._version = [0]
        self._constant = False

    # ---------------------------------------------------------- fast builders
    @classmethod
    def _wrap(cls, arr):
        """A Tensor around `arr` (no copy, no checks, no grad)."""
        t = object.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.requires_grad = False
        t.grad_fn = None
        t._output_nr = 0
        t.name = None
        t._version = [0]
        t._constant = False
        return t

    @classmethod
    def _from_op(cls, arr, node, output_nr, version=None):
        t = object.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.requires_grad = True
        t.grad_fn = node
        t._output_nr = output_nr
        t.name = None
        t._version = [0] if version is None else version
        t._constant = False
        return t

    # ------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        """The shape tuple, as in NumPy."""
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype."""
        return self.data.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        """All axes reversed (NumPy semantics)."""
        return ops.transpose(self)

    def numel(self) -> int:
        """Number of elements."""
        return self.data.size

    def size(self, dim=None):
        """The shape (PyTorch's ``size()``), or one dimension of it."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): the tensor has {self.data.size} elements (shape "
                             f"{self.shape}); only one-element tensors convert")
        return self.data.item()

    def tolist(self):
        """Nested Python lists of the values."""
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data (shared) cut from the graph."""
        t = Tensor._wrap(self.data)
        t._version = self._version
        return t

    def requires_grad_(self, requires_grad=True) -> Tensor:
        """Set requires_grad in place on a leaf; returns self."""
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; "
                               "use detach() to cut a non-leaf from the graph")
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"requires_grad needs a floating-point tensor, not {self.dtype}")
        self.requires_grad = requires_grad
        return self

    def backward(self, grad=None, retain_graph=None, create_graph=False) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf it depends on."""
        engine.backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None)."""
        self.grad = None

    # ------------------------------------------------------------- in place
    def _check_inplace(self, what):
        if self.requires_grad and STATE.enabled:
            raise RuntimeError(
                f"{what}: in-place change of a tensor that requires grad (shape "
                f"{self.shape}) cannot be differentiated; do it inside gg.no_grad(), or "
                "use the out-of-place op"
            )

    def _bump_version(self) -> None:
        """Mark the data as changed in place (invalidates it for saved-for-backward use)."""
        self._version[0] += 1

    def _inplace(self, what, value):
        self._check_inplace(what)
        value = value.data if isinstance(value, Tensor) else value
        self._bump_version()
        return value

    def copy_(self, src) -> Tensor:
        """Copy `src` into this tensor's data in place."""
        self.data[...] = self._inplace("copy_", src)
        return self

    def fill_(self, value) -> Tensor:
        """Fill with a scalar in place."""
        self.data[...] = self._inplace("fill_", value)
        return self

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return self.fill_(0)

    def add_(self, other, alpha=1) -> Tensor:
        """self += alpha · other, in place."""
        other = self._inplace("add_", other)
        self.data += other if alpha == 1 else alpha * np.asarray(other)
        return self

    def sub_(self, other) -> Tensor:
        """self -= other, in place."""
        self.data -= self._inplace("sub_", other)
        return self

    def mul_(self, other) -> Tensor:
        """self *= other, in place."""
        self.data *= self._inplace("mul_", other)
        return self

    def div_(self, other) -> Tensor:
        """self /= other, in place."""
        self.data /= self._inplace("div_", other)
        return self

    def __setitem__(self, index, value) -> None:
        value = self._inplace("__setitem__", value)
        self.data[_index_arrays(index)] = value

    # ------------------------------------------------------------- printing
    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", threshold=50,
                               edgeitems=3)
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extras)})"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self.item())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    __hash__ = object.__hash__

    # ------------------------------------------------------------ operators
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __mod__(self, other):
        return ops.remainder(self, other)

    def __rmod__(self, other):
        return ops.remainder(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __lt__(self, other):
        return _compare(np.less, self, other)

    def __le__(self, other):
        return _compare(np.less_equal, self, other)

    def __gt__(self, other):
        return _compare(np.greater, self, other)

    def __ge__(self, other):
        return _compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return _compare(np.equal, self, other)

    def __ne__(self, other):
        return _compare(np.not_equal, self, other)

    # ---------------------------------------------------------- op methods
    def exp(self):
        """e^x"""
        return ops.exp(self)

    def log(self):
        """ln x"""
        return ops.log(self)

    def sqrt(self):
        """√x"""
        return ops.sqrt(self)

    def abs(self):
        """|x|"""
        return ops.abs(self)

    def sign(self):
        """sign(x)"""
        return ops.sign(self)

    def tanh(self):
        """tanh x"""
        return ops.tanh(self)

    def sigmoid(self):
        """1 / (1 + e^-x)"""
        return ops.sigmoid(self)

    def relu(self):
        """max(0, x)"""
        return ops.relu(self)

    def leaky_relu(self, slope=0.01):
        """x if x > 0 else slope·x"""
        return ops.leaky_relu(self, slope)

    def softplus(self):
        """ln(1 + e^x)"""
        return ops.softplus(self)

    def clip(self, min=None, max=None):  # noqa: A002 - NumPy's names
        """Clamp to [min, max]."""
        return ops.clip(self, min, max)

    clamp = clip

    def maximum(self, other):
        """Elementwise max(self, other)."""
        return ops.maximum(self, other)

    def minimum(self, other):
        """Elementwise min(self, other)."""
        return ops.minimum(self, other)

    def sum(self, axis=None, keepdims=False):
        """Σ over axis."""
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over axis."""
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        """Max over axis."""
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        """Min over axis."""
        return ops.min(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        """Variance over axis (NumPy's ddof=0 by default)."""
        return ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        """√var over axis."""
        return ops.sqrt(ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims))

    def logsumexp(self, axis=None, keepdims=False):
        """ln Σ e^x over axis, stable."""
        return ops.logsumexp(self, axis=axis, keepdims=keepdims)

    def softmax(self, axis=-1):
        """Softmax along axis."""
        return ops.softmax(self, axis=axis)

    def log_softmax(self, axis=-1):
        """Log-softmax along axis."""
        return ops.log_softmax(self, axis=axis)

    def matmul(self, other):
        """self @ other"""
        return ops.matmul(self, other)

    def reshape(self, *shape):
        """Same data, new shape (one -1 allowed)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge the axes start_dim..end_dim into one (all by default)."""
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, *axes):
        """Permute axes (reverse them when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    def swapaxes(self, a, b):
        """Exchange two axes."""
        return ops.swapaxes(self, a, b)

    def broadcast_to(self, shape):
        """Broadcast to `shape` (NumPy rules)."""
        return ops.broadcast_to(self, shape)

    def expand_dims(self, axis):
        """Insert a length-1 axis."""
        return ops.reshape(self, np.expand_dims(self.data, axis).shape)

    unsqueeze = expand_dims

    def squeeze(self, axis=None):
        """Remove length-1 axes."""
        return ops.reshape(self, np.squeeze(self.data, axis).shape)

    def astype(self, dtype):
        """Cast to dtype (differentiable between float dtypes)."""
        return ops.astype(self, dtype)

    to = astype

    def float(self):
        """Cast to float32."""
        return ops.astype(self, np.float32)

    def double(self):
        """Cast to float64."""
        return ops.astype(self, np.float64)


def _to_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        arr = np.asarray(data)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)  # Python floats become float32
    if dtype is not None and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


def _index_arrays(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _compare(fn, a, b):
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    return Tensor._wrap(np.asarray(fn(a, b)))


def tensor(data, requires_grad=False, dtype=None, name=None) -> Tensor:
    """Make a Tensor from data (list, scalar, ndarray or Tensor).

    Python floats become float32; an ndarray keeps its dtype (float64 stays
    float64); integers are allowed but cannot require grad.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def _filled(fill, shape, dtype, requires_grad, name):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    arr = fill(shape, dtype=_resolve_dtype(dtype) or np.float32)
    return Tensor(arr, requires_grad=requires_grad, name=name)


def zeros(*shape, dtype=None, requires_grad=False, name=None) -> Tensor:
    """A tensor of zeros (float32 unless dtype says otherwise)."""
    return _filled(np.zeros, shape, dtype, requires_grad, name)


def ones(*shape, dtype=None, requires_grad=False, name=None) -> Tensor:
    """A tensor of ones (float32 unless dtype says otherwise)."""
    return _filled(np.ones, shape, dtype, requires_grad, name)


def zeros_like(t, dtype=None, requires_grad=False) -> Tensor:
    """Zeros with the shape (and dtype) of t."""
    return Tensor(np.zeros_like(np.asarray(t), dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False) -> Tensor:
    """Ones with the shape (and dtype) of t."""
    return Tensor(np.ones_like(np.asarray(t), dtype=_resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False) -> Tensor:
    """A tensor filled with fill_value (float32 unless dtype says otherwise)."""
    return Tensor(np.full(shape, fill_value, dtype=_resolve_dtype(dtype) or np.float32),
                  requires_grad=requires_grad)


def arange(*args, dtype=None) -> Tensor:
    """Evenly spaced values, as np.arange."""
    return Tensor(np.arange(*args, dtype=_resolve_dtype(dtype)))


# The one import cycle graphgrad keeps, on purpose (as PyTorch and tinygrad do):
# Tensor's dunders call the ops and `.backward()` calls the engine, while both
# build and return Tensors.  They are bound here, after Tensor exists.
from graphgrad import ops  # noqa: E402
from graphgrad.autograd import engine  # noqa: E402

# Methods that only forward to the op of the same meaning (self first), as
# PyTorch's Tensor methods; PyTorch's short names alias NumPy's.
_METHODS = {name: name for name in (
    "sin cos tan arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh log2 log10 "
    "log1p exp2 expm1 rsqrt reciprocal square erf erfc floor ceil round trunc fmod remainder "
    "copysign logaddexp logaddexp2 lerp fmax fmin isnan isinf isfinite isclose "
    "prod any all norm argmax argmin cumsum cumprod cummax cummin logcumsumexp sort argsort "
    "topk dot inner outer kron trace diag diagonal tril triu cross "
    "flip roll repeat tile repeat_interleave split chunk expand permute movedim moveaxis "
    "unflatten clone gather scatter scatter_add scatter_reduce index_select masked_fill "
    "masked_select nonzero take_along_axis put_along_axis"
).split()}
_METHODS.update(asin="arcsin", acos="arccos", atan="arctan", atan2="arctan2", asinh="arcsinh",
                acosh="arccosh", atanh="arctanh", fix="trunc")


def _forwarding_method(name, fn):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = fn.__doc__
    return method


def bind_op_methods(namespace) -> None:
    """Attach the _METHODS to Tensor; graphgrad.ops calls it once all its ops exist."""
    for name, op in _METHODS.items():
        setattr(Tensor, name, _forwarding_method(name, namespace[op]))
