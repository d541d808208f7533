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
from graphgrad.autograd.tensor import Tensor, index_text


def as_roots(root) -> list[Tensor]:
    """`root` (a Tensor, or an iterable of Tensors, nested tuples flattened) as a non-empty
    list of Tensors."""
    roots = [root] if isinstance(root, Tensor) else list(root) if _iterable(root) else [root]
    while any(type(r) is tuple for r in roots):  # (output, (h_n, c_n)) of an LSTM
        roots = [t for r in roots for t in (r if type(r) is tuple else (r,))]
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
    return {path: type(m).__name__ + (f" {m.label}" if isinstance(getattr(m, "label", None), str)
                                      else "")  # a Lambda's name=
            for path, m in params.named_modules()}


def mode_dependent(module) -> bool:
    """A module whose forward depends on ``training``: a stochastic one (Dropout,
    ``stochastic = True``) or one with running statistics (BatchNorm)."""
    return bool(getattr(module, "stochastic", False)) or any(
        b.startswith(RUNNING) for b in vars(module).get("_buffer_names", ()))


def module_modes(params) -> dict[str, str]:
    """Module path -> ``"train"``/``"eval"`` for the mode-dependent modules of a Module."""
    if not hasattr(params, "named_modules"):
        return {}
    return {path: "train" if m.training else "eval" for path, m in params.named_modules()
            if mode_dependent(m)}


def shared_module_paths(params) -> dict[str, str]:
    """Path of each further use of a module held under several names -> its first path
    (a layer shared by several ``Network`` nodes); outermost uses only."""
    if not hasattr(params, "named_modules"):
        return {}
    first, aliases = {}, {}
    for path, m in params.named_modules(remove_duplicate=False):
        if id(m) not in first:
            first[id(m)] = path
        elif path != first[id(m)] and not any(path.startswith(a + ".") for a in aliases):
            aliases[path] = first[id(m)]
    return aliases


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


def _with_detached_branches(root_nodes) -> list:
    """`topological_order` of the roots and of every branch cut off by ``.detach()``
    on the way (the ops that made a detached input, and their inputs, and so on)."""
    roots, seen = list(root_nodes), set()
    while True:
        order = topological_order(roots)
        more = []
        for node in order:
            for info in node.inputs_info:
                if info is not None and info.origin is not None:
                    origin = info.origin[0]
                    if id(origin) not in seen:
                        seen.add(id(origin))
                        more.append(origin)
        if not more:
            return order
        roots += more


class _GraphBuilder:
    """One walk over the graph; see `to_networkx`."""

    def __init__(self, roots, names, stats=False):
        self.roots, self.names, self.stats = roots, names, stats
        self.calls: dict = {}  # id of a module-call entry -> (path, call index)
        self.graph = nx.DiGraph()
        self.ids = set()
        self.counters: dict = {}
        self.leaf_ids: dict = {}  # dedupe key -> node id
        self.node_ids: dict = {}  # id(Function) -> node id (only during the walk)
        self.consumers: dict = {}  # leaf node id -> module paths of its consumers
        self.cuts: list = []  # (origin node, output_nr, consumer id, input_nr) of detaches

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
        order = _with_detached_branches(root_nodes)
        # a backward frees each node it ran through (or marks it, with retain_graph);
        # without one, the leaves' .grad are stale: from some other graph
        self.backward_ran = any(n._saved is None or getattr(n, "_backward_seen", False)
                                for n in order)
        self.graph.graph["backward_ran"] = self.backward_ran
        for node in reversed(order):  # producers first
            self.add_op(node)
        for origin, out_nr, nid, i in self.cuts:
            src = self.node_ids[id(origin)]
            shape, dtype = origin.out_meta[out_nr]
            self.graph.add_edge(src, nid, shape=tuple(shape), dtype=_dtype_name(dtype),
                                output_nr=out_nr, input_nrs=(i,), detached=True)
        for t in self.roots:
            if t.grad_fn is None:
                nid = self.leaf_from_tensor(t)
            else:
                nid = self.node_ids[id(t.grad_fn)]
            self.graph.nodes[nid]["is_root"] = True
            roots = self.graph.graph.setdefault("roots", [])
            if nid not in roots:
                roots.append(nid)
        self.align_calls()
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
        self.graph.add_node(nid, **node_data(
            kind, name=name, shape=tuple(shape), shapes=(tuple(shape),), dtype=_dtype_name(dtype),
            requires_grad=requires_grad, grad_shape=None if grad is None else tuple(grad.shape),
            grad_norm=None if grad is None else _norm(grad)))
        return nid

    def leaf_from_tensor(self, t, info=None, path=None) -> str:
        kind = t.kind if info is None else info.kind
        key = ("tensor", id(t), t.shape, _dtype_name(t.dtype))
        name = self.leaf_name(t, info)
        if kind == "input" and name and name.startswith(RUNNING):
            kind = "constant"  # a module's running statistics: drawn in its box, not as data
        grad = t.grad if self.backward_ran else None  # else left over from another graph
        return self.add_leaf(key, kind, t.shape, t.dtype, name, t.requires_grad, grad, path)

    def leaf_from_info(self, info, path=None) -> str:
        key = None
        if info.tensor_id is not None and info.kind != "constant":
            key = ("tensor", info.tensor_id, tuple(info.shape), _dtype_name(info.dtype))
        name, kind = self.leaf_name(None, info), info.kind
        if kind == "input" and name and name.startswith(RUNNING):
            kind = "constant"  # a module's running statistics: drawn in its box, not as data
        return self.add_leaf(key, kind, info.shape, info.dtype, name, False, None, path)

    def align_calls(self) -> None:
        """Number a child module's calls after its parent's: the ops of ``cell.inp`` made
        during call 3 of ``cell`` get ``call=3`` too.

        Each call of a module is told apart by its scope entry, but counting the
        calls of ``cell.inp`` on their own would follow the graph's order, not
        the parent's; a child op takes the call of the first op it feeds that
        ran in the parent (or in a sibling already numbered).
        """
        nodes = self.graph.nodes
        with_ops = {d["module"] for _, d in self.graph.nodes(data=True)
                    if d["kind"] == "op" and d["module"] is not None}
        for n in reversed(list(self.graph.nodes)):  # consumers first
            d = nodes[n]
            path = d["module"]
            if d["kind"] != "op" or not path or "." not in path or d["time_step"]:
                continue  # (a time step's call is its step: Module.time_step)
            parent = path.rpartition(".")[0]
            if parent not in with_ops:
                continue
            for v in self.graph.successors(n):
                vp = nodes[v]["module"]
                if vp is not None and (vp == parent or vp.startswith(parent + ".")):
                    d["call"] = nodes[v]["call"]
                    break

    def forward_stats(self, node) -> dict:
        """Recorded statistics (``gg.record_stats``), else with ``stats=True`` those of an
        output the op saved for backward (a ReLU keeps its output), else none."""
        recorded = getattr(node, "stats", None)
        if recorded is not None:
            return recorded
        if self.stats:
            for tensor, array, output_nr, _, _ in node._saved or ():
                if tensor is None and output_nr == 0:
                    return array_stats(array)
        return {}

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
            elif info is not None and info.origin is not None:
                self.cuts.append((*info.origin, nid, i))  # drawn once every op is a node
                continue
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
        extra = {"anomaly": getattr(node, "anomaly", None), **self.forward_stats(node)}
        trace = getattr(node, "trace", None)  # (module, user line): detect_anomaly, record_source
        if trace is not None and trace[1]:
            extra["source"] = trace[1]
        if node.module is not None:
            # Module.__call__ makes a new (path, type) entry per call, shared by the
            # ops of that call: its identity tells the calls of a module apart.
            key = id(node.module)
            if key not in self.calls:
                self.calls[key] = self.counted(("call", path))
            extra["call"] = self.calls[key]
            if getattr(node.module, "time_step", False):  # Module.time_step: one step of T
                extra["time_step"] = True
        if node.name == "GetItem" and inputs and hasattr(node, "index"):
            source = self.graph.nodes[inputs[0][1]]
            extra["detail"] = f"{source['name'] or ''}[{index_text(node.index)}]"
        out_shapes = tuple(tuple(s) for s, _ in node.out_meta)
        jacobians = tuple(
            (o, i, out_shapes[o], tuple(node.in_shapes[i]))
            for o in range(node.n_outputs)
            for i, edge in enumerate(node.next_edges) if edge is not None
        )
        self.graph.add_node(nid, **node_data(
            "op", op=node.name, label=getattr(node, "label", None), shape=out_shapes[0],
            shapes=out_shapes,
            dtype=_dtype_name(node.out_meta[0][1]), module=path, module_type=mtype,
            requires_grad=True, saved_bytes=int(node.saved_nbytes),
            in_shapes=tuple(tuple(s) for s in node.in_shapes), jacobians=jacobians,
            grad_shape=None if grad is None else tuple(grad.shape),
            grad_norm=None if grad is None else _norm(grad), **extra))
        for i, src, out_nr, shape, dtype in inputs:
            if self.graph.has_edge(src, nid):
                self.graph.edges[src, nid]["input_nrs"] += (i,)
            else:
                self.graph.add_edge(src, nid, shape=tuple(shape), dtype=_dtype_name(dtype),
                                    output_nr=out_nr, input_nrs=(i,))


NODE_DEFAULTS = {
    "op": None, "label": None, "name": None, "shape": None, "shapes": (), "dtype": None,
    "module": None, "module_type": None, "requires_grad": False, "saved_bytes": 0, "in_shapes": (),
    "jacobians": (), "grad_shape": None, "grad_norm": None, "is_root": False,
    "detail": None, "call": None, "time_step": False, "missing_grad": False, "anomaly": None,
    "failed": None,
    "zero_frac": None, "nonfinite_frac": None, "mean": None, "std": None, "dead_frac": None,
    "findings": (),
    "source": None,
}
RUNNING = "running_"  # a leaf Tensor named running_* holds a module's running statistics
STATS = ("zero_frac", "nonfinite_frac", "mean", "std", "dead_frac")


def array_stats(a) -> dict:
    """Forward statistics of an output array: fraction of exact zeros, fraction of
    NaN/±inf, mean and standard deviation of the finite values, and ``dead_frac``: the
    fraction of units/channels (axis 1) that are 0 for every sample (and position), as
    ``gg.check.babysit`` counts dead ReLUs."""
    a = np.asarray(a)
    if a.size == 0 or a.dtype.kind not in "fc":
        return {}
    finite = np.isfinite(a)
    n_finite = int(np.count_nonzero(finite))
    values = a[finite] if n_finite < a.size else a
    with np.errstate(all="ignore"):
        mean = float(np.mean(values, dtype=np.float64)) if n_finite else float("nan")
        std = float(np.std(values, dtype=np.float64)) if n_finite else float("nan")
    out = {"zero_frac": float(np.count_nonzero(a == 0)) / a.size,
           "nonfinite_frac": 1.0 - n_finite / a.size, "mean": mean, "std": std}
    if a.ndim >= 2 and a.shape[0] > 1:  # axis 1: the units (N, D) or channels (N, C, ...)
        zero = np.moveaxis(a == 0, 1, 0).reshape(a.shape[1], -1)
        out["dead_frac"] = float(np.mean(np.all(zero, axis=1)))
    return out


def node_data(kind: str, **overrides) -> dict:
    """The attributes of one graph node of `kind`: `NODE_DEFAULTS` with `overrides`.

    Every node of every view (`to_networkx`, and the module and placeholder nodes
    of ``viz.collapse``) is built here, so all of them carry the whole schema
    documented in `to_networkx`.
    """
    unknown = overrides.keys() - NODE_DEFAULTS.keys()
    if unknown:  # a typo would silently add an attribute no view reads
        raise TypeError(f"node_data: unknown node attribute(s) {sorted(unknown)}")
    return {"kind": kind, **NODE_DEFAULTS, **overrides}


def to_networkx(root, backward: bool = False, params=None, stats: bool = False,
                optimizer=None) -> nx.DiGraph:
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

    Debugging attributes (see docs/visualization.md, "Debugging with pictures"):

    - ``zero_frac``, ``nonfinite_frac``, ``mean``, ``std``: forward statistics of
      an op's output, recorded inside ``gg.record_stats()``; with ``stats=True``
      also taken from outputs the op saved for backward; else None
    - ``anomaly``: the message of ``gg.detect_anomaly()`` at the op it stopped at
    - ``missing_grad``: a parameter of `params` that received no gradient in a
      backward that reached others; one outside the graph is added as a node
      of its own (a "ghost", no edges); ``G.graph["missing_grads"]`` lists them
    - ``call``: which call of its module made the op (0, 1...: a module applied
      in a loop); ``time_step``: the op ran in one step of a layer's own loop
      over time (``Module.time_step``); ``detail``: ``"xs[3]"`` for an indexing op
    - ``failed``: the error of the module a forward failed in (see `failure_graph`)
    - ``findings``: ``{"rule", "severity", "title"}`` of each finding naming the
      node (title ``"NOT IN OPTIMIZER"``),
      ``G.graph["findings"]`` their ``Finding.to_dict()`` (see ``viz.finding``);
      ``optimizer`` lets the rules find parameters it does not update
    - ``source``: ``"model.py:23: y = x.log()"``, the user's line that ran the op, when
      the forward ran inside ``gg.viz.html.record_source()`` or ``gg.detect_anomaly()``
    """
    graph = unmarked_graph(root, params, stats)
    from graphgrad.viz.finding import attach, run_rules

    attach(graph, run_rules(graph, params if hasattr(params, "named_parameters") else None,
                            optimizer))
    return backward_view(graph) if backward else graph


def unmarked_graph(root, params=None, stats: bool = False) -> nx.DiGraph:
    """The forward graph of `to_networkx` before the findings rules ran (what they read)."""
    graph = _GraphBuilder(as_roots(root), parameter_names(params), stats).build()
    graph.graph["module_types"] = declared_module_types(params)
    graph.graph["module_aliases"] = shared_module_paths(params)
    graph.graph["module_modes"] = module_modes(params)
    _mark_missing_grads(graph, params)
    return graph


def _named_parameters(params) -> list:
    if params is None:
        return []
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    return [(str(n), t) for n, t in items if isinstance(t, Tensor)]


def _mark_missing_grads(graph: nx.DiGraph, params) -> None:
    """Flag the parameters that got no gradient once a backward reached any of them."""
    named = [(n, t) for n, t in _named_parameters(params) if t.requires_grad]
    missing = []
    if named and graph.graph["backward_ran"] and any(t.grad is not None for _, t in named):
        for name, t in named:
            if t.grad is not None:
                continue
            missing.append(name)
            if name in graph:
                graph.nodes[name]["missing_grad"] = True
            else:  # never used on the way to the root: a ghost in its module's cluster
                graph.add_node(name, **node_data(
                    "parameter", name=name, shape=tuple(t.shape), shapes=(tuple(t.shape),),
                    dtype=_dtype_name(t.dtype), module=name.rpartition(".")[0] or None,
                    requires_grad=True, missing_grad=True))
                graph.graph["order"].append(name)
    graph.graph["missing_grads"] = missing


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
        if u in view and v in view and not data.get("detached"):  # no gradient crosses a cut
            view.add_edge(v, u, **data)
    return view
