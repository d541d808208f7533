"""Colour that encodes health: gradient (or update-ratio) magnitude on a log scale.

A picture finds a bug at a glance when the broken part looks different.  Every
node with a magnitude (‖grad‖₂ of an op's output or a parameter, a collapsed
module's ‖∇θ‖, or ‖Δθ‖/‖θ‖ after an optimizer step) is filled from `HEAT`, pale
blue for the smallest magnitude in the picture up to orange-red for the
largest, on a log₁₀ scale; an exact zero is grey and dashed (nothing flows), a
NaN or ±inf red with a thick red border.  The legend node shows the scale.
"""

from __future__ import annotations

import math

HEAT = ("#deebf7", "#c6dbef", "#c7e9c0", "#a1d99b", "#fff3b0", "#fdd49e", "#fdae6b",
        "#fd8d3c", "#f16913")
ZERO = "#d9d9d9"
BAD = "#ff6b6b"
BAD_BORDER = "#c00000"
GHOST = "#ffe5e5"
SPARKS = "▁▂▃▄▅▆▇█"


def scale_of(values) -> tuple[float, float] | None:
    """(lo, hi) in log₁₀ of the finite positive `values`, at least one decade wide
    (so a picture of equal magnitudes is not all hot); None if there are none."""
    logs = [math.log10(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    if not logs:
        return None
    lo, hi = min(logs), max(logs)
    if hi - lo < 1:
        mid = (hi + lo) / 2
        lo, hi = mid - 0.5, mid + 0.5
    return lo, hi


def heat_index(value: float, scale: tuple[float, float]) -> int:
    """The bin of `HEAT` for a finite positive value: 0 at ``10**lo``, the last at ``10**hi``."""
    lo, hi = scale
    t = (math.log10(value) - lo) / (hi - lo)
    return min(len(HEAT) - 1, max(0, round(t * (len(HEAT) - 1))))


def health_attrs(value, scale) -> dict[str, str]:
    """Graphviz fill (and border) for a node whose magnitude is `value` (None: no change)."""
    if value is None:
        return {}
    if not math.isfinite(value):
        return {"fillcolor": BAD, "color": BAD_BORDER, "penwidth": "2.5"}
    if value == 0:
        return {"fillcolor": ZERO, "style_extra": "dashed"}
    if scale is None:
        return {}
    return {"fillcolor": HEAT[heat_index(value, scale)]}


def apply(attrs: dict, extra: dict) -> dict:
    """`attrs` updated with `extra`; ``style_extra`` is appended to the style, not replacing it."""
    extra = dict(extra)
    more = extra.pop("style_extra", None)
    attrs.update(extra)
    if more:
        styles = [s for s in attrs.get("style", "").split(",") if s]
        if "filled" not in styles:
            styles.append("filled")
        attrs["style"] = ",".join(styles + [more])
    return attrs


def legend_label(scale, title: str) -> str:
    """An HTML-like Graphviz label: `title`, the heat bins with their magnitudes, zero, NaN."""
    cells = []
    if scale is not None:
        lo, hi = scale
        for i, colour in enumerate(HEAT):
            value = 10 ** (lo + (hi - lo) * i / (len(HEAT) - 1))
            text = f"{value:.0e}" if i in (0, len(HEAT) // 2, len(HEAT) - 1) else ""
            cells.append(f'<td bgcolor="{colour}" width="28">{text}</td>')
    cells.append(f'<td bgcolor="{ZERO}" width="28">0</td>')
    cells.append(f'<td bgcolor="{BAD}" width="28">NaN</td>')
    return (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="2">'
            f'<tr><td colspan="{len(cells)}">{title} (log scale)</td></tr>'
            f'<tr>{"".join(cells)}</tr></table>>')


def sparkline(values) -> str:
    """One character per value, its height ∝ log₁₀ of the value (``·`` for 0 or missing,
    ``!`` for NaN/inf): ``▁▂▃▅█`` for gradients growing towards the input."""
    scale = scale_of(values)
    out = []
    for v in values:
        if v is None or v == 0:
            out.append("·")
        elif not math.isfinite(v):
            out.append("!")
        else:
            lo, hi = scale
            t = (math.log10(v) - lo) / (hi - lo)
            out.append(SPARKS[min(len(SPARKS) - 1, max(0, round(t * (len(SPARKS) - 1))))])
    return "".join(out)
