"""The backward engine: iterative toposort, gradient accumulation, grad modes.

The graph is made of `Function` nodes (see function.py).  A non-leaf Tensor
points at the node that produced it (``grad_fn``) and which of its outputs it
is (``_output_nr``); a node points at its inputs through ``next_edges``:
``(node, output_nr)`` for an input produced by another op, ``(tensor, None)``
for a leaf that requires grad, ``None`` for an input that needs no gradient.
"""

from __future__ import annotations

import weakref

import numpy as np

from graphgrad.autograd.grad_mode import STATE
from graphgrad.autograd.tensor import Tensor


# ----------------------------------------------------------------- traversal
def topological_order(roots):
    """Nodes reachable from `roots`, every consumer before the nodes it consumes.

    Iterative DFS (no recursion, so 10^5-deep chains are fine); the order is
    deterministic: it depends only on the graph, never on ids or hashing.
    """
    order, visited = [], set()
    for root in roots:
        if root is None or id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root.next_edges))]
        while stack:
            node, edges = stack[-1]
            for edge in edges:
                if edge is not None and edge[1] is not None and id(edge[0]) not in visited:
                    visited.add(id(edge[0]))
                    stack.append((edge[0], iter(edge[0].next_edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def _accumulate(a, b, create_graph):
    if a is None:
        return b
    if b is None:
        return a
    if create_graph:
        return a + b
    return Tensor._wrap(a.data + b.data)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None):
    """Propagate `root_grads` from `roots` to the leaves.

    With ``inputs=None`` leaf gradients accumulate into ``leaf.grad``; otherwise
    the gradients of exactly `inputs` are returned (``None`` where unreached) and
    no ``.grad`` is touched.

    The algorithm: seed each root's output-gradient buffer; visit the nodes in
    topological order (consumers first), run each node's backward on its summed
    output gradients, and route each input gradient to the producer's buffer or
    to the leaf; finally hand the gradients out.
    """
    buffers, leaf_grads, root_nodes = _seed_buffers(roots, root_grads, create_graph)
    order = topological_order(root_nodes)
    wanted = run = None
    if inputs is not None:
        wanted = {id(t.grad_fn) for t in inputs if t.grad_fn is not None}
        order, run = _prune_to_inputs(order, inputs, wanted)
    captured = {}
    record = STATE.record_grads
    observers = STATE.observers

    prev_enabled = STATE.enabled
    STATE.enabled = create_graph
    try:
        for node in order:
            grads = buffers.pop(id(node), None)
            if grads is None:
                continue
            if wanted is not None:
                if id(node) in wanted:
                    captured[id(node)] = list(grads)
                if id(node) not in run:  # an input's creator: its gradient is all we need
                    continue
            if record:
                node.grad_outputs = [None if g is None else g.detach() for g in grads]
            in_grads = _node_backward(node, grads)
            if in_grads is None:
                continue
            if observers:
                for observer in observers:
                    observer.backward(node, grads, in_grads)
            if not retain_graph:
                node._free()
            else:  # graph inspection tells a graph a backward ran through (viz.graph)
                node._backward_seen = True
            # The per-edge loop is the engine's hot path: checks and accumulation inline.
            edges = node.next_edges
            if len(in_grads) != len(edges):
                _wrong_count(node, in_grads)
            for i, edge in enumerate(edges):
                g = in_grads[i]
                if edge is None or g is None:
                    continue
                if not isinstance(g, Tensor):
                    g = Tensor._wrap(np.asarray(g))
                if g.data.shape != node.in_shapes[i]:
                    _wrong_shape(node, i, g)
                target, nr = edge
                if nr is None:  # a leaf
                    old = leaf_grads.get(id(target))
                    leaf_grads[id(target)] = (
                        target, g if old is None else _accumulate(old[1], g, create_graph))
                else:
                    buf = buffers.get(id(target))
                    if buf is None:
                        buf = buffers[id(target)] = [None] * target.n_outputs
                    old = buf[nr]
                    buf[nr] = g if old is None else _accumulate(old, g, create_graph)
    finally:
        STATE.enabled = prev_enabled

    if inputs is not None:
        return _input_grads(inputs, leaf_grads, captured)
    handed_out = set()
    for leaf, g in leaf_grads.values():
        _store_leaf_grad(leaf, g, create_graph, handed_out)
    return None


def _seed_buffers(roots, root_grads, create_graph):
    """Output-gradient buffers of the roots' nodes (id(node) -> one slot per
    output), gradients of roots that are leaves, and the root nodes."""
    buffers, leaf_grads, root_nodes = {}, {}, []
    for t, g in zip(roots, root_grads):
        if t.grad_fn is None:
            if t.requires_grad:
                _, old = leaf_grads.get(id(t), (t, None))
                leaf_grads[id(t)] = (t, _accumulate(old, g, create_graph))
            continue
        buf = buffers.setdefault(id(t.grad_fn), [None] * t.grad_fn.n_outputs)
        buf[t._output_nr] = _accumulate(buf[t._output_nr], g, create_graph)
        root_nodes.append(t.grad_fn)
    return buffers, leaf_grads, root_nodes


def _node_backward(node, grads):
    """The node's input gradients as a tuple, or None when no output got a gradient.

    A multi-output node whose other outputs got no gradient sees zeros for them.
    """
    if node.n_outputs == 1:
        if grads[0] is None:
            return None
        in_grads = node.backward(node, grads[0])
    else:
        if all(g is None for g in grads):
            return None
        grads = [
            Tensor._wrap(np.zeros(s, d)) if g is None else g
            for g, (s, d) in zip(grads, node.out_meta)
        ]
        in_grads = node.backward(node, *grads)
    return in_grads if type(in_grads) is tuple else (in_grads,)


def _input_grads(inputs, leaf_grads, captured):
    """``gg.grad``'s answer: the gradient of each of `inputs`, None where unreached."""
    out = []
    for t in inputs:
        if t.grad_fn is None:
            out.append(leaf_grads.get(id(t), (t, None))[1])
        else:
            grads = captured.get(id(t.grad_fn))
            out.append(None if grads is None else grads[t._output_nr])
    return out


def _prune_to_inputs(order, inputs, targets):
    """The nodes to visit for gradients of `inputs` and, of those, the ones to run.

    A node runs only if some input is reachable through its edges; the creator
    of a non-leaf input (in `targets`) is visited to read its gradient, but is
    not run (nor freed) unless another input lies behind it.
    """
    reach = set(targets) | {id(t) for t in inputs if t.grad_fn is None}
    run = set()
    for node in reversed(order):  # producers first
        if any(e is not None and id(e[0]) in reach for e in node.next_edges):
            run.add(id(node))
            reach.add(id(node))
    return [n for n in order if id(n) in run or id(n) in targets], run


def _wrong_count(node, in_grads):
    raise RuntimeError(
        f"{type(node).__name__}.backward returned {len(in_grads)} gradients but its "
        f"forward took {len(node.next_edges)} inputs; return one per input (None "
        "where there is none)"
    )


def _wrong_shape(node, i, g):
    raise RuntimeError(
        f"{type(node).__name__}.backward returned a gradient of shape "
        f"{g.shape} for input {i} of shape {node.in_shapes[i]}"
    )


def _store_leaf_grad(leaf, g, create_graph, handed_out):
    if not create_graph:
        g = g.detach()
        # Never let two leaves (or a leaf and the caller) share one gradient array:
        # an in-place change to one .grad would silently change the other.
        if g.data.base is not None or id(g.data) in handed_out:
            g = type(g)._wrap(g.data.copy())
        handed_out.add(id(g.data))
    if g.dtype != leaf.dtype:
        g = g.astype(leaf.dtype)
    old = leaf.grad
    if old is None:
        leaf.grad = g
    elif create_graph:
        leaf.grad = old + g
    else:
        leaf.grad = type(g)._wrap(old.data + g.data)
    if leaf.is_parameter:  # how many backward calls summed into this .grad (findings)
        seen = leaf.__dict__.get("_gg_backwards")
        count = seen[1] + 1 if seen is not None and old is not None and seen[0]() is old else 1
        leaf.__dict__["_gg_backwards"] = (weakref.ref(leaf.grad), count)  # no grad kept alive


def backward_count(param) -> int:
    """How many backward calls summed into ``param.grad`` since it was last set to None
    (or assigned); 0 without a gradient.  More than 1 without meaning to: a missing
    ``zero_grad``."""
    seen = getattr(param, "__dict__", {}).get("_gg_backwards")
    if param.grad is None or seen is None or seen[0]() is not param.grad:
        return 0 if param.grad is None else 1
    return seen[1]


# ------------------------------------------------------------------ user API
def _seed(t, g):
    if g is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for a scalar output, but "
                f"the output has shape {t.shape}; pass grad= (a tensor of that shape), or "
                "reduce it first, e.g. y.sum().backward()"
            )
        return Tensor._wrap(np.ones(t.shape, dtype=t.dtype))
    if not isinstance(g, Tensor):
        g = Tensor._wrap(np.asarray(g, dtype=t.dtype))
    if g.shape != t.shape:
        raise ValueError(
            f"backward: grad has shape {g.shape} but the output has shape {t.shape}"
        )
    return g


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, (list, tuple)) else [x]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulate d(tensors)/d(leaf) · grad_tensors into every leaf's ``.grad``."""
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) or [None] * len(tensors)
    for t in tensors:
        if not t.requires_grad:
            raise RuntimeError(
                "backward: the tensor does not require grad and has no grad_fn; make "
                "sure some input has requires_grad=True and no_grad() is not active"
            )
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(t, g) for t, g in zip(tensors, grads)]
    run_backward(tensors, seeds, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Return d(outputs)/d(inputs) · grad_outputs as a tuple, without touching ``.grad``.

    With ``create_graph=True`` the returned gradients have graphs of their own,
    so calling ``grad`` on them gives second derivatives (Hessian-vector products).
    """
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs) or [None] * len(outputs)
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {t.shape}) does not require grad")
    for t in outputs:
        if not t.requires_grad:
            raise RuntimeError(
                "grad: an output does not require grad; it does not depend on any input "
                "with requires_grad=True"
            )
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(t, g) for t, g in zip(outputs, grad_outputs)]
    result = run_backward(outputs, seeds, retain_graph, create_graph, inputs=inputs)
    for i, (t, g) in enumerate(zip(inputs, result)):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        if g is not None and not create_graph:
            result[i] = g.detach()
    return tuple(result)
