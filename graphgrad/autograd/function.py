"""Function: one differentiable op, and the graph node (context) it creates.

Subclass `Function` and write two static methods side by side::

    class Cube(gg.Function):
        @staticmethod
        def forward(ctx, x):            # x: ndarray
            ctx.save_for_backward(x)
            return x ** 3               # ndarray (or a tuple of them)

        @staticmethod
        def backward(ctx, grad):        # grad: Tensor
            (x,) = ctx.saved_tensors    # Tensors again
            return grad * 3 * x ** 2    # one gradient per forward input

    y = Cube.apply(x)

`forward` receives the ndarrays inside the Tensor arguments (other arguments
pass through untouched) and returns ndarrays.  `backward` receives and returns
Tensors and is written with graphgrad ops, so it is itself differentiable.
An instance of the subclass *is* the graph node: it holds the edges to the
inputs, the saved values and whatever attributes forward put on ``ctx``.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor


class _DiscardingContext:
    """The context forward gets when no graph is recorded: it saves nothing."""

    needs_input_grad = ()

    def save_for_backward(self, *values):
        pass


class Function:
    """Base class of every differentiable op; see the module docstring."""

    n_outputs = 1

    @staticmethod
    def forward(ctx, *args, **kwargs):
        """Compute the op's output ndarray(s) from input ndarrays."""
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        """Return one gradient (Tensor or None) per forward input."""
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    # Defaults for what a node may not set: most ops have one output, save
    # nothing extra and run outside any Module.
    module = None
    _to_save = None
    _saved = ()

    # ------------------------------------------------------------- recording
    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors (or plain values), recording a node when needed."""
        # The hot path of every op: one pass over the arguments; without a graph to
        # record, no helper calls either.
        arrays = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    record = True
            else:
                arrays.append(a)
        if not (record and STATE.enabled):
            out = cls.forward(_DiscardingContext(), *arrays, **kwargs)
            if type(out) is tuple:
                return tuple(_wrap_output(_as_array(o), args) for o in out)
            return _wrap_output(_as_array(out), args)

        ctx = cls.__new__(cls)
        ctx.needs_input_grad = _link_inputs(ctx, args, arrays)
        out = cls.forward(ctx, *arrays, **kwargs)
        scope = STATE.module_scope
        if scope:
            ctx.module = scope[-1]
        if type(out) is not tuple:
            o = _as_array(out)
            ctx.out_meta = ((o.shape, o.dtype),)
            result = _graph_output(o, ctx, 0, args)
            results = (result,)
        else:
            outs = [_as_array(o) for o in out]
            ctx.n_outputs = len(outs)
            ctx.out_meta = tuple((o.shape, o.dtype) for o in outs)
            results = result = tuple(_graph_output(o, ctx, i, args) for i, o in enumerate(outs))
        to_save = ctx._to_save
        if to_save is not None:
            ctx._saved = _resolve_saved(to_save, args, arrays, results)
            del ctx._to_save
        return result

    # -------------------------------------------------------------- context
    def save_for_backward(self, *values):
        """Keep values for backward: input/output arrays (kept as graph Tensors) or others."""
        self._to_save = values

    @property
    def saved_tensors(self):
        """The saved values as Tensors; raises if the graph was already freed or changed."""
        saved = self._saved
        if saved is None:
            raise RuntimeError(
                f"{type(self).__name__}: trying to backward through the graph a second "
                "time, but its saved values were freed after the first backward; pass "
                "retain_graph=True to the first backward (or gg.grad) to keep them"
            )
        out = []
        for tensor, array, output_nr, cell, version in saved:
            if cell is not None and cell[0] != version:
                raise RuntimeError(
                    f"{type(self).__name__}: a tensor it saved for backward was modified "
                    f"in place (version {cell[0]}, saved at version {version}); backward "
                    "would be wrong. Use an out-of-place op, or modify a copy"
                )
            if tensor is not None:
                out.append(tensor)
            elif output_nr is not None:
                out.append(Tensor._from_op(array, self, output_nr, cell))
            elif isinstance(array, np.ndarray):
                out.append(Tensor._wrap(array))
            else:  # Python scalars stay weak scalars
                out.append(array)
        return tuple(out)

    @property
    def saved_nbytes(self) -> int:
        """Bytes of ndarray data this node keeps alive for backward."""
        if not getattr(self, "_saved", None):
            return 0
        total = 0
        for tensor, array, _, _, _ in self._saved:
            arr = tensor.data if tensor is not None else array
            total += getattr(arr, "nbytes", 0)
        return total

    def _free(self):
        self._saved = None

    @property
    def name(self) -> str:
        """The op's name (its class name)."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _as_array(x):
    return x if type(x) is np.ndarray else np.asarray(x)


def _link_inputs(ctx, args, arrays):
    """Record on the node where each input comes from; return needs_input_grad.

    ``next_edges``: ``(producer, output_nr)`` for an op output, ``(tensor, None)``
    for a leaf that requires grad, None otherwise; ``in_shapes`` for the engine's
    shape check; ``inputs_info`` for graph inspection of inputs that are not op
    outputs.
    """
    needs, edges, shapes, infos = [], [], [], []
    for a, arr in zip(args, arrays):
        if isinstance(a, Tensor):
            shapes.append(arr.shape)
            producer = a.grad_fn
            if producer is not None:
                needs.append(True)
                edges.append((producer, a._output_nr))
                infos.append(None)
            else:
                needs.append(a.requires_grad)
                edges.append((a, None) if a.requires_grad else None)
                infos.append(_leaf_info(a))
        else:
            needs.append(False)
            edges.append(None)
            shapes.append(arr.shape if isinstance(arr, np.ndarray) else ())
            infos.append(_constant_info(arr))
    ctx.in_shapes = tuple(shapes)
    ctx.next_edges = tuple(edges)
    ctx.inputs_info = tuple(infos)
    return tuple(needs)


def _graph_output(o, ctx, i, args):
    """Output `i` of node `ctx` as a Tensor on the graph (integer and boolean
    outputs carry no gradient, so they are plain Tensors)."""
    if o.dtype.kind in "fc":
        return Tensor._from_op(o, ctx, i, None if o.base is None else _view_version(o, args))
    return _wrap_output(o, args)


def _view_version(out, args):
    """The version cell of the input Tensor whose memory `out` is a view of, else None.

    A view (reshape, transpose, basic indexing) shares its base's version
    counter, so an in-place change through either one invalidates what the
    graph saved of the other.
    """
    base = out.base
    for a in args:
        if isinstance(a, Tensor):
            data = a.data
            if data is base or (data.base is not None and data.base is base):
                return a._version
    return None


def _wrap_output(out, args):
    """A graph-less Tensor around an op's output (sharing the version of a viewed input)."""
    t = Tensor._wrap(out)
    if out.base is not None:
        cell = _view_version(out, args)
        if cell is not None:
            t._version = cell
    return t


class InputInfo:
    """What graph inspection needs to know about an input that is not an op output."""

    __slots__ = ("kind", "shape", "dtype", "name", "tensor_id")

    def __init__(self, kind, shape, dtype, name, tensor_id):
        self.kind, self.shape, self.dtype = kind, shape, dtype
        self.name, self.tensor_id = name, tensor_id


def _leaf_info(t):
    kind = "parameter" if t.is_parameter else ("constant" if t._constant else "input")
    return InputInfo(kind, t.data.shape, t.data.dtype, t.name, id(t))


_SCALAR_INFO = InputInfo("constant", (), None, None, None)


def _constant_info(a):
    if isinstance(a, (float, int)) and not isinstance(a, bool):
        return _SCALAR_INFO
    if isinstance(a, (np.ndarray, np.generic)):
        return InputInfo("constant", a.shape, a.dtype, None, None)
    return None  # a non-array argument (axis, shape, slope...)


def _resolve_saved(values, args, arrays, results):
    """Each saved value as (tensor, array, output_nr, version_cell, version_at_save).

    An input's array is kept through its Tensor, an output's as (array,
    output_nr) so that no reference cycle node → output → node is made; both
    remember the version, to catch in-place changes before backward uses them.
    """
    saved = []
    for v in values:
        if isinstance(v, Tensor):
            saved.append((v, None, None, v._version, v._version[0]))
            continue
        for a, arr in zip(args, arrays):
            if v is arr and isinstance(a, Tensor):
                saved.append((a, None, None, a._version, a._version[0]))
                break
        else:
            for r in results:
                if v is r.data:
                    cell = r._version
                    saved.append((None, v, r._output_nr, cell, cell[0]))
                    break
            else:
                saved.append((None, v, None, None, 0))
    return tuple(saved)
