"""The interactive graph inspector: one self-contained HTML page (``gg.viz.to_html``).

``to_html(loss, "page.html")`` writes the page (``page``); ``record_source()``
keeps the user's source line of every op for its details panel (``source``);
``InspectorCallback`` writes pages during ``Trainer.fit`` (``callback``);
``graphgrad inspect script.py:fn -o page.html`` is the command line.  The
page's own script and style are ``inspector.js`` and ``inspector.css`` here.
"""

from graphgrad.viz.html.callback import InspectorCallback
from graphgrad.viz.html.page import VIEWS, InspectorPage, to_html
from graphgrad.viz.html.source import record_source

__all__ = ["to_html", "InspectorPage", "InspectorCallback", "record_source", "VIEWS"]
