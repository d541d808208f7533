"""Network: a model written as a directed acyclic graph of named layers.

The layers live in a ``networkx.DiGraph``: one node per named input and per
layer, an edge from every producer to each layer that consumes it.  Forward
runs the layers in topological order (ties broken by the order they were
added), feeding each the outputs of its ``inputs`` in the listed order, so
merge layers (``add``, ``concat``) take several inputs.  Diamonds and skip
connections are just nodes with more than one consumer or producer.

    net = gg.Network(inputs=["x"])
    net.add("fc1", gg.layers.Linear(4, 8), inputs=["x"])
    net.add("act", gg.layers.ReLU())                      # input: the previous layer
    net.add("fc2", gg.layers.Linear(8, 4))
    net.add("skip", gg.layers.Add(), inputs=["fc2", "x"])
    y = net(x)            # or net({"x": x}) or net(x=x)

A Network is a Module: its parameters are named ``<node>.<parameter>``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import networkx as nx

from graphgrad.autograd.grad_mode import running_child, running_child_name
from graphgrad.nn.module import Module
from graphgrad.nn.network_edit import NetworkEditing
from graphgrad.nn.network_parts import (
    LossNode,
    check_layer,
    check_name,
    example_args,
    name_list,
    node_note,
    shape_of,
)
from graphgrad.nn.parameter import Parameter

__all__ = ["Network", "LossNode"]


class Network(NetworkEditing, Module):
    """A DAG of named layers in a ``networkx.DiGraph`` (``net.graph``).

    ``inputs`` names the network's inputs (default one input ``"x"``);
    ``outputs`` names the node(s) whose values ``forward`` returns (default:
    the last layer added).  With one output ``net(...)`` returns a Tensor, with
    several a tuple in the order of ``outputs``.  Call it with positional
    tensors in the order of ``inputs``, one dict ``{name: tensor}``, or
    keywords; only the inputs the outputs depend on must be given (a model
    holding its losses predicts without targets once ``outputs`` names the
    heads).  A missing input or a cycle is reported, naming the nodes, when
    the network is first run (or by ``check()``), so layers may be added in any
    order.
    """

    def __init__(self, inputs: str | Sequence[str] = ("x",),
                 outputs: str | Sequence[str] | None = None):
        super().__init__()
        self.graph = nx.DiGraph()
        self.input_names = name_list(inputs, "input")
        if len(set(self.input_names)) != len(self.input_names):
            raise ValueError(f"Network: input names repeat: {self.input_names}")
        for i, name in enumerate(self.input_names):
            self.graph.add_node(name, kind="input", order=i)
        self._outputs = None if outputs is None else name_list(outputs, "output")
        self._last_layer = None
        self._counter = len(self.input_names)  # insertion order, the topological tie-break
        self._has_run = False
        self._plan = None  # cached (needed layers in topological order, outputs, needed inputs)

    # ---------------------------------------------------------------- building
    def add(self, name: str, layer: Module, inputs: str | Sequence[str] | None = None) -> Network:
        """Add `layer` as node `name`, fed by the nodes named in `inputs` (in that order).

        ``inputs=None`` feeds it the previously added layer (the network input
        for the first layer of a one-input network).  Returns the network, so
        calls chain.  Until the network first runs, the default output follows
        the last layer added; once it has run, ``add`` leaves the outputs alone
        (with a warning when they were implicit): set ``net.outputs`` to change
        them, or use ``insert_after`` to put a layer after an output.
        """
        check_name("layer", name)
        self._check_new_name("add", name)
        layer = check_layer(f"Network.add({name!r})", layer)
        if inputs is None:
            if self._last_layer is not None:
                inputs = [self._last_layer]
            elif len(self.input_names) == 1:
                inputs = list(self.input_names)
            else:
                raise ValueError(f"Network.add({name!r}): the network has several inputs "
                                 f"{self.input_names}; say which feed this layer with inputs=[...]")
        inputs = name_list(inputs, "input")
        if self._has_run and self._outputs is None:
            warnings.warn(
                f"Network.add({name!r}): the network has already run with output "
                f"{self.outputs}; it stays the output and {name!r} is not one (the default "
                "output follows the last layer added only while building). Set net.outputs = "
                f"[...] to choose, or use insert_after to add a layer after an output",
                UserWarning, stacklevel=2)
            self._outputs = self.outputs
        self.graph.add_node(name, kind="layer", layer=layer, order=self._counter)
        self._counter += 1
        self._set_inputs(name, inputs)
        self._last_layer = name
        return self

    def _check_new_name(self, method: str, name: str) -> None:
        kind = self.graph.nodes.get(name, {}).get("kind")
        if kind is not None:
            article = "an" if kind == "input" else "a"
            raise ValueError(f"Network.{method}: there is already {article} {kind} named "
                             f"{name!r}; choose another name")

    def _set_inputs(self, name: str, inputs: list[str]) -> None:
        """Make `inputs` (in order) the only producers feeding node `name`."""
        graph = self.graph
        graph.remove_edges_from(list(graph.in_edges(name)))
        graph.nodes[name]["inputs"] = list(inputs)
        for port, source in enumerate(inputs):
            if graph.has_edge(source, name):
                graph.edges[source, name]["ports"].append(port)
            else:
                graph.add_edge(source, name, ports=[port])
        self._plan = None
        self.bump_version(f"inputs of {name!r}")

    @property
    def outputs(self) -> list[str]:
        """The node names whose values forward returns (default: the last layer added)."""
        if self._outputs is not None:
            return list(self._outputs)
        return [self._last_layer] if self._last_layer is not None else []

    @outputs.setter
    def outputs(self, names) -> None:
        self._outputs = name_list(names, "output")
        self._plan = None
        self.bump_version("outputs")

    def __getitem__(self, name: str) -> Module:
        attrs = self.graph.nodes.get(name)
        if attrs is None or attrs.get("kind") != "layer":
            raise KeyError(f"Network has no layer named {name!r}; layers: {self.layer_names()}")
        return attrs["layer"]

    def layer_names(self) -> list[str]:
        """The layer nodes, in the order they were added."""
        return [n for n, a in self.graph.nodes(data=True) if a.get("kind") == "layer"]

    # -------------------------------------------------------------- checking
    def check(self, example_inputs=None):
        """Validate the graph; with `example_inputs`, also run shapes through it.

        Without inputs: returns the order forward runs the layers in, and
        raises ValueError naming the nodes if a layer's input does not exist,
        an output does not exist, or the layers form a cycle.

        With `example_inputs` (what you would call the network with: a Tensor
        or array, a tuple of them in the order of ``inputs``, or a dict
        ``{input name: tensor}``; one batch is enough): runs every needed
        layer once, without recording a graph and in evaluation mode (no
        dropout draw, no batch-norm statistics update; modes are restored), and
        returns ``{node: output shape}`` for the inputs and layers in execution
        order (a tuple of shapes for a layer with several outputs).  A layer
        that fails raises its own error with a note naming the node, its layer
        and the shapes fed to it.  Layers with lazy sizes are built by it.
        """
        if self._plan is None:
            self._plan = self._make_plan()
        if example_inputs is None:
            return list(self._plan[0])
        from graphgrad.autograd.grad_mode import no_grad

        feeds = self._feeds(*example_args(example_inputs))
        modes = [(m, m.training) for m in self.modules()]
        self.eval()
        try:
            with no_grad():
                values = self._run(feeds)
        finally:
            for module, mode in modes:
                module.training = mode
        return {n: shape_of(values[n]) for n in self._plan[2] + self._plan[0]}

    def _make_plan(self):
        graph = self.graph
        missing = {n: sorted(c for c in graph.successors(n))
                   for n, a in graph.nodes(data=True) if a.get("kind") is None}
        if missing:
            detail = "; ".join(f"{n!r} (wanted by {', '.join(map(repr, users))})"
                               for n, users in missing.items())
            raise ValueError(
                f"Network: missing input node(s): {detail}. Each must be a network input "
                f"({self.input_names}) or an added layer; add it or fix the name"
            )
        outputs = self.outputs
        if not outputs:
            raise ValueError("Network: it has no layers; add some with net.add(name, layer)")
        unknown = [o for o in outputs if o not in graph]
        if unknown:
            raise ValueError(f"Network: output(s) {unknown} are not nodes; nodes: "
                             f"{list(graph.nodes)}")
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
            raise ValueError(f"Network: the layers form a cycle {path}; a network must be a "
                             "DAG, so feed one of them from another node")
        needed = set(outputs)
        for o in outputs:
            needed |= nx.ancestors(graph, o)
        order = [n for n in nx.lexicographical_topological_sort(
                     graph, key=lambda n: graph.nodes[n]["order"])
                 if n in needed and graph.nodes[n]["kind"] == "layer"]
        return order, outputs, [n for n in self.input_names if n in needed]

    # --------------------------------------------------------------- running
    def _feeds(self, args, kwargs) -> dict:
        if len(args) == 1 and isinstance(args[0], dict):
            feeds = dict(args[0])
        else:
            if len(args) > len(self.input_names):
                raise TypeError(f"Network: got {len(args)} positional inputs for the "
                                f"{len(self.input_names)} inputs {self.input_names}")
            feeds = dict(zip(self.input_names, args, strict=False))
        for key, value in kwargs.items():
            if key in feeds:
                raise TypeError(f"Network: input {key!r} given twice")
            feeds[key] = value
        unknown = [k for k in feeds if k not in self.input_names]
        if self._plan is None:
            self._plan = self._make_plan()
        missing = [k for k in self._plan[2] if k not in feeds]  # only what the outputs need
        if unknown or missing:
            raise TypeError(f"Network: inputs are {self.input_names}; "
                            + (f"missing {missing}" if missing else "")
                            + ("; " if missing and unknown else "")
                            + (f"unknown {unknown}" if unknown else ""))
        return feeds

    def forward(self, *args, **kwargs):
        """Run the layers in topological order; return the output node value(s).

        An exception raised inside a layer gets a note naming the node, its
        layer and the shapes of the values fed to it (``err.__notes__``).
        """
        values = self._run(self._feeds(args, kwargs))
        outs = [values[o] for o in self._plan[1]]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run(self, values: dict) -> dict:
        """Every needed node's value, given the inputs' values (`values` is filled in)."""
        order = self.check()
        self._has_run = True
        nodes = self.graph.nodes
        for name in order:
            attrs = nodes[name]
            layer = attrs["layer"]
            fed = [values[i] for i in attrs["inputs"]]
            try:
                with running_child(self, layer, name):
                    values[name] = layer(*fed)
            except Exception as err:
                err.add_note(node_note(name, layer, attrs["inputs"], fed))
                raise
        return values

    # ------------------------------------------------------------- as Module
    def __setattr__(self, name: str, value) -> None:
        # A Network's layers live in its graph: a Module or Parameter held in an
        # attribute would be trained and saved but never run, so refuse it.
        if isinstance(value, (Module, Parameter)):
            kind = type(value).__name__
            if "graph" in vars(self) and self.graph.nodes.get(name, {}).get("kind") == "layer":
                hint = (f"to swap the layer of node {name!r} use net.replace({name!r}, layer) "
                        "(the node keeps its inputs and consumers)")
            else:
                hint = (f"add it to the graph with net.add({name!r}, layer, inputs=[...]); a "
                        "layer in an attribute would be trained and saved but never run")
            raise AttributeError(f"Network: cannot assign a {kind} to attribute {name!r}: {hint}")
        super().__setattr__(name, value)

    def __getattr__(self, name: str):
        # only reached when normal lookup fails: net.fc is the layer of node "fc"
        graph = vars(self).get("graph")
        if graph is not None and graph.nodes.get(name, {}).get("kind") == "layer":
            return graph.nodes[name]["layer"]
        raise AttributeError(f"{type(self).__name__} has no attribute or layer {name!r}")

    def _direct_children(self) -> Iterator[tuple[str, Module]]:
        for name, attrs in self.graph.nodes(data=True):
            if attrs.get("kind") == "layer":
                yield name, attrs["layer"]

    def _child_name(self, child: Module) -> str:
        running = running_child_name(self, child)  # this thread's node (a layer may be shared)
        return running if running is not None else super()._child_name(child)

    # ------------------------------------------------------------ inspection
    def to_networkx(self, example_inputs=None) -> nx.DiGraph:
        """A copy of the layer graph with plain attributes (no layer objects).

        Nodes: ``kind`` ("input" | "layer"), ``type`` (class name, "Input" for
        inputs, the loss's class for a loss node), ``num_parameters``,
        ``params`` (name → shape), ``inputs`` (ordered), ``is_output``,
        ``label``, ``is_loss`` (a Loss added as a node), ``is_target`` (an
        input read only as a loss's target), ``shared_with`` (every node
        using the same layer object, in order, when there are several; the
        parameters are the same, count them once).  Edges: ``ports``
        (positions of the producer among the consumer's inputs).

        With `example_inputs` (as for ``check``), nodes also get ``shape``
        and edges the ``shape`` of the value they carry (from
        ``check(example_inputs)``).
        """
        shapes = self.check(example_inputs) if example_inputs is not None else {}
        out = nx.DiGraph(name=type(self).__name__, inputs=list(self.input_names),
                         outputs=self.outputs)
        outputs = set(self.outputs)
        uses: dict[int, list[str]] = {}
        for name, attrs in self.graph.nodes(data=True):
            if attrs.get("layer") is not None:
                uses.setdefault(id(attrs["layer"]), []).append(name)
        for name, attrs in self.graph.nodes(data=True):
            layer = attrs.get("layer")
            kind = attrs.get("kind") or "missing"
            is_loss = isinstance(layer, LossNode)
            type_name = (type(layer.loss).__name__ if is_loss else type(layer).__name__
                         if layer is not None else kind.capitalize())
            params = ({n: tuple(p.shape) for n, p in layer.named_parameters()}
                      if layer is not None else {})
            shared = uses.get(id(layer), []) if layer is not None else []
            out.add_node(name, kind=kind, type=type_name,
                         num_parameters=layer.num_parameters() if layer is not None else 0,
                         params=params, inputs=list(attrs.get("inputs", [])),
                         is_output=name in outputs, label=f"{name}\n{type_name}",
                         is_loss=is_loss, is_target=kind == "input" and self._is_target(name),
                         shared_with=list(shared) if len(shared) > 1 else [])
            if name in shapes:
                out.nodes[name]["shape"] = shapes[name]
        for u, v, attrs in self.graph.edges(data=True):
            out.add_edge(u, v, ports=list(attrs["ports"]))
            if u in shapes:
                out.edges[u, v]["shape"] = shapes[u]
        return out

    def to_dot(self, example_input=None, **opts):
        """A picture of the network; with ``depth=0`` (or no input) the layer graph.

        ``net.to_dot()`` / ``net.to_dot(x, depth=0)``: one node per layer, with
        port labels, named inputs and (given `x`) shapes; see
        ``graphgrad.viz.network``.  Any other ``depth``: the op-level graph of
        one forward pass (``Module.to_dot``), grouped by node, with the input
        leaves named after the network's inputs.
        """
        if example_input is None or opts.get("depth") == 0:
            from graphgrad.viz.network import network_to_dot

            return network_to_dot(self, example_input)
        args, _ = example_args(example_input)
        feeds = self._feeds(args, {})
        named = tuple(x if x.name or x.dtype.kind != "f" else
                      type(x)(x.data, requires_grad=True, name=name)
                      for name, x in feeds.items())
        return super().to_dot(named, **opts)

    def _is_target(self, name: str) -> bool:
        """Whether input `name` feeds only loss nodes, and only as their target (port ≥ 1)."""
        edges = list(self.graph.out_edges(name, data=True))
        return bool(edges) and all(
            isinstance(self.graph.nodes[v].get("layer"), LossNode) and min(d["ports"]) >= 1
            for _, v, d in edges)

    def __repr__(self) -> str:
        lines = []
        for name, attrs in self.graph.nodes(data=True):
            if attrs.get("kind") != "layer":
                continue
            layer_repr = repr(attrs["layer"]).splitlines()
            lines.append(f"({name} <- {', '.join(attrs['inputs'])}): {layer_repr[0]}")
            lines.extend(layer_repr[1:])
        n = self.num_parameters()
        count = f"  # {n:,} parameters" if n else ""
        head = f"Network(inputs={self.input_names}, outputs={self.outputs}"
        if not lines:
            return head + ")" + count
        inner = "\n".join("  " + line for line in lines)
        return f"{head})(\n{inner}\n){count}"

