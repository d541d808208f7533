"""Tensor: an ndarray, its gradient and the node that created it.

Arithmetic dunders and methods call the ops in `graphgrad.ops`; the ops record
the graph.  dtype rules are NumPy 2's: Python scalars are "weak" (float32 stays
float32 in ``x * 2.0``), and a Python float list becomes float32.
"""

from __future__ import annotations

import weakref

import numpy as np

from graphgrad.autograd.grad_mode import STATE
from graphgrad.kernels import K


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
                 "_version", "_constant", "_origin", "__weakref__")
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__
    is_parameter = False

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        arr = _to_array(data, _resolve_dtype(dtype))
        if requires_grad:
            _check_differentiable(arr.dtype)
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.grad_fn = None
        self._output_nr = 0
        self.name = name
        self._version = [0]
        self._constant = False
        self._origin = None

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
        t._origin = None
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
        t._origin = None
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
    def kind(self) -> str:
        """What a leaf is in a graph: ``"parameter"``, ``"constant"`` (made by an op from
        a plain value) or ``"input"`` (anything else)."""
        return "parameter" if self.is_parameter else ("constant" if self._constant else "input")

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
        """The same data (shared) cut from the graph.

        The result remembers the op that made this tensor, so graph inspection
        can draw the cut ("detached") instead of an anonymous input: strongly
        inside a Module's forward (where a detach is usually a bug, and the
        tensor is dropped with the forward), weakly elsewhere, so that keeping
        ``loss.detach()`` around never keeps a graph alive.
        """
        t = Tensor._wrap(self.data)
        t._version = self._version
        node = self.grad_fn
        if node is not None:
            t._origin = (node if STATE.module_scope else weakref.ref(node), self._output_nr)
        return t

    def requires_grad_(self, requires_grad=True) -> Tensor:
        """Set requires_grad in place on a leaf; returns self."""
        if self.grad_fn is not None and not requires_grad:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; "
                               "use detach() to cut a non-leaf from the graph")
        if requires_grad:
            _check_differentiable(self.data.dtype)
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

    def _arith_(self, what, ufunc, op, other) -> Tensor:
        """self ← self ∘ other in the same memory (the in-place arithmetic, as PyTorch).

        Without a graph to record (``no_grad``, or nothing requires grad) it is
        NumPy's in-place ufunc: same-kind casting, ``other`` broadcast to self's
        shape.  While gradients are recorded:

        * a leaf that requires grad refuses (its ``.grad`` would no longer
          describe its value): do the update under ``gg.no_grad()``;
        * anything else is recorded: the op runs on a snapshot of the current
          value, the result is written into self's memory and self becomes that
          op's output.  The version bump makes backward raise if a node saved
          the old value (``y = x.exp(); y += 1`` then ``exp``'s backward).
        """
        grad_other = isinstance(other, Tensor) and other.requires_grad
        if not (STATE.enabled and (self.requires_grad or grad_other)):
            ufunc(self.data, other.data if isinstance(other, Tensor) else other,
                  out=self.data, casting="same_kind")
            self._bump_version()
            return self
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(
                f"{what}: a leaf tensor that requires grad (shape {self.shape}) cannot be "
                "changed in place while gradients are recorded; do the update inside "
                "`with gg.no_grad():` (e.g. `p -= lr * p.grad`), or write `p = p - ...` "
                "to build a new tensor"
            )
        if self.data.dtype.kind not in "f":
            raise TypeError(
                f"{what}: cannot write a result that requires grad into a {self.dtype} "
                "tensor; make it floating point first"
            )
        snapshot = (Tensor._wrap(self.data.copy()) if self.grad_fn is None else
                    Tensor._from_op(self.data.copy(), self.grad_fn, self._output_nr))
        result = op(snapshot, other)
        if result.shape != self.shape:
            raise ValueError(
                f"{what}: the result has shape {result.shape} but the tensor has shape "
                f"{self.shape}; an in-place op cannot change the shape"
            )
        if result.dtype != self.dtype:
            result = ops.astype(result, self.dtype)
        self.data[...] = result.data
        self._bump_version()
        self.grad_fn, self._output_nr, self.requires_grad = result.grad_fn, result._output_nr, True
        return self

    def add_(self, other, alpha=1) -> Tensor:
        """self += alpha · other, in place (see ``_arith_`` for the autograd rules)."""
        return self._arith_("add_", np.add, ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other) -> Tensor:
        """self -= other, in place."""
        return self._arith_("sub_", np.subtract, ops.sub, other)

    def mul_(self, other) -> Tensor:
        """self *= other, in place."""
        return self._arith_("mul_", np.multiply, ops.mul, other)

    def div_(self, other) -> Tensor:
        """self /= other, in place."""
        return self._arith_("div_", np.divide, ops.div, other)

    def __iadd__(self, other):
        return self._arith_("+=", np.add, ops.add, other)

    def __isub__(self, other):
        return self._arith_("-=", np.subtract, ops.sub, other)

    def __imul__(self, other):
        return self._arith_("*=", np.multiply, ops.mul, other)

    def __itruediv__(self, other):
        return self._arith_("/=", np.divide, ops.div, other)

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
        out = ops.getitem(self, index)
        if self.name and out.grad_fn is None:  # a slice of named data keeps the name: xs[3]
            out.name = f"{self.name}[{index_text(index)}]"
        return out

    def __lt__(self, other):
        return _compare("less", self, other)

    def __le__(self, other):
        return _compare("less_equal", self, other)

    def __gt__(self, other):
        return _compare("greater", self, other)

    def __ge__(self, other):
        return _compare("greater_equal", self, other)

    def __eq__(self, other):
        return _compare("equal", self, other)

    def __ne__(self, other):
        return _compare("not_equal", self, other)

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

    def sum(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Σ over axis (or dim, keepdim)."""
        return ops.sum(self, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Mean over axis (or dim, keepdim)."""
        return ops.mean(self, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def max(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Max over axis (or dim, keepdim)."""
        return ops.max(self, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def min(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """Min over axis (or dim, keepdim)."""
        return ops.min(self, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, ddof=0, keepdims=False, dim=None, keepdim=None):
        """Variance over axis (NumPy's ddof=0 by default)."""
        return ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def std(self, axis=None, ddof=0, keepdims=False, dim=None, keepdim=None):
        """√var over axis (gradient 0 where the std is 0, as PyTorch)."""
        return ops.std(self, axis=axis, ddof=ddof, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def logsumexp(self, axis=None, keepdims=False, dim=None, keepdim=None):
        """ln Σ e^x over axis, stable (or dim, keepdim)."""
        return ops.logsumexp(self, axis=axis, keepdims=keepdims, dim=dim, keepdim=keepdim)

    def softmax(self, axis=-1, dim=None):
        """Softmax along axis (or dim)."""
        return ops.softmax(self, axis=axis, dim=dim)

    def log_softmax(self, axis=-1, dim=None):
        """Log-softmax along axis (or dim)."""
        return ops.log_softmax(self, axis=axis, dim=dim)

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


def _check_differentiable(dtype):
    if dtype.kind == "c":
        raise TypeError(
            f"requires_grad=True: complex tensors ({dtype}) cannot be differentiated; "
            "graphgrad's gradients are real. Split into real and imaginary float tensors"
        )
    if dtype.kind != "f":
        raise TypeError(
            f"requires_grad=True needs a floating-point tensor, but the data has dtype "
            f"{dtype}; pass dtype='float32' (or float64) to differentiate it"
        )


def _to_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    else:
        try:
            arr = np.asarray(data)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"graphgrad.tensor: cannot make a tensor from this "
                             f"{type(data).__name__}: {exc}") from None
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)  # Python floats become float32
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"graphgrad.tensor: cannot make a tensor from {_describe(data)} (NumPy dtype "
            f"{arr.dtype}); give numbers: a number, a (nested) list of numbers or a "
            "numeric ndarray"
        )
    if dtype is not None and arr.dtype != dtype:
        if dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"graphgrad.tensor: dtype {dtype} is not numeric")
        arr = arr.astype(dtype)
    return arr


#: bool, signed and unsigned integers, floats and complex: what a tensor holds.
_NUMERIC_KINDS = "biufc"


def _describe(data):
    if data is None:
        return "None"
    if isinstance(data, np.ndarray):
        return f"an ndarray of dtype {data.dtype}"
    return f"a {type(data).__name__} ({data!r:.40})"


def _index_arrays(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _compare(kernel, a, b):
    a = a.data if isinstance(a, Tensor) else a
    b = b.data if isinstance(b, Tensor) else b
    return Tensor._wrap(np.asarray(getattr(K, kernel)(a, b)))


def index_text(index) -> str:
    """``3``, ``1:4``, ``:, 0``, ``[0, 2]``: an index as it is written in Python."""
    if isinstance(index, tuple):
        return ", ".join(index_text(i) for i in index)
    if isinstance(index, slice):
        parts = ["" if v is None else str(v) for v in (index.start, index.stop)]
        return ":".join(parts) + (f":{index.step}" if index.step is not None else "")
    if index is Ellipsis:
        return "..."
    if isinstance(index, np.ndarray):
        return str(index.tolist()) if index.size <= 4 else f"array{index.shape}"
    return str(index)


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
    "prod amax amin any all norm argmax argmin cumsum cumprod cummax cummin logcumsumexp "
    "sort argsort topk dot inner outer kron trace diag diagonal tril triu cross "
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
