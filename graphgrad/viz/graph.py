"""The recorded graph as a ``networkx.DiGraph``: one node per op and per leaf tensor.

`to_networkx` walks the ``grad_fn`` nodes from the root(s) with
``autograd.topological_order`` and turns each into a networkx node; leaf tensors
come from ``node.inputs_info`` (kind, shape, dtype, name) and, for leaves that
require grad, from the ``(tensor, None)`` entries of ``node.next_edges`` (which
also give their ``.grad``).

Node ids are stable: they are built from op names, module paths, tensor names
and the position in a deterministic traversal, never from ``id()``, so the same
model run on the same input always yields the same ids and two graphs can be
diffed node by node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx
import numpy as np

from graphgrad.autograd import topological_order
from graphgrad.autograd.tensor import Tensor


def as_roots(root) -> list[Tensor]:
    """`root` (a Tensor, or an iterable of Tensors) as a non-empty list of Tensors."""
    roots = [root] if isinstance(root, Tensor) else list(root) if _iterable(root) else [root]
    if not roots:
        raise ValueError("graph inspection: no root tensor given; pass the tensor to draw, "
                         "e.g. gg.to_dot(loss)")
    for i, t in enumerate(roots):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"graph inspection: root {i} is a {type(t).__name__}, not a graphgrad Tensor; "
                "pass the Tensor your model (or loss) returned"
            )
    return roots


def _iterable(x) -> bool:
    return isinstance(x, Iterable) and not isinstance(x, (str, bytes, np.ndarray))


def declared_module_types(params) -> dict[str, str]:
    """Module path -> class name from a Module's ``named_modules()`` (else empty)."""
    if not hasattr(params, "named_modules"):
        return {}
    return {path: type(m).__name__ for path, m in params.named_modules()}


def parameter_names(params) -> dict[int, str]:
    """``id(tensor) -> name`` from a ``{name: tensor}`` mapping or an object with
    ``named_parameters()`` (a Module); the ids are only compared while the
    tensors are alive (they are held by `params` itself)."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = dict(params.named_parameters())
    if not isinstance(params, Mapping):
        raise TypeError(
            f"graph inspection: params must be a dict {{name: tensor}} or a Module, got "
            f"{type(params).__name__}; pass params=dict(model.named_parameters()) or params=model"
        )
    names = {}
    for name, t in params.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"graph inspection: params[{name!r}] is a {type(t).__name__}, "
                            "not a Tensor")
        names.setdefault(id(t), str(name))
    return names


_DTYPE_NAMES: dict = {}


def _dtype_name(dtype) -> str:
    # str(np.dtype) is slow enough to dominate the walk of a 10^5-node graph
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(np.dtype(dtype))
    return name


def _norm(t) -> float:
    return float(np.linalg.norm(np.asarray(t.data, dtype=np.float64).ravel()))


def _common_module(paths: list) -> str | None:
    """The deepest module path containing every path (None if one is outside all)."""
    if not paths or any(p is None for p in paths):
        return None
    parts = [p.split(".") if p else [] for p in paths]
    common = []
    for level in zip(*parts, strict=False):
        if any(c != level[0] for c in level):
            break
        common.append(level[0])
    return ".".join(common)


def _is_op_setting(info) -> bool:
    """A non-Tensor scalar argument (axis, keepdims, a Python literal): not drawn."""
    return info.kind == "constant" and info.tensor_id is None and tuple(info.shape) == ()


class _GraphBuilder:
    """One walk over the graph; see `to_networkx`."""

    def __init__(self, roots, names):
        self.roots, self.names = roots, names
        self.graph = nx.DiGraph()
        self.ids = set()
        self.counters: dict = {}
        self.leaf_ids: dict = {}  # dedupe key -> node id
        self.node_ids: dict = {}  # id(Function) -> node id (only during the walk)
        self.consumers: dict = {}  # leaf node id -> module paths of its consumers

    def unique(self, base: str) -> str:
        nid, n = base, 1
        while nid in self.ids:
            n += 1
            nid = f"{base}#{n}"
        self.ids.add(nid)
        return nid

    def counted(self, key) -> int:
        k = self.counters.get(key, 0)
        self.counters[key] = k + 1
        return k

    def build(self) -> nx.DiGraph:
        root_nodes = [t.grad_fn for t in self.roots if t.grad_fn is not None]
        for node in reversed(topological_order(root_nodes)):  # producers first
            self.add_op(node)
        for t in self.roots:
            if t.grad_fn is None:
                nid = self.leaf_from_tensor(t)
            else:
                nid = self.node_ids[id(t.grad_fn)]
            self.graph.nodes[nid]["is_root"] = True
            roots = self.graph.graph.setdefault("roots", [])
            if nid not in roots:
                roots.append(nid)
        for nid, paths in self.consumers.items():
            data = self.graph.nodes[nid]
            if data["kind"] != "input":  # data fed to the model is drawn outside it
                data["module"] = _common_module(paths)
        self.graph.graph["order"] = list(self.graph.nodes)
        return self.graph

    # ----------------------------------------------------------------- leaves
    def leaf_name(self, tensor, info) -> str | None:
        key = id(tensor) if tensor is not None else info.tensor_id
        if key is not None and key in self.names:
            return self.names[key]
        if tensor is not None and tensor.name:
            return str(tensor.name)
        return str(info.name) if info is not None and info.name else None

    def add_leaf(self, key, kind, shape, dtype, name, requires_grad, grad, path=None) -> str:
        if key is not None and key in self.leaf_ids:
            return self.leaf_ids[key]
        base = name if name else f"{kind}_{self.counted(('leaf', kind))}"
        if kind == "parameter" and name and "." not in name and path:
            base = f"{path}.{name}"  # a Module names its Parameters by attribute only
        nid = self.unique(base)
        if key is not None:
            self.leaf_ids[key] = nid
        self.consumers[nid] = []
        self.graph.add_node(
            nid, kind=kind, op=None, name=name, shape=tuple(shape), shapes=(tuple(shape),),
            dtype=_dtype_name(dtype), module=None, module_type=None,
            requires_grad=requires_grad, saved_bytes=0, in_shapes=(), jacobians=(),
            grad_shape=None if grad is None else tuple(grad.shape),
            grad_norm=None if grad is None else _norm(grad), is_root=False,
        )
        return nid

    def leaf_from_tensor(self, t, info=None, path=None) -> str:
        kind = "parameter" if t.is_parameter else ("constant" if t._constant else "input")
        if info is not None:
            kind = info.kind
        key = ("tensor", id(t), t.shape, _dtype_name(t.dtype))
        return self.add_leaf(key, kind, t.shape, t.dtype, self.leaf_name(t, info),
                             t.requires_grad, t.grad, path)

    def leaf_from_info(self, info, path=None) -> str:
        key = None
        if info.tensor_id is not None and info.kind != "constant":
            key = ("tensor", info.tensor_id, tuple(info.shape), _dtype_name(info.dtype))
        return self.add_leaf(key, info.kind, info.shape, info.dtype,
                             self.leaf_name(None, info), False, None, path)

    # -------------------------------------------------------------------- ops
    def add_op(self, node) -> None:
        path, mtype = node.module if node.module is not None else (None, None)
        k = self.counted(("op", path, node.name))
        nid = self.unique(f"{path}/{node.name}_{k}" if path else f"{node.name}_{k}")
        self.node_ids[id(node)] = nid
        inputs = []  # (input_nr, source node id, output_nr, shape, dtype)
        for i, (edge, info) in enumerate(zip(node.next_edges, node.inputs_info, strict=True)):
            if edge is not None and edge[1] is not None:
                src = self.node_ids[id(edge[0])]
                shape, dtype = edge[0].out_meta[edge[1]]
                inputs.append((i, src, edge[1], shape, dtype))
            elif edge is not None:
                src = self.leaf_from_tensor(edge[0], info, path)
                inputs.append((i, src, 0, edge[0].shape, edge[0].dtype))
            elif info is not None and not _is_op_setting(info):
                src = self.leaf_from_info(info, path)
                inputs.append((i, src, 0, info.shape, info.dtype))
            else:
                continue
            if src in self.consumers:  # a leaf: remember who uses it
                self.consumers[src].append(path)
        grads = getattr(node, "grad_outputs", None)
        grad = grads[0] if grads else None
        out_shapes = tuple(tuple(s) for s, _ in node.out_meta)
        jacobians = tuple(
            (o, i, out_shapes[o], tuple(node.in_shapes[i]))
            for o in range(node.n_outputs)
            for i, edge in enumerate(node.next_edges) if edge is not None
        )
        self.graph.add_node(
            nid, kind="op", op=node.name, name=None, label=getattr(node, "label", None),
            shape=out_shapes[0], shapes=out_shapes,
            dtype=_dtype_name(node.out_meta[0][1]), module=path, module_type=mtype,
            requires_grad=True, saved_bytes=int(node.saved_nbytes),
            in_shapes=tuple(tuple(s) for s in node.in_shapes), jacobians=jacobians,
            grad_shape=None if grad is None else tuple(grad.shape),
            grad_norm=None if grad is None else _norm(grad), is_root=False,
        )
        for i, src, out_nr, shape, dtype in inputs:
            if self.graph.has_edge(src, nid):
                self.graph.edges[src, nid]["input_nrs"] += (i,)
            else:
                self.graph.add_edge(src, nid, shape=tuple(shape), dtype=_dtype_name(dtype),
                                    output_nr=out_nr, input_nrs=(i,))


def to_networkx(root, backward: bool = False, params=None) -> nx.DiGraph:
    """The graph that produced `root` (a Tensor, or several) as a ``networkx.DiGraph``.

    One node per op and per leaf tensor; an edge ``u -> v`` means that v consumed
    an output of u (forward data flow).  Node attributes:

    - ``kind``: ``"op"``, ``"parameter"``, ``"input"`` or ``"constant"``
    - ``op``: the op's name (``"MatMul"``; None for leaves); ``label``: an op's
      settings worth drawing, from the node's ``label`` attribute if its forward
      set one (``"k 3, s 1, p 1"`` for a convolution), else None; ``name``: the leaf's
      name (``params`` mapping, else ``Tensor.name``; None if unnamed)
    - ``shape``, ``dtype`` (output; ``shapes`` lists every output of an op)
    - ``module``, ``module_type``: dotted path and class of the Module that ran
      the op (None outside modules); a parameter or constant gets the deepest
      module containing all its consumers, a model input stays outside (None)
    - ``requires_grad``; ``saved_bytes``: bytes the op keeps for backward
      (0 once a backward without ``retain_graph`` freed them)
    - ``in_shapes``; ``jacobians``: ``(output_nr, input_nr, out_shape, in_shape)``
      per input that receives a gradient: the Jacobian ∂out/∂in has shape
      ``out_shape + in_shape``
    - ``grad_shape``, ``grad_norm`` (‖g‖₂): after a backward, for leaves that
      require grad (from ``.grad``) and for ops when the backward ran inside
      ``graphgrad.autograd.record_grads()`` (from ``node.grad_outputs``); else None
    - ``is_root``: the node produced one of the roots

    Edge attributes: ``shape``, ``dtype``, ``output_nr`` and ``input_nrs`` (the
    argument positions at which the consumer used it).  ``G.graph["roots"]``
    lists the root node ids.

    ``backward=True`` returns the gradient flow instead: only nodes that receive a
    gradient, edges reversed (consumer -> producer), attribute ``op`` renamed to
    ``"<Op>Backward"`` (``"AccumulateGrad"`` for leaves); ids are the forward ids.

    ``params`` (``dict(model.named_parameters())`` or the model itself) gives
    the parameters their dotted names; with the model, ``G.graph["module_types"]``
    also maps every module path to its class (for modules that ran no op
    themselves, such as a Sequential).
    """
    graph = _GraphBuilder(as_roots(root), parameter_names(params)).build()
    graph.graph["module_types"] = declared_module_types(params)
    return backward_view(graph) if backward else graph


def backward_view(graph: nx.DiGraph) -> nx.DiGraph:
    """The gradient-flow graph of a forward graph from `to_networkx` (see there)."""
    keep = [n for n, d in graph.nodes(data=True) if d["requires_grad"]]
    kept = set(keep)
    view = nx.DiGraph()
    view.graph.update(graph.graph, direction="backward")
    view.graph["order"] = [n for n in graph.graph["order"] if n in kept]
    for n in keep:
        data = dict(graph.nodes[n])
        data["forward_op"] = data["op"]
        data["op"] = f"{data['op']}Backward" if data["kind"] == "op" else "AccumulateGrad"
        view.add_node(n, **data)
    for u, v, data in graph.edges(data=True):
        if u in view and v in view:
            view.add_edge(v, u, **data)
    return view
