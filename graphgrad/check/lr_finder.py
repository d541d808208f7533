"""lr_find: a log-spaced learning-rate sweep on a subset of the training data.

For each rate η_k = η_min · (η_max/η_min)^(k/(num−1)), k = 0 … num−1, the model
starts from the same initial weights and random state, takes ``steps``
mini-batch steps with the chosen optimizer (the same batches for every rate)
and is scored by its loss on the whole subset afterwards. Rates whose loss
became NaN/inf, or ended above twice the initial loss, diverged. The
suggestion is the rate with the lowest final loss among those that did not
diverge. The model's weights and random state are restored afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphgrad.autograd import enable_grad
from graphgrad.autograd.tensor import Tensor
from graphgrad.check.experiment import borrowed, loss_value, make_optimizer, sample_arrays
from graphgrad.random import get_rng_state, set_rng_state
from graphgrad.training.history import require_matplotlib


@dataclass
class LRFindResult:
    """The sweep: ``lrs``, final ``losses`` (NaN where diverged), ``diverged`` flags,
    the ``initial_loss`` and the ``suggestion`` (None if every rate diverged)."""

    lrs: list[float]
    losses: list[float]
    diverged: list[bool]
    initial_loss: float
    suggestion: float | None
    steps: int
    plot_path: str | None = None
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """A printable table: one row per rate, the suggestion marked."""
        lines = [f"lr_find: loss after {self.steps} steps from the same start "
                 f"(initial loss {self.initial_loss:.4f})", f"{'lr':>10}  {'loss':>10}  note"]
        for lr, loss, bad in zip(self.lrs, self.losses, self.diverged, strict=True):
            note = "diverged" if bad else ("<- suggested" if lr == self.suggestion else "")
            value = "nan" if not math.isfinite(loss) else f"{loss:.4f}"
            lines.append(f"{lr:>10.2e}  {value:>10}  {note}".rstrip())
        if self.suggestion is None:
            lines.append("every rate diverged: lower min_lr, or check the model and data")
        else:
            lines.append(f"suggested learning rate: {self.suggestion:.3g}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the sweep (NaN losses become None)."""
        return {
            "lrs": list(self.lrs),
            "losses": [v if math.isfinite(v) else None for v in self.losses],
            "diverged": list(self.diverged),
            "initial_loss": self.initial_loss,
            "suggestion": self.suggestion,
            "steps": self.steps,
            "plot": self.plot_path,
        }

    def plot(self, path=None):
        """Loss against learning rate on a log axis, the suggestion marked; needs matplotlib."""
        figure_class = require_matplotlib("lr_find plot")
        fig = figure_class(figsize=(5, 3.5), layout="constrained")
        ax = fig.add_subplot(1, 1, 1)
        ax.plot(self.lrs, self.losses, "-o", markersize=4)
        ax.axhline(self.initial_loss, color="grey", linestyle=":", label="initial loss")
        if self.suggestion is not None:
            ax.axvline(self.suggestion, color="tab:red", linestyle="--",
                       label=f"suggested {self.suggestion:.3g}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"loss after {self.steps} steps")
        ax.legend()
        ax.grid(alpha=0.3)
        if path is not None:
            fig.savefig(path)
        return fig


def _run(model, loss, optimizer, x, y, lr, kwargs, steps, batches) -> float:
    opt = make_optimizer(optimizer, list(model.parameters()), lr, kwargs, "lr_find")
    model.train()
    with enable_grad(), np.errstate(all="ignore"):
        for step in range(steps):
            idx = batches[step % len(batches)]
            opt.zero_grad()
            value = loss(model(Tensor(x[idx])), Tensor(y[idx]))
            if not np.isfinite(value.data).all():
                return float("nan")
            value.backward()
            opt.step()
    model.eval()
    return loss_value(model, loss, Tensor(x), Tensor(y))


def lr_find(model, loss, data, optimizer: str | Callable = "sgd", *, min_lr: float = 1e-5,
            max_lr: float = 1.0, num: int = 11, steps: int = 20, batch_size: int = 32,
            n_samples: int = 256, optimizer_kwargs: dict | None = None, seed: int = 0,
            plot=None, verbose: bool = True) -> LRFindResult:
    """Sweep ``num`` log-spaced learning rates from ``min_lr`` to ``max_lr`` (see the
    module docstring) and suggest one; the model is left exactly as it was.

    ``data``: ``(x, y)``, an ArrayDataset or a DataLoader (a seeded subset of
    ``n_samples`` is used). ``optimizer``: a registry name or a factory
    ``f(params, lr=..., **optimizer_kwargs)``. ``plot``: a path for the curve,
    drawn when matplotlib is installed (otherwise a note says so). Prints the
    table when ``verbose``.
    """
    if not (0 < min_lr < max_lr and math.isfinite(max_lr)):
        raise ValueError(f"lr_find: need 0 < min_lr < max_lr, got min_lr={min_lr}, "
                         f"max_lr={max_lr}")
    if num < 2 or steps < 1 or batch_size < 1:
        raise ValueError(f"lr_find: need num >= 2, steps >= 1 and batch_size >= 1, got "
                         f"num={num}, steps={steps}, batch_size={batch_size}")
    x, y = sample_arrays(data, n_samples, seed, "lr_find")
    if x.dtype.kind == "f" and x.dtype != np.float64:
        x = x.astype(np.float32, copy=False)
    order = np.random.default_rng(seed + 1).permutation(len(x))
    batches = [order[i:i + batch_size] for i in range(0, len(x), batch_size)]
    lrs = [float(v) for v in np.geomspace(min_lr, max_lr, num)]
    losses, diverged = [], []
    with borrowed(model) as start:
        rng_state = get_rng_state()
        model.eval()
        initial = loss_value(model, loss, Tensor(x), Tensor(y))
        for lr in lrs:
            model.load_state_dict(start)
            set_rng_state(rng_state)
            final = _run(model, loss, optimizer, x, y, lr, optimizer_kwargs, steps, batches)
            bad = not math.isfinite(final) or final > 2 * initial
            losses.append(final if math.isfinite(final) else float("nan"))
            diverged.append(bad)
    usable = [(v, lr) for v, lr, bad in zip(losses, lrs, diverged, strict=True) if not bad]
    suggestion = min(usable)[1] if usable else None
    result = LRFindResult(lrs, losses, diverged, initial, suggestion, steps)
    if plot is not None:
        try:
            result.plot(plot)
            result.plot_path = str(plot)
        except ImportError as exc:
            result.notes.append(f"no plot: {exc}")
    if verbose:
        print(result.table())
    return result

