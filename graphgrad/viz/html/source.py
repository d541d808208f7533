"""``with record_source():`` remember, on every op recorded, the user's line that ran it.

The inspector's details panel shows it (``to_networkx`` node attribute
``source``: ``"model.py:23: y = x.log()"``).  It costs a stack walk per op:
for inspection runs, not for training.
"""

from __future__ import annotations

from graphgrad.autograd.grad_mode import STATE, observe
from graphgrad.viz.anomaly import module_label, user_line


class _SourceObserver:
    def forward(self, cls, node, args, outputs):
        if node is not None and getattr(node, "trace", None) is None:
            entry = STATE.module_scope[-1] if STATE.module_scope else None
            node.trace = (module_label(entry), user_line())

    def backward(self, node, grads, in_grads):
        pass


class record_source(observe):  # noqa: N801 - used as `with record_source():`
    """Context manager: keep the user's source line of every recorded op on its node."""

    __slots__ = ()

    def __init__(self):
        super().__init__(_SourceObserver())
