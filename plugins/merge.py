"""Built-in merge layers for ``gg.Network``: ``add``, ``subtract``, ``multiply``, ``concat``.

A merge layer takes several inputs (the nodes listed in ``inputs=[...]``, in
that order).  Merges require equal shapes: branches of shapes (N, 1) and
(N, 4) are usually a wiring mistake, so they are refused unless the layer is
built with ``broadcast=True`` (a (N, 1) gate scaling (N, 4) features), in
which case NumPy broadcasting applies.  Registered exactly as a third-party
plugin would.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Module, hookimpl, resolve_rng


def _randn(rng, *shape):
    return gg.randn(*shape, rng=rng)


class Merge(Module):
    """Base class of merge layers: checks the inputs' count and shapes, then ``combine(*xs)``.

    A subclass defines ``combine``; ``min_inputs``/``max_inputs`` bound the
    number of inputs.  With ``broadcast=False`` (default) every input must
    have the same shape; with ``broadcast=True`` the shapes must broadcast
    together (NumPy rules).  Write a custom merge the same way.
    """

    min_inputs = 1
    max_inputs: int | None = None

    def __init__(self, broadcast: bool = False):
        super().__init__()
        self.broadcast = bool(broadcast)

    def combine(self, *xs):
        """The merged value of the (checked) inputs."""
        raise NotImplementedError(f"{type(self).__name__} must implement combine(*xs)")

    def check_shapes(self, shapes: list[tuple]) -> None:
        """Raise a ValueError naming the layer and shapes if they may not be merged."""
        if not self.broadcast and len(set(shapes)) > 1:
            raise ValueError(
                f"{type(self).__name__}: inputs have shapes {', '.join(map(str, shapes))}; a "
                "merge needs equal shapes. Fix the branch widths, or build it with "
                f"{type(self).__name__}(broadcast=True) to broadcast them as NumPy does "
                "(e.g. an (N, 1) gate over (N, 4) features)")
        if self.broadcast:
            try:
                np.broadcast_shapes(*shapes)
            except ValueError:
                raise ValueError(f"{type(self).__name__}(broadcast=True): shapes "
                                 f"{', '.join(map(str, shapes))} cannot be broadcast together"
                                 ) from None

    def forward(self, *xs):
        name, n = type(self).__name__, len(xs)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = (f"exactly {self.min_inputs}" if self.max_inputs == self.min_inputs
                    else f"at least {self.min_inputs}")
            raise ValueError(f"{name}: needs {want} input{'s' * (self.min_inputs != 1)}, got {n}")
        self.check_shapes([tuple(x.shape) for x in xs])
        return self.combine(*xs)

    def extra_repr(self) -> str:
        return "broadcast=True" if self.broadcast else ""

    @classmethod
    def example_input(cls, rng=None):
        """Two (3, 4) float32 inputs."""
        rng = resolve_rng(rng)
        return _randn(rng, 3, 4), _randn(rng, 3, 4)


class Add(Merge):
    """y = x₁ + x₂ + … + xₙ, e.g. a residual connection; ∂y/∂xᵢ = 1."""

    def combine(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(Merge):
    """y = x₁ − x₂ (exactly two inputs, in the order listed); ∂y/∂x₁ = 1, ∂y/∂x₂ = −1."""

    min_inputs = max_inputs = 2

    def combine(self, a, b):
        return a - b


class Multiply(Merge):
    """y = x₁ ⊙ x₂ ⊙ … ⊙ xₙ (elementwise), e.g. a gate; ∂y/∂xᵢ = ∏_{j≠i} xⱼ."""

    def combine(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(Merge):
    """y = [x₁, x₂, …, xₙ] joined along ``axis`` (default −1, the feature axis).

    The inputs must agree on every other axis; with ``broadcast=True`` those
    other axes are broadcast to a common shape first (a (N, 1, C) input joins
    a (N, T, D) one as (N, T, C)).  The gradient of each input is its slice of
    the output gradient (summed over broadcast axes).
    """

    def __init__(self, axis: int = -1, broadcast: bool = False):
        super().__init__(broadcast)
        self.axis = int(axis)

    def _others(self, shape: tuple) -> tuple:
        axis = self.axis % len(shape)
        return shape[:axis] + (1,) + shape[axis + 1:]

    def check_shapes(self, shapes):
        name = type(self).__name__
        ndims = {len(s) for s in shapes}
        if len(ndims) > 1 or not -min(ndims) <= self.axis < max(min(ndims), 1):
            raise ValueError(f"{name}(axis={self.axis}): inputs of shapes "
                             f"{', '.join(map(str, shapes))} need one number of axes that "
                             "includes axis")
        others = [self._others(s) for s in shapes]
        if self.broadcast:
            try:
                np.broadcast_shapes(*others)
            except ValueError:
                raise ValueError(f"{name}(axis={self.axis}, broadcast=True): shapes "
                                 f"{', '.join(map(str, shapes))} do not broadcast on the other "
                                 "axes") from None
        elif len(set(others)) > 1:
            raise ValueError(
                f"{name}(axis={self.axis}): inputs have shapes {', '.join(map(str, shapes))}; "
                "they must be equal on every axis but the joined one. Fix the branches, or "
                f"build {name}(axis={self.axis}, broadcast=True) to broadcast the other axes")

    def combine(self, *xs):
        if self.broadcast:
            common = np.broadcast_shapes(*[self._others(tuple(x.shape)) for x in xs])
            axis = self.axis % len(common)
            xs = [x.broadcast_to(common[:axis] + (x.shape[axis],) + common[axis + 1:])
                  for x in xs]
        return gg.concatenate(list(xs), axis=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}" + (", broadcast=True" if self.broadcast else "")

    @classmethod
    def example_input(cls, rng=None):
        """Inputs of shape (3, 2) and (3, 4)."""
        rng = resolve_rng(rng)
        return _randn(rng, 3, 2), _randn(rng, 3, 4)


@hookimpl
def graphgrad_register_layers():
    """The built-in merge layers."""
    return [Add, Subtract, Multiply, Concat]
