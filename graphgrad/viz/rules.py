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
    return [Finding("frozen", "info", "FROZEN", nodes=tuple(nodes[n] for n in names if n in nodes),
                    params=tuple(names), evidence={"count": len(names)},
                    advice="requires_grad is False: these parameters are not trained")]


@register_rule
def dead_units(ctx) -> list[Finding]:
    """A ReLU-like output with ≥ 90 % exact zeros (forward statistics): its units are dead."""
    out = []
    for n, d in ctx.graph.nodes(data=True):
        z = d["zero_frac"]
        if d["kind"] != "op" or z is None or z < DEAD_FRAC or "relu" not in (d["op"] or "").lower():
            continue
        out.append(Finding("dead_units", "warning", f"DEAD {percent(z)} of outputs",
                           nodes=(n,), evidence={"zero_frac": z, "mean": d["mean"]},
                           advice="the pre-activations are negative: check the bias/init "
                                  "(e.g. a large negative bias) and the learning rate"))
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
