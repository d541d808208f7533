"""The built-in findings rules (see ``viz.finding``); each reads a `FindingContext`."""

from __future__ import annotations

from graphgrad.viz.finding import Finding, percent, register_rule

PROBABILITY_OPS = ("Softmax", "Sigmoid")
DEAD_FRAC = 0.9  # babysit's threshold for a dead layer
DEPTH_RATIO = 1e3  # first/last layer gradient-norm ratio beyond which depth is the problem


def _expects_logits(op: str | None) -> bool:
    return bool(op) and ("CrossEntropy" in op or "Logits" in op)


@register_rule
def probabilities_into_logits_loss(ctx) -> list[Finding]:
    """A Softmax/Sigmoid output fed straight into a loss that applies its own
    softmax/sigmoid (cross-entropy takes logits): the gradient is squashed twice."""
    g, out = ctx.graph, []
    for n, d in g.nodes(data=True):
        if d["kind"] != "op" or d["op"] not in PROBABILITY_OPS:
            continue
        losses = [v for v in g.successors(n) if _expects_logits(g.nodes[v]["op"])]
        if losses:
            loss = g.nodes[losses[0]]["op"]
            out.append(Finding(
                "probabilities_into_logits_loss", "error", "PROBABILITIES INTO LOGITS LOSS",
                nodes=(n, *losses), evidence={"activation": d["op"], "loss": loss},
                advice=f"{loss} expects logits and applies its own "
                       f"{d['op'].lower()}: drop the {d['op']} before the loss"))
    return out


@register_rule
def not_in_optimizer(ctx) -> list[Finding]:
    """Parameters of the model that require grad but are in no param group of the
    optimizer: they get gradients (never cleared by ``zero_grad``) and never move."""
    if ctx.model is None or ctx.optimizer is None or not hasattr(ctx.model, "named_parameters"):
        return []
    groups = getattr(ctx.optimizer, "param_groups", None)
    if groups is None:
        return []
    owned = {id(p) for group in groups for p in group["params"]}
    missing = [name for name, p in ctx.model.named_parameters()
               if p.requires_grad and id(p) not in owned]
    if not missing:
        return []
    nodes = ctx.param_nodes()
    return [Finding("not_in_optimizer", "warning", "NOT IN OPTIMIZER",
                    nodes=tuple(nodes[m] for m in missing if m in nodes), params=tuple(missing),
                    evidence={"count": len(missing)},
                    advice="pass model.parameters() (all of them) to the optimizer")]


@register_rule
def frozen(ctx) -> list[Finding]:
    """Parameters with ``requires_grad`` False (an info: frozen on purpose, or not)."""
    if ctx.model is None or not hasattr(ctx.model, "named_parameters"):
        return []
    names = [n for n, p in ctx.model.named_parameters() if not p.requires_grad]
    if not names:
        return []
    nodes = ctx.param_nodes()
    # the output of frozen layers whose ops were not recorded (Module.__call__ names it)
    cut = [n for n, d in ctx.graph.nodes(data=True)
           if d["kind"] != "op" and (d["name"] or "").endswith("(frozen: not recorded)")]
    return [Finding("frozen", "info", "FROZEN",
                    nodes=tuple(nodes[n] for n in names if n in nodes) + tuple(cut),
                    params=tuple(names), evidence={"count": len(names)},
                    advice="requires_grad is False: these parameters are not trained"
                           + (" (layers that only see frozen parameters and data record no "
                              "ops: drawn as their output)" if cut else ""))]


@register_rule
def dead_units(ctx) -> list[Finding]:
    """A ReLU-like output whose units (axis 1: features, or channels of a feature map)
    are ≥ 90 % dead, a unit dead when it is 0 for every sample and position (as
    ``gg.check.babysit`` counts them); without that statistic, ≥ 90 % exact zeros."""
    out = []
    for n, d in ctx.graph.nodes(data=True):
        if d["kind"] != "op" or "relu" not in (d["op"] or "").lower():
            continue
        dead, z = d["dead_frac"], d["zero_frac"]
        frac = dead if dead is not None else z
        if frac is None or frac < DEAD_FRAC:
            continue
        what = ("outputs" if dead is None else
                "channels" if len(d["shape"] or ()) > 2 else "units")
        out.append(Finding("dead_units", "warning", f"DEAD {percent(frac)} of {what}",
                           nodes=(n,), evidence={"dead_frac": dead, "zero_frac": z,
                                                 "mean": d["mean"]},
                           advice="the pre-activations are negative: check the bias/init "
                                  "(e.g. a large negative bias) and the learning rate"))
    return out


def _op_modules(graph, path) -> list:
    return [n for n, d in graph.nodes(data=True)
            if d["kind"] == "op" and d["module"] is not None
            and (d["module"] == path or d["module"].startswith(path + "."))]


@register_rule
def wrong_mode(ctx) -> list[Finding]:
    """A mode-dependent module (BatchNorm, Dropout) in the wrong mode for the graph:
    train mode in an evaluation graph (no backward ran through it and its root is
    not a scalar loss: predictions), eval mode in a training step (a backward ran).
    In train mode BatchNorm normalises by the batch and moves its running
    statistics; Dropout drops units."""
    g = ctx.graph
    modes = g.graph.get("module_modes") or {}
    if not modes:
        return []
    roots = [g.nodes[r] for r in g.graph.get("roots", ())]
    training = g.graph.get("backward_ran", False)
    evaluation = not training and roots and all(r["shape"] != () for r in roots)
    out = []
    for path, mode in modes.items():
        nodes = _op_modules(g, path)
        if not nodes:
            continue
        if mode == "train" and evaluation:
            out.append(Finding("wrong_mode", "warning", "TRAIN MODE IN EVALUATION",
                               nodes=tuple(nodes), evidence={"module": path, "mode": mode},
                               advice=f"{path or 'the model'} is in training mode in a "
                                      "forward-only graph: call model.eval() before "
                                      "evaluating (and model.train() after)"))
        elif mode == "eval" and training:
            out.append(Finding("wrong_mode", "warning", "EVAL MODE IN TRAINING",
                               nodes=tuple(nodes), evidence={"module": path, "mode": mode},
                               advice=f"{path or 'the model'} is in eval mode in a training "
                                      "step: call model.train() before training"))
    return out


@register_rule
def accumulated_gradients(ctx) -> list[Finding]:
    """Parameters whose ``.grad`` summed several backward calls (no ``zero_grad`` in
    between): each step then moves by the sum of all the gradients so far."""
    if ctx.model is None or not hasattr(ctx.model, "named_parameters"):
        return []
    if not ctx.graph.graph.get("backward_ran"):
        return []
    from graphgrad.autograd.engine import backward_count

    counts = {n: backward_count(p) for n, p in ctx.model.named_parameters()}
    grown = {n: c for n, c in counts.items() if c > 1}
    if not grown:
        return []
    nodes = ctx.param_nodes()
    most = max(grown.values())
    return [Finding("accumulated_gradients", "warning", f"GRAD SUMS {most} BACKWARDS",
                    nodes=tuple(nodes[n] for n in grown if n in nodes), params=tuple(grown),
                    evidence={"backward_calls": most, "count": len(grown)},
                    advice=f".grad summed {most} backward calls: call optimizer.zero_grad() "
                           "(or model.zero_grad()) before each backward")]


@register_rule
def shared_parameters(ctx) -> list[Finding]:
    """A parameter used by several modules (one weight in two layers): an info, so a
    share by accident is seen; ``shared: layers 2, 4``."""
    if ctx.model is None or not hasattr(ctx.model, "named_modules"):
        return []
    owners: dict[int, list[str]] = {}
    first: dict[int, str] = {}
    for path, m in ctx.model.named_modules():
        for name, p in m._direct_parameters():
            owners.setdefault(id(p), []).append(path)
            first.setdefault(id(p), f"{path}.{name}" if path else name)
    nodes = ctx.param_nodes()
    out = []
    for key, paths in owners.items():
        if len(paths) < 2:
            continue
        name = first[key]
        out.append(Finding("shared_parameters", "info", "shared: layers " + ", ".join(paths),
                           nodes=(nodes[name],) if name in nodes else (), params=(name,),
                           evidence={"modules": paths},
                           advice=f"{name} is one tensor used by {', '.join(paths)}; "
                                  "counted once (make a new layer if it was not meant)"))
    return out


@register_rule
def anomaly(ctx) -> list[Finding]:
    """The op where ``gg.detect_anomaly()`` found the first NaN/inf (the message says
    why: overflow of finite inputs, or a value outside the op's domain)."""
    out = []
    for n, d in ctx.graph.nodes(data=True):
        if d["anomaly"]:
            overflow = "overflow" in d["anomaly"]
            out.append(Finding("anomaly", "error", "OVERFLOW" if overflow else "FIRST NaN/inf",
                               nodes=(n,), evidence={"op": d["op"]}, advice=d["anomaly"]))
    return out


@register_rule
def gradient_across_depth(ctx) -> list[Finding]:
    """Vanishing/exploding gradients: the first layer's weight gradient norm over the
    last one's, ratio = ‖∇W_first‖ / ‖∇W_last‖, beyond 1/1000 or 1000."""
    g = ctx.graph
    weights = [n for n in g.graph["order"] if g.nodes[n]["kind"] == "parameter"
               and (g.nodes[n]["name"] or "").endswith("weight")
               and g.nodes[n]["grad_norm"] is not None] if "order" in g.graph else []
    if len(weights) < 3:
        return []
    first, last = g.nodes[weights[0]]["grad_norm"], g.nodes[weights[-1]]["grad_norm"]
    if not last or first != first or last != last:
        return []
    ratio = first / last
    if 1 / DEPTH_RATIO <= ratio <= DEPTH_RATIO:
        return []
    vanishing = ratio < 1 / DEPTH_RATIO
    return [Finding("gradient_across_depth", "warning",
                    "VANISHING GRADIENT" if vanishing else "EXPLODING GRADIENT",
                    nodes=(weights[0], weights[-1]),
                    params=(g.nodes[weights[0]]["name"], g.nodes[weights[-1]]["name"]),
                    evidence={"first": first, "last": last, "ratio": ratio,
                              "layers": len(weights)},
                    advice=(f"‖grad‖ first/last layer = {ratio:.2g}: use ReLU-family "
                            "activations, He/Xavier init, normalisation or residual links"
                            if vanishing else
                            f"‖grad‖ first/last layer = {ratio:.2g}: lower the learning "
                            "rate, clip gradients, normalise"))]
