"""What each drawn node says and how it looks: its label lines and Graphviz style.

A node's lines depend on its kind (leaf, op, collapsed module, placeholder)
and on the options of ``to_dot`` (shapes, saved bytes, gradients, statistics);
its fill comes from its kind (`style.STYLES`) unless the picture is coloured by
health (`health`), and the debugging marks (dead, NaN, anomaly, failure, no
gradient) override both.
"""

from __future__ import annotations

from graphgrad.viz import health
from graphgrad.viz.style import STYLES, label
from graphgrad.viz.text import bytes_str, shape_str
from graphgrad.viz.finding import percent


def _num(x) -> str:
    return f"{x:.2g}"


def _grad_line(data, opts) -> str | None:
    if opts["show_grads"] and data["grad_norm"] is not None:
        return f"‖grad‖ = {data['grad_norm']:.3g}"
    return None


def _stats_lines(data, opts) -> list[str]:
    if not opts["show_stats"] or data["zero_frac"] is None:
        return []
    lines = []
    if data["zero_frac"] == 1:
        lines.append("DEAD: all outputs 0")
    elif data["zero_frac"] > 0:
        lines.append(f"zeros {percent(data['zero_frac'])}")
    if data["nonfinite_frac"]:
        lines.append(f"NaN/inf {percent(data['nonfinite_frac'])}")
    lines.append(f"μ {data['mean']:.3g}  σ {data['std']:.3g}")
    return lines


def _leaf_lines(data, opts) -> list[str]:
    title = data["name"] or data["kind"]
    lines = ["AccumulateGrad", title] if data["op"] == "AccumulateGrad" else [title]
    if opts["show_shapes"]:
        lines.append(f"{shape_str(data['shape'])} {data['dtype']}")
    if data["missing_grad"]:
        lines.append("NO GRADIENT")
    lines.append(_grad_line(data, opts))
    return lines


def _op_lines(data, opts, backward) -> list[str]:
    lines = [data["op"]] + ([data["label"]] if data["label"] else [])
    if data["detail"]:
        lines.append(data["detail"])
    if opts["show_shapes"]:
        if backward:
            many = len(data["shapes"]) > 1
            for o, i, out_shape, in_shape in data["jacobians"]:
                lines.append(f"∂out{o if many else ''}/∂in{i}: {shape_str(out_shape)} × "
                             f"{shape_str(in_shape)}")
        elif data["is_root"]:
            lines.append(f"out {shape_str(data['shape'])} {data['dtype']}")
    if opts["show_saved"] and data["saved_bytes"]:
        lines.append(f"saved {bytes_str(data['saved_bytes'])}")
    lines += _stats_lines(data, opts)
    lines.append(_grad_line(data, opts))
    if data["anomaly"]:
        lines.append("ANOMALY: first NaN/inf here")
    return lines


def _module_lines(data, opts) -> list[str]:
    # the top-level module (path "") is named by its class alone
    title = ": ".join(t for t in (data["name"] or data["module"], data["module_type"]) if t)
    if data.get("repeats"):
        title += f" × {data['repeats']}"
    elif data.get("calls", 1) > 1:
        title += f" × {data['calls']} {'steps' if data.get('time_step') else 'calls'}"
    ops, params = data["n_ops"], data["params"]
    lines = [title, f"{ops} op{'s' * (ops != 1)}, {params:,} param{'s' * (params != 1)}"]
    if data.get("body_ops"):  # the rest of each step of a loop, outside the module
        lines.insert(1, "each call, then " + " → ".join(data["body_ops"]))
    if data["failed"]:
        lines = [title, "FAILED here"]
    if opts["show_shapes"] and data["shapes"]:
        lines.append("out " + ", ".join(shape_str(s) for s in data["shapes"]))
    if opts["show_saved"] and data["saved_bytes"]:
        lines.append(f"saved {bytes_str(data['saved_bytes'])}")
    lines += _stats_lines(data, opts)
    if data["missing_grad"]:
        lines.append("NO GRADIENT for some parameters")
    if opts["show_grads"] and data.get("sparkline"):
        ends = data.get("spark_ends")
        span = (f" ({_num(ends[0])} → {_num(ends[1])})" if ends and None not in ends else "")
        lines.append(f"‖grad‖ per {data.get('spark_unit', 'layer')}: {data['sparkline']}{span}")
    if opts["show_grads"] and data["grad_norm"] is not None:
        top = " (largest)" if data.get("repeats") else ""
        lines.append(f"‖grad‖ = {data['grad_norm']:.3g}{top}")
    if opts["show_grads"] and data.get("param_grad_norm") is not None:
        lines.append(f"‖∇θ‖ = {data['param_grad_norm']:.3g}")
    return lines


def magnitude(data, color):
    """The number a node is coloured by (None: keep the kind's colour)."""
    if color == "update_ratio":
        return data.get("update_ratio")
    if color == "grad":
        return data["grad_norm"]
    return None


def node_attrs(data, opts, backward) -> dict[str, str]:
    """The Graphviz attributes (label and style) of one networkx node."""
    kind = data["kind"]
    if kind == "op":
        style, lines = STYLES["op_backward" if backward else "op"], _op_lines(data, opts, backward)
    elif kind == "module":
        style, lines = STYLES["module"], _module_lines(data, opts)
    elif kind == "elided":
        style = STYLES["elided"]
        lines = [f"… {data['count']} more nodes", "(raise max_nodes or pass depth=)"]
    else:
        key = "input_grad" if kind == "input" and data["requires_grad"] else kind
        style, lines = STYLES[key], _leaf_lines(data, opts)
    attrs = dict(style)
    attrs["label"] = label(lines)
    if data.get("is_root"):
        attrs["penwidth"] = "2"
    color = opts.get("color")
    if color and kind != "elided":
        health.apply(attrs, health.health_attrs(magnitude(data, color), opts.get("scale")))
    if opts["show_stats"] and data["zero_frac"] == 1:  # dead: nothing passes
        health.apply(attrs, {"fillcolor": health.ZERO, "style_extra": "dashed"})
    if data["nonfinite_frac"] or data["anomaly"] or data["failed"]:
        health.apply(attrs, {"fillcolor": health.BAD, "color": health.BAD_BORDER,
                             "penwidth": "2.5"})
    if data["missing_grad"]:
        health.apply(attrs, {"fillcolor": health.GHOST, "color": health.BAD_BORDER,
                             "fontcolor": health.BAD_BORDER, "style_extra": "dashed"})
    return attrs


def edge_label(data, opts) -> str | None:
    """The shape(s) an edge carries, or None when shapes are not shown."""
    if not opts["show_shapes"]:
        return None
    return ", ".join(shape_str(s) for s in data.get("shapes", (data["shape"],)))
