"""Describe a compiled step: ``step.explain()`` (text) and ``gg.to_dot(step)`` (the drawn plan)."""

from __future__ import annotations

from graphgrad.compile.recorder import root_of


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _ops(entry) -> str:
    names = []
    for op, phase in entry.ops:
        label = f"{op}.{phase}" if op and phase in ("forward", "backward") else (op or "?")
        if not names or names[-1] != label:
            names.append(label)
    return ", ".join(names)


def explain(step) -> str:
    """A report of `step`: each plan's entries, fused groups, fallbacks, memory and launches."""
    lines = [f"gg.compile of {step._name}: {step.recordings} recording(s), "
             f"{step.replays} replay(s)"]
    for op, why in step.fallbacks:
        lines.append(f"  runs eager: {op}: {why}")
    if step.evictions:
        lines.append(f"  re-recorded often: {step.evictions} plan(s) dropped "
                     f"(max_plans={step.max_plans}); last reason: {step.last_reason}")
    plan = step.plan
    if plan is None:
        lines.append("  no plan yet (a plan is built on the second call with one signature)")
        return "\n".join(lines)
    lines.append(f"plan (backend {plan.backend}): {len(plan.entries)} entries, "
                 f"{plan.launches} kernel launches per step (eager: {plan.eager_launches}), "
                 f"{len(plan.fused_groups)} fused kernel(s)")
    lines.append(f"buffers: {len(plan.buffers) + len(plan.inputs)} arrays, "
                 f"{_bytes(plan.buffer_bytes)}")
    for i, e in enumerate(plan.entries):
        where = f"  [{e.module}]" if e.module else ""
        if e.kind == "fused":
            g = e.source
            lines.append(f"{i:4d} fused    {e.label}: {' -> '.join(g.labels)}  "
                         f"({len(g.members)} kernels -> 1; loads {g.loads}, stores "
                         f"{g.stored}){where}")
        elif e.kind == "kernel":
            lines.append(f"{i:4d} kernel   {e.label}  ({_ops(e)}){where}")
        elif e.kind == "update":
            lines.append(f"{i:4d} update   {e.label}: {e.source} update kernel call(s), the "
                         "learning rate read from the param groups")
        elif e.kind == "segment":
            lines.append(f"{i:4d} python   {e.label}()  (replayed as Python: reads "
                         "hyperparameters and state live)")
        elif e.kind == "allreduce":
            size = sum(a.nbytes for a in e.reads)
            lines.append(f"{i:4d} allreduce {e.label}: {len(e.reads)} gradient buffer(s), "
                         f"{_bytes(size)}, summed over the MPI ranks (called live)")
        else:
            lines.append(f"{i:4d} grad     {e.label}")
    lines.extend(_depends(plan))
    if plan.fused_groups:
        lines.append("fused kernel sources: step.plan.fused_groups[i].source "
                     "(files under " + str(plan.fused_groups[0].path.parent) + ")")
    return "\n".join(lines)


def _depends(plan):
    """What a replay depends on besides its buffers: guarded values, constants, frozen numbers."""
    out = []
    if plan.watched:
        out.append("guarded Python values (closure cells and globals, compared at every call; "
                   "a change records again): " + ", ".join(plan.watched))
    if plan.constants:
        shown = ", ".join(f"{op} {shape}" for op, shape, _ in plan.constants[:8])
        more = f" and {len(plan.constants) - 8} more" if len(plan.constants) > 8 else ""
        out.append(f"constants (arrays made afresh with equal values in both recordings and "
                   f"no data origin): {shown}{more}")
    if plan.literals:
        out.append("numbers given to kernels (baked into the plan: guarded when they come from "
                   "a module attribute, an optimizer hyperparameter or a guarded value above, "
                   "otherwise frozen at recording):")
        seen = set()
        for value, kernel, op, module, where in plan.literals:
            key = (value, kernel, op, where)
            if key in seen:
                continue
            seen.add(key)
            place = f" at {where}" if where else ""
            owner = f" [{module}]" if module else ""
            out.append(f"  frozen: {value!r} read by {op or kernel} (kernel {kernel}){owner}"
                       f"{place}")
            if len(seen) >= 20:
                out.append("  ...")
                break
    return out


def to_dot(step, show_source: bool = False):
    """The latest plan of `step` as a ``graphviz.Digraph``.

    Each entry is a node in step order; a fused kernel is a cluster of the
    kernels it replaced; edges go from the entry that wrote a buffer to the
    entries that read it, labelled with the buffer's shape and size (a buffer
    written by two entries, i.e. reused in place, is marked ``reused``).
    """
    import graphviz

    plan = step.plan
    dot = graphviz.Digraph(name="plan", graph_attr={"rankdir": "TB", "fontsize": "10"},
                           node_attr={"fontsize": "10", "shape": "box", "style": "rounded"})
    if plan is None:
        dot.node("empty", "no plan yet: call the step twice with one signature")
        return dot
    dot.attr(label=f"gg.compile plan: {plan.launches} launches (eager {plan.eager_launches}), "
             f"{_bytes(plan.buffer_bytes)} of buffers", labelloc="t")
    writer = {}  # id(root) -> node name of the last entry writing it
    written_by = {}
    for pos, buf in plan.inputs:
        name = f"in{pos}"
        dot.node(name, f"input {pos}\n{buf.shape} {buf.dtype}", shape="ellipse")
        writer[id(buf)] = name
    for i, e in enumerate(plan.entries):
        name = f"e{i}"
        if e.kind == "fused":
            with dot.subgraph(name=f"cluster_{i}") as sub:
                sub.attr(label=f"{e.label} ({len(e.source.members)} kernels)", style="filled",
                         fillcolor="#eef5ff", color="#4a78c2")
                for k, m in enumerate(e.source.members):
                    sub.node(f"{name}_{k}", f"{m.entry.label}\n{_ops(m.entry)}",
                             fillcolor="white", style="rounded,filled")
                    if k:
                        sub.edge(f"{name}_{k - 1}", f"{name}_{k}", style="dotted")
                sub.node(name, e.label, shape="point")
            outs = [m.out for m in e.source.members]
        else:
            color = {"kernel": "black", "segment": "#8a5a00", "update": "#8a5a00",
                     "allreduce": "#6a1b9a", "grad": "#2f7d32"}[e.kind]
            text = e.label if e.kind != "kernel" else f"{e.label}\n{_ops(e)}"
            dot.node(name, text, color=color)
            outs = [w for w in e.writes if id(root_of(w)) not in {id(root_of(r))
                                                                 for r in e.reads}]
        for r in e.reads:
            src = writer.get(id(root_of(r)))
            if src is not None:
                dot.edge(src, name, label=f"{r.shape} {_bytes(r.nbytes)}", fontsize="8")
        for w in outs:
            key = id(root_of(w))
            if key in written_by and written_by[key] != name:
                dot.node(name, color="#c0392b")
            written_by[key] = name
            writer[key] = name
    if show_source and plan.fused_groups:
        for i, g in enumerate(plan.fused_groups):
            dot.node(f"src{i}", g.source.replace("\n", "\\l"), shape="note", fontname="monospace")
    return dot
