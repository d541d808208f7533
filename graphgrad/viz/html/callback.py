"""``InspectorCallback``: inspector pages written while ``Trainer.fit`` runs.

At the end of every ``every``-th epoch the callback runs one probe step on a
fixed batch — forward inside ``record_stats``/``record_source``, the loss,
a backward inside ``record_grads`` — without updating the model, and records
the graph with each parameter's update ratio since the previous probe
(‖θ_now − θ_then‖/‖θ_then‖).  ``pages="slider"`` rewrites one page whose
step slider walks through the epochs (and whose sparklines show each node's
‖grad‖ per epoch); ``pages="epoch"`` writes one page per epoch, ``path``
being a pattern with ``{epoch}``.

It is a plain object with the callback methods (the Trainer calls them by
name), so viz does not import training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphgrad.autograd import enable_grad, record_grads
from graphgrad.autograd.tensor import Tensor
from graphgrad.viz.anomaly import record_stats
from graphgrad.viz.failure import add_update_ratios
from graphgrad.viz.graph import to_networkx
from graphgrad.viz.html.page import _findings, to_html
from graphgrad.viz.html.source import record_source


def _snapshot(model) -> dict:
    return {n: np.array(p.data, copy=True) for n, p in model.named_parameters()}


class InspectorCallback:
    """Write inspector pages during training (see the module docstring).

    ``path``: the page (``pages="slider"``) or a pattern such as
    ``"runs/inspect/epoch_{epoch}.html"`` (``pages="epoch"``).  ``batch``:
    ``(x, y)`` to probe with; default the first batch of the validation
    loader, else of the training loader (drawing it may advance a shuffling
    loader's order).  ``every``: probe every n-th epoch.  Other keyword
    arguments go to ``to_html``.  ``written`` lists the pages written.
    """

    def __init__(self, path, batch=None, every: int = 1, pages: str = "slider", **to_html_options):
        if pages not in ("slider", "epoch"):
            raise ValueError(f"InspectorCallback: pages must be 'slider' or 'epoch', got {pages!r}")
        if pages == "epoch" and "{epoch}" not in str(path):
            raise ValueError(f"InspectorCallback: pages='epoch' needs a path pattern with "
                             f"{{epoch}}, e.g. 'inspect/epoch_{{epoch}}.html'; got {path!r}")
        if int(every) < 1:
            raise ValueError(f"InspectorCallback: every must be >= 1, got {every!r}")
        self.path, self.batch, self.every, self.pages = str(path), batch, int(every), pages
        self.options = to_html_options
        self.graphs, self.labels, self.written = [], [], []
        self._before = None

    def on_train_start(self, trainer) -> None:
        """Remember the parameters (the first probe's update ratios compare with them)."""
        self._before = _snapshot(trainer.model)
        if self.batch is None:
            loader = trainer.val_loader if trainer.val_loader is not None else trainer.train_loader
            first = next(iter(loader))
            self.batch = (first[0], first[1])

    def probe(self, trainer):
        """One forward and backward on the probe batch: ``(loss, graph)``; no update."""
        model, (x, y) = trainer.model, self.batch
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        y = y if isinstance(y, Tensor) else Tensor(np.asarray(y))
        saved = {n: None if p.grad is None else Tensor(np.array(p.grad.data, copy=True))
                 for n, p in model.named_parameters()}
        model.zero_grad()
        with enable_grad(), record_stats(), record_source():
            loss = trainer.loss(model(x), y)
        with record_grads():
            loss.backward(retain_graph=True)
        graph = to_networkx(loss, params=model, stats=True)
        for n, p in model.named_parameters():  # leave .grad as training left it
            p.grad = saved[n]
        return loss, graph

    def on_epoch_end(self, trainer, epoch: int, metrics) -> None:
        """Probe, record the step, write the page(s)."""
        if (epoch + 1) % self.every:
            return None
        loss, graph = self.probe(trainer)
        if self._before is not None:
            add_update_ratios(graph, trainer.model, self._before)
        self._before = _snapshot(trainer.model)
        self.graphs.append(graph)
        value = metrics.get("loss") if hasattr(metrics, "get") else None
        self.labels.append(f"epoch {epoch}" + (f" (loss {value:.4g})" if value is not None
                                               else ""))
        options = dict(self.options)
        if "findings" not in options:
            options["findings"] = _findings(None, loss, trainer.model,
                                            getattr(trainer, "optimizer", None))
        if self.pages == "slider":
            out = Path(self.path)
            to_html(self.graphs, out, step_labels=self.labels, **options)
        else:
            out = Path(self.path.format(epoch=epoch))
            to_html(graph, out, step_labels=self.labels[-1:], **options)
        if out not in self.written:
            self.written.append(out)
        return None

    def __repr__(self) -> str:
        return f"InspectorCallback({self.path!r}, every={self.every}, pages={self.pages!r})"
