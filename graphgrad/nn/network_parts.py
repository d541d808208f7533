"""The pieces of a Network's nodes: names, layers (a Loss becomes a ``LossNode``),
example inputs and the note an error raised inside a node gets."""

from __future__ import annotations

from graphgrad.nn.loss import Loss
from graphgrad.nn.module import Module


def check_name(what: str, name) -> str:
    """`name` if it can name a node (non-empty, no '.', no leading '_'), else ValueError."""
    if not isinstance(name, str) or not name or "." in name or name.startswith("_"):
        raise ValueError(
            f"Network: {what} name {name!r} must be a non-empty string without '.' that does "
            "not start with '_' (it becomes the prefix of parameter names)"
        )
    return name


def name_list(value, what: str) -> list[str]:
    """One node name or a sequence of them as a checked, non-empty list."""
    if hasattr(value, "shape"):  # a Tensor or ndarray would be iterated as names
        raise TypeError(
            f"Network: {what}s are node names (a string or a list of strings), got a "
            f"{type(value).__name__} of shape {tuple(value.shape)}: a network is built from "
            "names and called with tensors, e.g. gg.Network(inputs=['x']) and then net(x)")
    names = [value] if isinstance(value, str) else list(value)
    if not names:
        raise ValueError(f"Network: {what} must name at least one node")
    return [check_name(what, n) for n in names]


class LossNode(Module):
    """A Loss as a Network node: ``forward(prediction, target) = loss(prediction, target)``.

    ``net.add("loss", gg.losses.MSE(), inputs=["out", "y"])`` wraps the loss in
    one of these, so a network can hold its own training objective (several
    heads with weighted losses, targets as named inputs), and pictures draw the
    loss and its target distinctly.
    """

    def __init__(self, loss: Loss):
        super().__init__()
        self.loss = loss

    def forward(self, prediction, target):
        return self.loss(prediction, target)

    def extra_repr(self) -> str:
        return repr(self.loss)


def check_layer(where: str, layer):
    """`layer` as a node's Module (a Loss is wrapped in a LossNode); TypeError otherwise."""
    if isinstance(layer, Loss):
        return LossNode(layer)
    if not isinstance(layer, Module):
        hint = (" (a class was given: instantiate it, e.g. ReLU() instead of ReLU)"
                if isinstance(layer, type) else "")
        raise TypeError(f"{where}: the layer must be a Module or a Loss, got "
                        f"{type(layer).__name__}{hint}")
    return layer


def example_args(example_inputs) -> tuple[tuple, dict]:
    """(args, kwargs) for `_feeds` from a Tensor/array, a tuple/list, or a dict of inputs."""
    from graphgrad.autograd.tensor import Tensor

    def as_tensor(x):
        return x if isinstance(x, Tensor) else Tensor(x)

    if isinstance(example_inputs, dict):
        return ({k: as_tensor(v) for k, v in example_inputs.items()},), {}
    if isinstance(example_inputs, tuple):
        return tuple(as_tensor(x) for x in example_inputs), {}
    return (as_tensor(example_inputs),), {}


def shape_of(value):
    """The shape of a Tensor, or a tuple of shapes for a layer that returns several."""
    if isinstance(value, (tuple, list)):
        return tuple(shape_of(v) for v in value)
    return tuple(value.shape)


def describe(value) -> str:
    """"(2, 3) float32" for a tensor, the type name for anything else."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None:
        return type(value).__name__
    return f"{tuple(shape)} {dtype}" if dtype is not None else str(tuple(shape))


def node_note(name: str, layer, inputs, fed) -> str:
    """The note added to an error raised in node `name`: its layer and what was fed to it."""
    parts = ", ".join(f"{i!r} {describe(v)}" for i, v in zip(inputs, fed, strict=True))
    return f"in Network node {name!r} (layer {type(layer).__name__}) fed by {parts}"
