"""babysit: the lecture's checks that catch a broken network before hours of training.

``babysit(model, loss, data)`` borrows the model (it is restored bit for bit
afterwards, see ``graphgrad.check.experiment.borrowed``) and runs, on a few samples:

* **symmetric_init** — a weight tensor (ndim ≥ 2) that is constant, or whose
  units (slices along its first or last axis) are all identical, never breaks
  symmetry: every unit gets the same gradient forever;
* **initial_loss** — the loss at initialisation against chance level: log C
  for cross-entropy over C classes (the loss of uniform predictions), log 2
  for binary cross-entropy, (C − 1)·margin for the multiclass hinge; flagged
  when more than a factor ``initial_loss_factor`` (2) away;
* **gradient_check** — the whole model in float64 (evaluation mode):
  analytic ∂J/∂θ_i against central differences (J(θ + εe_i) − J(θ − εe_i))/2ε
  on a random subset of coordinates of every parameter, J the mean loss;
* **dead_relu** — the fraction of ReLU units that output 0 for every sample,
  at initialisation and after a few updates at the chosen learning rate;
* **update_ratio** — ‖Δθ‖ / ‖θ‖ of each weight tensor for one update (about
  1e-3 is healthy; flagged outside ``ratio_range`` = [1e-4, 1e-1]: the
  learning rate is too low or too high; a failure above 1);
* **overfit** — training on ``n_overfit`` samples without regularisation (in
  evaluation mode, so dropout is off) must drive the loss below
  ``overfit_tolerance`` (5 %) of its start within ``overfit_steps`` updates;
* **regularization** — as many updates with an L2 penalty λ/2·Σ‖W‖² on the
  weights must end at a higher data loss.

Each check gets a status ``ok``, ``warn``, ``fail`` or ``skip``; the report
prints as a table and converts to a dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from graphgrad.autograd import enable_grad, no_grad, topological_order
from graphgrad.autograd.tensor import Tensor
from graphgrad.check.babysit_report import BabysitReport, Check
from graphgrad.check.experiment import borrowed, loss_value, make_optimizer, sample_arrays
from graphgrad.check.lr_finder import LRFindResult, lr_find
from graphgrad.ops import softmax_cross_entropy

__all__ = ["babysit", "lr_find", "BabysitReport", "Check", "LRFindResult", "chance_loss"]

# -- chance level ---------------------------------------------------------------------


def chance_loss(loss, n_classes: int) -> float | None:
    """The loss of an uninformed model with ``n_classes`` outputs, or None if unknown.

    A loss states its own chance level with a method ``chance_loss(n_classes)``;
    the built-in classification losses have one (cross-entropy / NLL: log C,
    uniform probabilities 1/C; bce_with_logits: log 2, logits 0; multiclass
    hinge: (C − 1)·margin and squared hinge (C − 1)·margin², all scores equal).
    The core op ``gg.softmax_cross_entropy`` is log C.
    """
    method = getattr(loss, "chance_loss", None)
    if callable(method):
        return method(n_classes)
    if loss is softmax_cross_entropy and n_classes > 1:
        return math.log(n_classes)
    return None


# -- the checks ---------------------------------------------------------------------------


def _weights(model) -> list[tuple[str, Tensor]]:
    return [(n, p) for n, p in model.named_parameters() if p.data.ndim >= 2]


def check_symmetric_init(model) -> Check:
    """Flag weight tensors that are constant or whose units are all identical."""
    weights = _weights(model)
    if not weights:
        return Check("symmetric_init", "skip", None, "the model has no weight matrices")
    bad = []
    for name, p in weights:
        w = p.data
        if np.ptp(w) == 0:
            bad.append(f"{name} is constant ({w.flat[0]:.3g})")
        elif (w.shape[0] > 1 and np.all(w == w[:1])) or (w.shape[-1] > 1
                                                           and np.all(w == w[..., :1])):
            bad.append(f"{name} has identical units")
    if bad:
        return Check("symmetric_init", "fail", float(len(bad)),
                     "; ".join(bad) + ": every unit gets the same gradient, symmetry never "
                     "breaks; initialise randomly (e.g. init='he_normal')", {"tensors": bad})
    return Check("symmetric_init", "ok", 0.0, "weights are random (no constant or repeated units)")


def check_initial_loss(model, loss, x, y, chance: float | None, factor: float) -> Check:
    """Compare the loss at initialisation with chance level: flagged outside
    [chance / factor, chance · factor]."""
    model.eval()
    value = loss_value(model, loss, Tensor(x), Tensor(y))
    if chance is None:
        return Check("initial_loss", "skip", value,
                     "chance level unknown for this loss; pass chance=... to compare")
    data = {"loss": value, "chance": chance}
    if not math.isfinite(value):
        return Check("initial_loss", "fail", value, "the loss at initialisation is not finite",
                     data)
    text = f"{value:.4f} vs chance {chance:.4f}"
    if not chance / factor <= value <= chance * factor:
        return Check("initial_loss", "warn", value,
                     f"{text}: far from chance; initial weights too large, or a bug in the "
                     "loss or the labels", data)
    return Check("initial_loss", "ok", value, f"{text} (as expected for random weights)", data)


def check_gradients(model, loss, x, y, coords: int, eps: float, atol: float, rtol: float,
                    seed: int) -> Check:
    """Analytic vs central-difference gradients of the mean loss, model cast to float64."""
    model.double()
    model.eval()
    x64 = Tensor(x.astype(np.float64) if x.dtype.kind == "f" else x)
    yt = Tensor(y.astype(np.float64) if y.dtype.kind == "f" else y)
    model.zero_grad()
    with enable_grad():
        loss(model(x64), yt).mean().backward()
    rng = np.random.default_rng(seed)
    worst_rel, failures, checked = 0.0, [], 0
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        grad = p.grad.data if p.grad is not None else np.zeros_like(p.data)
        for i in rng.choice(p.data.size, size=min(coords, p.data.size), replace=False):
            original = p.data.flat[i]
            p.data.flat[i] = original + eps
            plus = loss_value(model, loss, x64, yt)
            p.data.flat[i] = original - eps
            minus = loss_value(model, loss, x64, yt)
            p.data.flat[i] = original
            numeric, analytic = (plus - minus) / (2 * eps), float(grad.flat[i])
            err = abs(analytic - numeric)
            scale = max(abs(analytic), abs(numeric))
            if scale > atol:  # relative error is meaningless for entries that are ~0
                worst_rel = max(worst_rel, err / scale)
            checked += 1
            if not err <= atol + rtol * abs(numeric):
                index = tuple(int(j) for j in np.unravel_index(i, p.data.shape))
                failures.append(f"{name}{list(index)}: analytic {analytic:.6g} vs numerical "
                                f"{numeric:.6g}")
    model.zero_grad()
    data = {"checked": checked, "failures": failures}
    if failures:
        return Check("gradient_check", "fail", worst_rel,
                     f"{len(failures)} of {checked} gradient entries disagree with finite "
                     f"differences, e.g. {failures[0]}; a backward is wrong", data)
    return Check("gradient_check", "ok", worst_rel,
                 f"{checked} entries match finite differences in float64 "
                 f"(max relative error {worst_rel:.1e})", data)


def relu_activity(model, x) -> dict[str, float]:
    """Dead fraction (units that are 0 for every sample) of each ReLU in the model's graph."""
    model.eval()
    with enable_grad(), np.errstate(all="ignore"):
        out = model(Tensor(x))
    if not isinstance(out, Tensor) or out.grad_fn is None:
        return {}
    fractions: dict[str, float] = {}
    for node in reversed(topological_order([out.grad_fn])):  # forward order
        if type(node).__name__ != "Relu":
            continue
        (act,) = node.saved_tensors
        units = act.data.reshape(len(act.data), -1)
        path, kind = node.module if node.module else ("", "")
        label = f"{path or '<model>'} ({kind})" if kind else f"relu {len(fractions)}"
        while label in fractions:
            label += "'"
        fractions[label] = float(np.mean(np.all(units <= 0, axis=0)))
    return fractions


def _train_steps(model, loss, x, y, opt, steps: int, reg: float = 0.0,
                 stop_below: float | None = None) -> int:
    """Up to ``steps`` full-batch updates (fewer once the data loss is below ``stop_below``
    or not finite); returns the number of updates made."""
    from graphgrad.nn.regularizers import l2

    weights = [p for _, p in _weights(model)]
    xt, yt = Tensor(x), Tensor(y)
    with enable_grad(), np.errstate(all="ignore"):
        for step in range(steps):
            opt.zero_grad()
            data_loss = loss(model(xt), yt).mean()
            value = float(data_loss.data)
            if not math.isfinite(value) or (stop_below is not None and value <= stop_below):
                return step
            total = data_loss + l2(weights, reg) if reg and weights else data_loss
            total.backward()
            opt.step()
    return steps


def check_update_ratio(model, loss, x, y, make_opt, low: float, high: float) -> Check:
    """‖Δθ‖/‖θ‖ per weight tensor for one update in training mode."""
    model.train()
    weights = _weights(model)
    if not weights:
        return Check("update_ratio", "skip", None, "the model has no weight matrices")
    before = {n: p.data.astype(np.float64) for n, p in weights}
    _train_steps(model, loss, x, y, make_opt(), 1)
    ratios = {}
    with np.errstate(all="ignore"):
        for name, p in weights:
            delta = float(np.linalg.norm(p.data - before[name]))
            norm = float(np.linalg.norm(before[name]))
            ratios[name] = delta / norm if norm > 0 else (math.inf if delta > 0 else 0.0)
    values = [r if math.isfinite(r) else math.inf for r in ratios.values()]
    shown = ", ".join(f"{n} {r:.1e}" for n, r in ratios.items())
    worst = max(values, key=lambda r: abs(math.log10(r)) if 0 < r < math.inf else math.inf)
    if any(r > 1 for r in values):
        return Check("update_ratio", "fail", worst,
                     f"updates larger than the weights ({shown}); the learning rate is far too "
                     "high", {"ratios": ratios})
    if any(r > high for r in values):
        return Check("update_ratio", "warn", worst,
                     f"{shown}: above {high:g}; the learning rate is probably too high "
                     "(~1e-3 is healthy)", {"ratios": ratios})
    if any(r < low for r in values):
        return Check("update_ratio", "warn", worst,
                     f"{shown}: below {low:g}; the learning rate is probably too low "
                     "(~1e-3 is healthy)", {"ratios": ratios})
    return Check("update_ratio", "ok", worst, f"{shown} (~1e-3 is healthy)", {"ratios": ratios})


def check_dead_relu(at_init: dict[str, float], after: dict[str, float], steps: int,
                    threshold: float) -> Check:
    """Summarise dead-ReLU fractions at initialisation and after ``steps`` updates."""
    if not at_init:
        return Check("dead_relu", "skip", None, "no ReLU in the model's graph")
    worst = max(max(at_init.values()), max(after.values(), default=0.0))
    data = {"at_init": at_init, "after_updates": after, "steps": steps}
    init_text = max(at_init.values())
    after_text = max(after.values(), default=float("nan"))
    text = (f"largest dead fraction {init_text:.0%} at initialisation, {after_text:.0%} after "
            f"{steps} updates")
    if worst > threshold:
        return Check("dead_relu", "warn", worst,
                     f"{text}: above {threshold:.0%}; lower the learning rate or check the "
                     "initialisation and biases", data)
    return Check("dead_relu", "ok", worst, text, data)


def check_overfit(initial: float, final: float, n: int, steps: int, tolerance: float) -> Check:
    """Did ``steps`` updates on ``n`` samples bring the loss to about 0?"""
    data = {"initial": initial, "final": final, "samples": n, "steps": steps}
    if not math.isfinite(final):
        return Check("overfit", "fail", final,
                     f"the loss diverged (NaN/inf) after {steps} updates on {n} samples; the "
                     "learning rate is too high", data)
    text = f"loss {initial:.4f} -> {final:.4f} on {n} samples in {steps} updates"
    if final <= tolerance * initial:
        return Check("overfit", "ok", final,
                     f"{text}, below {tolerance:g} of the start (regularisation off)", data)
    status = "warn" if final < 0.5 * initial else "fail"
    return Check("overfit", status, final,
                 f"{text}: cannot overfit a tiny set; the learning rate may be too low or too "
                 "high, or the model or loss is broken", data)


def check_regularization(plain: float, regularized: float, lam: float) -> Check:
    """With the L2 penalty on, the final data loss must be higher than without."""
    data = {"without": plain, "with": regularized, "lambda": lam}
    text = f"final data loss {plain:.4f} without, {regularized:.4f} with L2 λ={lam:g}"
    if not (math.isfinite(plain) and math.isfinite(regularized)):
        return Check("regularization", "skip", None, f"{text}: a run diverged", data)
    if regularized > plain * 1.05 + 1e-4:
        return Check("regularization", "ok", regularized,
                     f"{text}: regularisation raises the loss, as it should", data)
    return Check("regularization", "warn", regularized,
                 f"{text}: the penalty did not raise the loss; is it too weak?", data)


# -- the report ---------------------------------------------------------------------------


def babysit(model, loss, data, *, optimizer: str | Callable = "adam", lr: float = 1e-3,
            optimizer_kwargs: dict | None = None, n_samples: int = 64, n_gradcheck: int = 4,
            gradcheck_coords: int = 8, n_overfit: int = 20, overfit_steps: int = 1000,
            overfit_tolerance: float = 0.05, regularization: float = 0.1,
            probe_steps: int = 5, chance: float | None = None,
            initial_loss_factor: float = 2.0, ratio_range: tuple[float, float] = (1e-4, 1e-1),
            dead_relu_threshold: float = 0.25, seed: int = 0,
            verbose: bool = True) -> BabysitReport:
    """Run the babysitting checks (see the module docstring) and return the report.

    ``data``: ``(x, y)``, an ArrayDataset or a DataLoader (seeded subsets are
    used: ``n_samples`` for the loss, ReLU and update checks, ``n_gradcheck``
    for the gradient check, ``n_overfit`` for overfitting). ``optimizer``
    (registry name or factory ``f(params, lr=..., **optimizer_kwargs)``) and
    ``lr`` are what you plan to train with. ``chance`` overrides the chance-level
    loss. The model, its modes and all random states are restored afterwards.
    Prints the table when ``verbose``.
    """
    x, y = sample_arrays(data, n_samples, seed, "babysit")

    def make_opt():
        return make_optimizer(optimizer, list(model.parameters()), lr, optimizer_kwargs,
                              "babysit")

    checks = []
    with borrowed(model) as start, np.errstate(all="ignore"):
        checks.append(check_symmetric_init(model))
        model.eval()
        n_classes = _n_classes(model, x)
        checks.append(check_initial_loss(model, loss, x, y, chance if chance is not None
                                         else chance_loss(loss, n_classes),
                                         initial_loss_factor))
        at_init = relu_activity(model, x)
        ratio = check_update_ratio(model, loss, x, y, make_opt, *ratio_range)
        model.load_state_dict(start)
        model.train()
        _train_steps(model, loss, x, y, make_opt(), probe_steps)
        after = relu_activity(model, x)
        xo, yo = x[:n_overfit], y[:n_overfit]
        model.load_state_dict(start)
        model.eval()
        initial = loss_value(model, loss, Tensor(xo), Tensor(yo))
        used = _train_steps(model, loss, xo, yo, make_opt(), overfit_steps,
                            stop_below=overfit_tolerance * initial)
        plain = loss_value(model, loss, Tensor(xo), Tensor(yo))
        model.load_state_dict(start)  # the same number of steps again, with the L2 penalty
        _train_steps(model, loss, xo, yo, make_opt(), max(used, 1), regularization)
        regularized = loss_value(model, loss, Tensor(xo), Tensor(yo))
        model.load_state_dict(start)
        grads = check_gradients(model, loss, x[:n_gradcheck], y[:n_gradcheck], gradcheck_coords,
                                1e-6, 1e-5, 1e-3, seed)
    checks += [grads, check_dead_relu(at_init, after, probe_steps, dead_relu_threshold), ratio,
               check_overfit(initial, plain, len(xo), used, overfit_tolerance),
               check_regularization(plain, regularized, regularization)]
    report = BabysitReport(checks)
    if verbose:
        print(report.table())
    return report


def _n_classes(model, x) -> int:
    with no_grad():
        out = model(Tensor(x[:2]))
    return int(out.shape[1]) if out.ndim == 2 else 1
