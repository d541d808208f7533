"""Every learning-rate schedule of gg.schedules, plotted as η_t against the step t.

A schedule wraps an optimizer and writes η_t into its param groups at every
``schedule.step()``; each built-in one is a closed form in t (η₀ = ``--lr``):

    constant             η_t = η₀
    step_decay           η_t = η₀·γ^⌊t/T⌋
    inverse_decay        η_t = η₀ / (1 + εt)
    exponential_decay    η_t = η₀·e^(−εt)
    cosine               η_t = η_min + (η₀ − η_min)(1 + cos(π·min(t, T_max)/T_max)) / 2
    linear_warmup        η_t = η₀(s + (1 − s)t/W) for t < W, then η₀ (or the ``after`` schedule)
    noam                 η_t = η₀·f·d^(−½)·min((t+1)^(−½), (t+1)W^(−3/2))  (warm-up, then 1/√t)

The script steps each schedule ``--steps`` times exactly as a training loop
does (``optimizer.step()`` then ``schedule.step()``), reads the rate the
optimizer used at every step, prints a few of them, and writes
``lr_schedules.png`` into ``--out``: one panel per schedule (titled with its
arguments) and one with all of them on a log scale.

Schedules registered by outside plugins are drawn too when they can be built
from just the optimizer; the others are listed as skipped.

    python examples/lr_schedules.py --out pictures/
"""

from __future__ import annotations

import argparse
import math
import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # pictures go to files, no display needed

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import graphgrad as gg  # noqa: E402


def settings(steps: int) -> dict:
    """Constructor arguments of the built-in schedules for a run of `steps` steps.

    Each value is a function of the optimizer (``linear_warmup + cosine`` needs
    the optimizer to build its ``after`` schedule).
    """
    warmup = max(steps // 10, 1)
    return {
        "constant": lambda opt: {},
        "step_decay": lambda opt: {"step_size": max(steps // 4, 1), "gamma": 0.5},
        "inverse_decay": lambda opt: {"decay": 0.05},
        "exponential_decay": lambda opt: {"decay": 3.0 / steps},
        "cosine": lambda opt: {"T_max": max(int(steps * 0.8), 1), "eta_min": 0.0},
        "linear_warmup": lambda opt: {"warmup_steps": warmup, "start_factor": 0.1},
        "noam": lambda opt: {"d_model": 64, "warmup_steps": warmup,
                             "factor": math.sqrt(64 * warmup)},  # peak rate = η₀
        "linear_warmup + cosine": lambda opt: {
            "warmup_steps": warmup, "start_factor": 0.0,
            "after": gg.schedules.Cosine(opt, T_max=steps - warmup)},
    }


def run(schedule_class, kwargs_of, steps: int, lr: float) -> tuple[np.ndarray, str]:
    """The rate used at each of `steps` optimizer steps, and the arguments as text."""
    weight = gg.Parameter(np.zeros(1))
    optimizer = gg.optimizers.SGD([weight], lr=lr)
    kwargs = kwargs_of(optimizer)
    schedule = schedule_class(optimizer, **kwargs)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradient here: the step changes nothing, as intended
        schedule.step()
    shown = ", ".join(f"{k}={type(v).__name__ if isinstance(v, gg.optim.Schedule) else v}"
                      for k, v in kwargs.items())
    return np.array(rates), shown


def collect(steps: int, lr: float) -> tuple[dict, list[str]]:
    """Run every registered schedule; returns {label: (rates, args text)} and the skips."""
    known = settings(steps)
    curves, skipped = {}, []
    for name in gg.schedules.names():
        cls = gg.schedules[name]
        labels = [label for label in known if label.split(" + ")[0] == name] or [name]
        for label in labels:
            kwargs_of = known.get(label, lambda opt: {})
            try:
                rates, shown = run(cls, kwargs_of, steps, lr)
            except TypeError as exc:  # an outside schedule with required arguments
                skipped.append(f"{name}: needs arguments ({exc})")
                continue
            curves[label] = (rates, shown)
    return curves, skipped


def plot(curves: dict, steps: int, path: Path) -> None:
    """One panel per schedule plus one with every curve on a log scale."""
    n = len(curves) + 1
    cols = 4
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows), layout="constrained")
    t = np.arange(steps)
    overlay = fig.add_subplot(rows, cols, n)
    for i, (label, (rates, shown)) in enumerate(curves.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(t, rates, color=f"C{i % 10}")
        ax.set_ylim(bottom=0)
        title = f"{label}({shown})" if shown else label
        ax.set_title("\n".join(textwrap.wrap(title, 48)), fontsize=9)
        ax.set_xlabel("step t")
        ax.set_ylabel("η_t")
        ax.grid(alpha=0.3)
        overlay.plot(t, np.maximum(rates, 1e-6), color=f"C{i % 10}", label=label)
    overlay.set(yscale="log", xlabel="step t", title="all schedules (log scale, floored at 1e-6)")
    overlay.legend(fontsize=7)
    overlay.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    """Run the example with the command-line arguments `argv` (default: sys.argv).

    Returns what it measured and wrote, so tests can check it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.1, help="the starting rate η₀")
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the picture (default: here)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("GRAPHGRAD_EXAMPLE_QUICK") == "1",
                        help="20 steps (also GRAPHGRAD_EXAMPLE_QUICK=1)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    steps = 20 if args.quick else args.steps
    if steps < 2:
        parser.error(f"--steps must be at least 2, got {steps}")

    curves, skipped = collect(steps, args.lr)
    marks = sorted({0, steps // 10, steps // 4, steps // 2, steps - 1})
    print(f"{'schedule':<24}" + "".join(f"{'t=' + str(m):>10}" for m in marks))
    for label, (rates, _) in curves.items():
        print(f"{label:<24}" + "".join(f"{rates[m]:>10.4g}" for m in marks))
    for note in skipped:
        print(f"skipped {note}")

    picture = args.out / "lr_schedules.png"
    plot(curves, steps, picture)
    print(f"wrote {picture}")
    return {"curves": curves, "skipped": skipped, "picture": picture}


if __name__ == "__main__":
    main()
