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

import weakref

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
                if (type(a) is list or type(a) is tuple) and _holds_tensor(a):
                    # NumPy would read each Tensor through __array__ and detach it:
                    # stack them with a gradient instead (graphgrad.ops installs it).
                    return cls.apply(*[STACK_LIST(b) if type(b) in (list, tuple)
                                       and _holds_tensor(b) else b for b in args], **kwargs)
                arrays.append(a)
        if not (record and STATE.enabled):
            out = cls.forward(_DiscardingContext(), *arrays, **kwargs)
            if type(out) is tuple:
                result = tuple(_wrap_output(_as_array(o), args) for o in out)
            else:
                result = _wrap_output(_as_array(out), args)
            if STATE.observers:
                _notify(cls, None, args, result)
            return result

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
            raw = (out,)
        else:
            outs = [_as_array(o) for o in out]
            ctx.n_outputs = len(outs)
            ctx.out_meta = tuple((o.shape, o.dtype) for o in outs)
            results = result = tuple(_graph_output(o, ctx, i, args) for i, o in enumerate(outs))
            raw = out
        to_save = ctx._to_save
        if to_save is not None:
            ctx._saved = _resolve_saved(to_save, args, arrays, results, raw)
            del ctx._to_save
        if STATE.observers:
            _notify(cls, ctx, args, results)
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
            elif isinstance(array, (np.ndarray, np.generic)):
                # a NumPy scalar (what a 0-d computation returns) is a 0-d array too
                out.append(Tensor._wrap(np.asarray(array)))
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


def _notify(cls, node, args, outputs):
    """Show one op's run to the observers of ``graphgrad.autograd.observe``."""
    outputs = outputs if type(outputs) is tuple else (outputs,)
    for observer in STATE.observers:
        observer.forward(cls, node, args, outputs)


#: Stacks a (nested) list of Tensors into one Tensor with a gradient; graphgrad.ops
#: sets it to its as_tensor (autograd does not import the ops).
STACK_LIST = None


def _holds_tensor(x) -> bool:
    if isinstance(x, Tensor):
        return True
    return (type(x) is list or type(x) is tuple) and any(_holds_tensor(e) for e in x)


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

    __slots__ = ("kind", "shape", "dtype", "name", "tensor_id", "origin")

    def __init__(self, kind, shape, dtype, name, tensor_id, origin=None):
        self.kind, self.shape, self.dtype = kind, shape, dtype
        self.name, self.tensor_id = name, tensor_id
        # (node, output_nr) a detached input was cut from; held strongly here so
        # the cut-off branch lives exactly as long as the graph that used it.
        self.origin = origin


def _leaf_info(t):
    origin = t._origin
    if origin is not None:
        node = origin[0]
        if type(node) is weakref.ref:
            node = node()
        origin = None if node is None else (node, origin[1])
    return InputInfo(t.kind, t.data.shape, t.data.dtype, t.name, id(t), origin)


_SCALAR_INFO = InputInfo("constant", (), None, None, None)


def _constant_info(a):
    if isinstance(a, (float, int)) and not isinstance(a, bool):
        return _SCALAR_INFO
    if isinstance(a, (np.ndarray, np.generic)):
        return InputInfo("constant", a.shape, a.dtype, None, None)
    return None  # a non-array argument (axis, shape, slope...)


def _resolve_saved(values, args, arrays, results, raw):
    """Each saved value as (tensor, array, output_nr, version_cell, version_at_save).

    An input's array is kept through its Tensor, an output's as (array,
    output_nr) so that no reference cycle node → output → node is made; both
    remember the version, to catch in-place changes before backward uses them.
    An output is recognised as what forward returned (`raw`), which for a 0-d
    result is a NumPy scalar, not the array the output Tensor holds: matching
    only ``r.data`` saved 0-d outputs as constants, cut from the graph, and
    second derivatives through exp/sqrt/tanh of a scalar were wrong.
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
            for r, o in zip(results, raw):
                if v is r.data or v is o:
                    cell = r._version
                    saved.append((None, r.data, r._output_nr, cell, cell[0]))
                    break
            else:
                saved.append((None, v, None, None, 0))
    return tuple(saved)
