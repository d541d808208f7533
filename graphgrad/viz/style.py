"""The drawing pieces every Graphviz picture shares: font, node styles, labels, the node hook.

``viz/dot.py`` (op graphs) and ``viz/network.py`` (a Network's layer graph)
both draw with these, so the two pictures look alike and neither imports the
other.
"""

from __future__ import annotations

import graphviz

FONT = "Helvetica"
STYLES = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6"},
    "op_backward": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fde2c8"},
    "parameter": {"shape": "box", "style": "filled", "fillcolor": "#d5f0d5"},
    "input": {"shape": "oval", "style": "filled", "fillcolor": "#eeeeee"},
    "input_grad": {"shape": "oval", "style": "filled", "fillcolor": "#fff4c2"},
    "constant": {"shape": "oval", "style": "dashed", "fontsize": "9"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#e8e0f5"},
    "elided": {"shape": "note", "style": "filled", "fillcolor": "#ffffff"},
}
CLUSTER_FILLS = ("#f6f6f6", "#ffffff")


def escape(text: str) -> str:
    """`text` with backslashes doubled, so DOT prints them as they are."""
    return str(text).replace("\\", "\\\\")


def label(lines: list[str]) -> str:
    """A node label: the non-empty `lines`, escaped, joined by DOT's centred line break."""
    # nohtml keeps a "<name>" from being read as an HTML label.
    return graphviz.nohtml("\\n".join(escape(line) for line in lines if line))


def node_finisher():
    """``finish(data, nid, attrs)``: a node's attributes as they are written, restyled by
    the ``graphgrad_dot_node_attrs`` hook (when a plugin implements it), values as text."""
    from graphgrad import registry

    restyle = bool(registry.plugin_manager().hook.graphgrad_dot_node_attrs.get_hookimpls())

    def finish(data, nid, attrs):
        if restyle:
            registry.call_event("graphgrad_dot_node_attrs", node=dict(data, id=nid),
                                attrs=attrs)
        return {k: v if isinstance(v, graphviz.quoting.NoHtml) else str(v)
                for k, v in attrs.items()}

    return finish
