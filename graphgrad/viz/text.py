"""Plain text for the inspection reports (`gg.summary`, `gg.check.shapes`, Graphviz labels):
tables, shapes and byte counts."""

from __future__ import annotations


def shape_str(shape) -> str:
    """``(4, 10)``-style text for a shape (``()`` for a scalar, ``(3,)`` for one axis)."""
    shape = tuple(shape)
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def bytes_str(n: int) -> str:
    """A byte count in B, KiB, MiB or GiB (``"512 B"``, ``"1.5 KiB"``)."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_table(headers: list[str], rows: list[list[str]], right: tuple[int, ...] = (),
                 footer: list[str] = ()) -> str:
    """Columns padded to their widest cell, a rule under the header and above the footer.

    `right` lists the column indexes to right-align (numbers); `footer` lines are
    printed as they are under a closing rule.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells):
        padded = [c.rjust(w) if i in right else c.ljust(w)
                  for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    out = [line(headers), rule, *(line(r) for r in rows)]
    if footer:
        out += [rule, *footer]
    return "\n".join(out)
