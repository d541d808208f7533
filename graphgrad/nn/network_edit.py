"""Editing a built ``Network``: replace, insert_after, remove and rewire nodes.

Every edit changes the wiring of the named node only; every other layer (and
its trained weights) is the same object before and after.  An edit that would
leave the graph with a cycle or an unknown input is refused and nothing
changes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import networkx as nx

from graphgrad.nn.network_parts import check_layer, check_name, name_list


class NetworkEditing:
    """The editing methods of ``Network`` (a mixin: it uses the network's graph)."""

    def replace(self, name: str, layer):
        """Put `layer` in place of node `name`'s layer; returns the old layer.

        The node keeps its name, inputs and consumers, so parameter names stay
        ``<name>.<parameter>``; only this node's layer changes (a layer shared
        with other nodes stays there).
        """
        attrs = self._layer_attrs("replace", name)
        layer = check_layer(f"Network.replace({name!r})", layer)
        old, attrs["layer"] = attrs["layer"], layer
        self._plan = None
        self.bump_version(f"layer {name!r} replaced")
        return old

    def insert_after(self, name: str, new_name: str, layer):
        """Insert `layer` as node `new_name`, fed by node `name`; returns the network.

        Every consumer of `name` reads `new_name` instead (at the same input
        positions), and if `name` is an output, `new_name` becomes that output:
        ``insert_after("fc", "act", ReLU())`` turns fc → head into
        fc → act → head.
        """
        if self.graph.nodes.get(name, {}).get("kind") is None:
            raise KeyError(f"Network.insert_after: there is no node {name!r}; nodes: "
                           f"{self._known_nodes()}")
        check_name("layer", new_name)
        self._check_new_name("insert_after", new_name)
        layer = check_layer(f"Network.insert_after({name!r}, {new_name!r})", layer)
        consumers = list(self.graph.successors(name))
        with self._transaction():
            self.graph.add_node(new_name, kind="layer", layer=layer, order=self._counter)
            self._counter += 1
            self._set_inputs(new_name, [name])
            for consumer in consumers:
                self._redirect(consumer, name, new_name)
            self._rename_output(name, new_name)
        return self

    def remove(self, name: str, reconnect: str | None = None):
        """Remove node `name`; its consumers (and the output, if it is one) read `reconnect`.

        ``reconnect`` defaults to the node's input when it has exactly one
        (removing a layer from a chain reconnects the chain).  For a node with
        several inputs (a merge) that still feeds something, say which input
        replaces it with ``reconnect=``, or rewire its consumers first.
        Returns the removed layer.
        """
        attrs = self._layer_attrs("remove", name)
        sources = list(dict.fromkeys(attrs["inputs"]))
        consumers = list(self.graph.successors(name))
        is_output = name in self.outputs
        if reconnect is None and (consumers or is_output):
            if len(sources) != 1:
                users = ([f"consumers {consumers}"] if consumers else []) + (
                    ["the network output"] if is_output else [])
                raise ValueError(
                    f"Network.remove({name!r}): it merges {sources}, so which of them should "
                    f"feed {' and '.join(users)} is ambiguous; pass reconnect=<one of "
                    f"{sources}> or first rewire them with net.rewire(<consumer>, inputs=[...])")
            reconnect = sources[0]
        if reconnect is not None and (reconnect == name or self.graph.nodes.get(
                reconnect, {}).get("kind") is None):
            raise KeyError(f"Network.remove({name!r}): reconnect={reconnect!r} is not another "
                           f"node; nodes: {self._known_nodes()}")
        with self._transaction():
            for consumer in consumers:
                self._redirect(consumer, name, reconnect)
            self._rename_output(name, reconnect)
            self.graph.remove_node(name)
        if self._last_layer == name:
            layers = self.layer_names()
            self._last_layer = (reconnect if reconnect in layers
                                else (layers[-1] if layers else None))
        return attrs["layer"]

    def rewire(self, name: str, inputs: str | Sequence[str]):
        """Feed layer `name` from `inputs` (in that order) instead; returns the network.

        Every name must be an existing node and the result must stay acyclic.
        """
        self._layer_attrs("rewire", name)
        inputs = name_list(inputs, "input")
        unknown = [i for i in inputs if self.graph.nodes.get(i, {}).get("kind") is None]
        if unknown:
            raise KeyError(f"Network.rewire({name!r}): no node(s) {unknown}; nodes: "
                           f"{self._known_nodes()}")
        with self._transaction():
            self._set_inputs(name, inputs)
        return self

    def unreachable(self) -> list[str]:
        """The layers no output depends on (in the order they were added).

        They never run, so their parameters would be trained, saved and
        handed to the optimizer without ever getting a gradient.
        """
        graph = self.graph
        needed = set()
        for o in self.outputs:
            if o in graph:
                needed |= {o} | nx.ancestors(graph, o)
        return [n for n in self.layer_names() if n not in needed]

    def prune(self) -> dict:
        """Remove every layer no output depends on; returns ``{name: layer}`` removed.

        Call it after an edit warned about an orphaned node (or to drop a
        head you no longer want after setting ``net.outputs``); the optimizer
        must then be built again from ``net.parameters()``.
        """
        removed = {}
        for name in self.unreachable():
            removed[name] = self.graph.nodes[name]["layer"]
            self.graph.remove_node(name)
        if removed:
            self._plan = None
            if self._last_layer in removed:
                layers = self.layer_names()
                self._last_layer = layers[-1] if layers else None
        return removed

    # ---------------------------------------------------------------- helpers
    def _layer_attrs(self, method: str, name: str) -> dict:
        attrs = self.graph.nodes.get(name)
        if attrs is None or attrs.get("kind") != "layer":
            what = " (it is a network input)" if attrs and attrs.get("kind") == "input" else ""
            raise KeyError(f"Network.{method}: there is no layer {name!r}{what}; layers: "
                           f"{self.layer_names()}")
        return attrs

    def _known_nodes(self) -> list[str]:
        return [n for n, a in self.graph.nodes(data=True) if a.get("kind") is not None]

    def _redirect(self, consumer: str, old: str, new: str) -> None:
        """Feed `consumer` from `new` wherever it read `old`."""
        inputs = [new if i == old else i for i in self.graph.nodes[consumer]["inputs"]]
        self._set_inputs(consumer, inputs)

    def _rename_output(self, old: str, new: str) -> None:
        if self._outputs is not None:
            self._outputs = [new if o == old else o for o in self._outputs]
        elif self._last_layer == old:
            self._last_layer = new
        self._plan = None
        self.bump_version("outputs")

    def _transaction(self):
        return _Transaction(self)


class _Transaction:
    """Apply an edit; if it raises or leaves a cycle, restore the graph and outputs."""

    def __init__(self, net):
        self.net = net

    def __enter__(self):
        net = self.net
        self.orphans_before = set(net.unreachable())
        graph = net.graph.copy()
        for _, attrs in graph.nodes(data=True):  # copy() shares the attribute values
            if "inputs" in attrs:
                attrs["inputs"] = list(attrs["inputs"])
        for _, _, attrs in graph.edges(data=True):
            attrs["ports"] = list(attrs["ports"])
        self.saved = (graph, net._outputs, net._last_layer, net._counter)
        return self

    def __exit__(self, exc_type, exc, tb):
        net = self.net
        if exc_type is None:
            try:
                cycle = nx.find_cycle(net.graph)
            except nx.NetworkXNoCycle:
                self._warn_orphans()
                return False
            self._restore()
            path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
            raise ValueError(f"Network: this edit would make the cycle {path}; nothing was "
                             "changed (a network must be a DAG)")
        self._restore()
        return False

    def _warn_orphans(self):
        new = [n for n in self.net.unreachable() if n not in self.orphans_before]
        if new:
            n_params = sum(p.data.size for n in new
                           for p in self.net.graph.nodes[n]["layer"].parameters())
            warnings.warn(
                f"Network: after this edit no output depends on layer(s) {new} "
                f"({n_params} parameters): they never run, so their parameters would stay "
                "in parameters(), the state_dict and the optimizer without ever getting a "
                "gradient. Wire them to an output, or call net.prune() to remove them",
                UserWarning, stacklevel=4)

    def _restore(self):
        net = self.net
        net.graph, net._outputs, net._last_layer, net._counter = self.saved
        net._plan = None
        net.bump_version("edit undone")
