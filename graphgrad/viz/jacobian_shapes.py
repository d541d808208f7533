"""`shapes(root)`: for every op, its input shapes, output shape and Jacobian shapes.

This is the dimension analysis of backpropagation written out: an op with
output y and input x applies, in backward, the Jacobian ∂y/∂x of shape
``y.shape × x.shape`` (as a matrix: ``y.size × x.size``).  For the lecture's
15 → 10 → 5 network, a₁ = W₁x has ∂a₁/∂x of shape (10) × (15) and
∂a₁/∂W₁ of shape (10) × (10, 15); backward never builds these matrices, it
multiplies by them (a vector-Jacobian product), but their shapes tell you what
every gradient must look like.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from graphgrad.viz.text import format_table, shape_str


@dataclass(frozen=True)
class ShapeRow:
    """One op: its graph id, name, module path, input and output shapes, Jacobians.

    ``outputs`` lists every output's shape (``output`` is the first);
    ``jacobians`` holds ``(output_nr, input_nr, out_shape, in_shape)`` for every
    output and every input that receives a gradient: the Jacobian ∂out/∂in has
    shape ``out_shape + in_shape``.
    """

    id: str
    op: str
    module: str | None
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    outputs: tuple[tuple[int, ...], ...]
    jacobians: tuple[tuple[int, int, tuple[int, ...], tuple[int, ...]], ...]

    def jacobian_matrix_shapes(self) -> tuple[tuple[int, int], ...]:
        """Each Jacobian flattened to a matrix: (out.size, in.size)."""
        return tuple((prod(o), prod(i)) for _, _, o, i in self.jacobians)


class ShapeTable:
    """The rows of `shapes` (``.rows``), printable as a table (``str(table)``)."""

    def __init__(self, rows: list[ShapeRow]):
        self.rows = rows

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __str__(self) -> str:
        body = []
        for r in self.rows:
            many = len(r.outputs) > 1
            jac = "; ".join(
                f"{f'out{k}/' if many else ''}in{i}: {shape_str(o)} × {shape_str(s)} = "
                f"{prod(o)}×{prod(s)}" for k, i, o, s in r.jacobians)
            body.append([r.op, r.module or "", ", ".join(shape_str(s) for s in r.inputs),
                         ", ".join(shape_str(s) for s in r.outputs), jac])
        return format_table(["op", "module", "inputs", "output", "Jacobian ∂out/∂in"], body)

    __repr__ = __str__


def shapes(root) -> ShapeTable:
    """For every op that produced `root` (a Tensor, or several), producers first:
    the input shapes, the output shape and, per input that receives a gradient,
    the shape of the Jacobian ∂out/∂in = ``out.shape × in.shape``.

    Example: for ``y = x @ W`` with x (4, 15) and W (15, 10) requiring grad the
    row reads  MatMul | (4, 15), (15, 10) | (4, 10) | in1: (4, 10) × (15, 10), and
    its ``jacobians`` are ``((0, 1, (4, 10), (15, 10)),)``.
    Python scalars and settings such as ``axis`` are not listed as inputs.
    """
    from graphgrad.viz.graph import to_networkx

    graph = to_networkx(root)
    rows = []
    for n in graph.graph["order"]:
        data = graph.nodes[n]
        if data["kind"] != "op":
            continue
        positions = sorted(i for u in graph.predecessors(n) for i in graph.edges[u, n]["input_nrs"])
        rows.append(ShapeRow(
            id=n, op=data["op"], module=data["module"],
            inputs=tuple(data["in_shapes"][i] for i in positions), output=data["shape"],
            outputs=data["shapes"], jacobians=data["jacobians"],
        ))
    return ShapeTable(rows)
