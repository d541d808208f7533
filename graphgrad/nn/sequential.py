"""Sequential: modules applied one after another."""

from __future__ import annotations

from collections.abc import Iterator

from graphgrad.autograd.grad_mode import running_child, running_child_name
from graphgrad.nn.module import Module
from graphgrad.nn.parameter import Parameter


class Sequential(Module):
    """Modules applied one after another: ``forward(x) = m_n(…m_2(m_1(x)))``.

    ``Sequential(m1, m2, ...)`` names the children ``"0"``, ``"1"``, ...;
    ``Sequential({"fc1": m1, "act": m2})`` uses the given names.  Supports
    ``len``, iteration, ``seq[i]`` (a module), ``seq["name"]``, ``seq[a:b]`` (a
    Sequential) and ``append``.
    """

    def __init__(self, *layers):
        super().__init__()
        self._names: list[str] = []
        self._layers: list[Module] = []
        if len(layers) == 1 and isinstance(layers[0], dict):
            for name, layer in layers[0].items():
                self.append(layer, name=name)
        else:
            for layer in layers:
                self.append(layer)

    def append(self, layer: Module, name: str | None = None) -> Sequential:
        """Add `layer` at the end (named by its position unless `name` is given); returns self."""
        position = len(self._layers)
        if not isinstance(layer, Module):
            hint = (" (a class was given: instantiate it, e.g. ReLU() instead of ReLU)"
                    if isinstance(layer, type) else "")
            raise TypeError(f"Sequential: item {position} is a {type(layer).__name__}, not a "
                            f"Module{hint}")
        if name is None:
            while str(position) in self._names:
                position += 1
            name = str(position)
        if not isinstance(name, str) or not name or "." in name or name in self._names:
            raise ValueError(f"Sequential: layer name {name!r} is empty, contains '.', or is "
                             f"already used (names so far: {self._names})")
        self._names.append(name)
        self._layers.append(layer)
        self.bump_version(f"layer {name!r} appended")
        return self

    def __setattr__(self, name: str, value) -> None:
        # the layers are the ordered list; a Module or Parameter in an attribute
        # would be neither run, trained nor saved, so refuse it
        if isinstance(value, (Module, Parameter)):
            raise AttributeError(
                f"Sequential: cannot assign a {type(value).__name__} to attribute {name!r}: "
                f"its layers run in order, so add it with seq.append(layer, name={name!r})")
        super().__setattr__(name, value)

    def _direct_children(self):
        yield from zip(self._names, self._layers, strict=True)

    def _child_name(self, child):
        running = running_child_name(self, child)  # this thread's position (a layer may repeat)
        return running if running is not None else super()._child_name(child)

    def forward(self, x):
        """Feed x through every layer in order."""
        for name, layer in zip(self._names, self._layers, strict=True):
            with running_child(self, layer, name):
                x = layer(x)
        return x

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._layers))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(dict(zip(self._names[index], self._layers[index], strict=True)))
        if isinstance(index, str):
            if index not in self._names:
                raise KeyError(f"Sequential has no layer named {index!r}; names: {self._names}")
            return self._layers[self._names.index(index)]
        return self._layers[index]
