"""Graph inspection: networkx and Graphviz export, rendering, model summaries.

``gg.to_networkx(root)`` gives the graph as data (``graph``), ``gg.to_dot(root)``
as a ``graphviz.Digraph`` (``dot``, ``collapse``, ``labels``, ``health``,
``network``, ``style``; ``failure`` for a forward that failed in a module),
``gg.detect_anomaly()`` and ``gg.record_stats()`` mark NaNs and record forward
statistics (``anomaly``),
``gg.render(root, "graph.svg")`` writes the picture and its .dot source
(``rendering``), ``gg.summary(model, x)`` tabulates a model's modules
(``model_summary``) and ``gg.check.shapes(root)`` lists every op's Jacobian
shape (``jacobian_shapes``).  ``gg.viz.findings(root, model, optimizer)`` lists what
the graph says is wrong (``finding``, rules in ``rules``), drawn by default;
``gg.viz.to_html(loss, "page.html")`` writes the interactive inspector page (``html``).
"""

from graphgrad.viz.anomaly import AnomalyError, detect_anomaly, record_stats
from graphgrad.viz.dot import graph_to_dot, to_dot
from graphgrad.viz.finding import Finding, FindingContext, findings, register_rule
from graphgrad.viz.graph import backward_view, to_networkx
from graphgrad.viz.jacobian_shapes import shapes
from graphgrad.viz.model_summary import Summary, summary
from graphgrad.viz.rendering import FORMATS, GraphvizNotFoundError, render
from graphgrad.viz.html import to_html  # the inspector page, built on the modules above

__all__ = ["to_networkx", "to_dot", "render", "summary", "shapes", "graph_to_dot",
           "backward_view", "Summary", "GraphvizNotFoundError", "FORMATS", "detect_anomaly",
           "record_stats", "AnomalyError", "Finding", "FindingContext", "findings", "register_rule",
           "to_html"]
