"""Optimizers on a 2-D loss surface: SGD, momentum, Nesterov, Adagrad, RMSprop, Adam, Newton.

The point θ = (x, y) is a ``gg.Parameter`` and every optimizer comes from
``gg.optimizers``. Two surfaces:

* ``rosenbrock``: f(x, y) = (1 − x)² + 100·(y − x²)², a curved, narrow valley
  with its minimum f = 0 at (1, 1); start (−1.5, 2).
* ``quadratic``: f(θ) = ½ θᵀAθ with A = R·diag(1, 50)·Rᵀ, R a 30° rotation, an
  ill-conditioned bowl (condition number 50) with its minimum at (0, 0);
  start (−4, 3).

Each first-order method runs ``--steps`` steps with every learning rate of
the grid η ∈ {10⁻⁴, 10⁻³·⁵, …, 1} and keeps the one with the lowest final loss
(runs that diverge are dropped), so the comparison is between tuned methods.
Newton's method, θ ← θ − (|H| + δI)⁻¹∇f with the exact Hessian from double
backward, takes steps of length η = 1 and needs no tuning.

The script prints the chosen rate, the end point and the final loss of each
method and writes ``optimizer_paths_<surface>.png``: the trajectories over the
contour plot of f, and f(θ_t) against the step t.

    python examples/optimizer_paths.py --surface rosenbrock --out pictures/
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # pictures go to files, no display needed

import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import graphgrad as gg  # noqa: E402

LR_GRID = tuple(float(v) for v in np.logspace(-4, 0, 9))


def rosenbrock(p):
    """(1 − x)² + 100·(y − x²)²; works on a (2,) Parameter and on a (2, H, W) grid."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


_ROTATION = np.array([[math.cos(math.pi / 6), -math.sin(math.pi / 6)],
                      [math.sin(math.pi / 6), math.cos(math.pi / 6)]])
_A = _ROTATION @ np.diag([1.0, 50.0]) @ _ROTATION.T


def quadratic(p):
    """½ θᵀAθ = ½ (a₁₁x² + 2a₁₂xy + a₂₂y²), written elementwise so grids work too."""
    x, y = p[0], p[1]
    return 0.5 * (_A[0, 0] * x * x + 2 * _A[0, 1] * x * y + _A[1, 1] * y * y)


@dataclass(frozen=True)
class Surface:
    """A loss f(θ) on the plane, where to start, where its minimum is and what to draw."""

    f: object
    start: tuple[float, float]
    minimum: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]


SURFACES = {
    "rosenbrock": Surface(rosenbrock, (-1.5, 2.0), (1.0, 1.0), (-2.0, 2.0), (-1.0, 3.0)),
    "quadratic": Surface(quadratic, (-4.0, 3.0), (0.0, 0.0), (-5.0, 5.0), (-4.0, 4.0)),
}

OPTIMIZERS = {
    "SGD": lambda params, lr: gg.optimizers.SGD(params, lr=lr),
    "momentum": lambda params, lr: gg.optimizers.SGD(params, lr=lr, momentum=0.9),
    "Nesterov": lambda params, lr: gg.optimizers.SGD(params, lr=lr, momentum=0.9,
                                                     nesterov=True),
    "Adagrad": lambda params, lr: gg.optimizers.Adagrad(params, lr=lr),
    "RMSprop": lambda params, lr: gg.optimizers.RMSprop(params, lr=lr),
    "Adam": lambda params, lr: gg.optimizers.Adam(params, lr=lr),
    "Newton": lambda params, lr: gg.optimizers.Newton(params, lr=lr),
}


def trajectory(name: str, lr: float, surface: Surface, steps: int) -> np.ndarray:
    """The points θ₀ … θ_steps visited by optimizer `name`, shape (steps + 1, 2).

    Stops early (shorter array) once θ or f(θ) is no longer finite.
    """
    theta = gg.Parameter(np.array(surface.start, dtype=np.float64), name="theta")
    optimizer = OPTIMIZERS[name]([theta], lr)
    points = [theta.data.copy()]
    with np.errstate(all="ignore"):  # a diverging run overflows; it is detected below
        for _ in range(steps):
            if name == "Newton":  # the closure returns f; Newton differentiates it twice
                optimizer.step(lambda: surface.f(theta))
            else:
                optimizer.zero_grad()
                surface.f(theta).backward()
                optimizer.step()
            if not np.isfinite(theta.data).all():
                break
            points.append(theta.data.copy())
    return np.array(points)


def loss_along(surface: Surface, points: np.ndarray) -> np.ndarray:
    """f at each point of a trajectory."""
    with gg.no_grad(), np.errstate(all="ignore"):
        return surface.f(gg.tensor(points.T)).numpy()


def tune(name: str, surface: Surface, steps: int, grid) -> tuple[float, np.ndarray]:
    """The learning rate of `grid` with the lowest final loss, and its trajectory."""
    best = None
    for lr in grid:
        points = trajectory(name, lr, surface, steps)
        final = loss_along(surface, points[-1:])[0]
        if len(points) < steps + 1 or not math.isfinite(final):
            continue  # diverged
        if best is None or final < best[0]:
            best = (final, lr, points)
    if best is None:
        raise RuntimeError(f"{name}: every learning rate in {list(grid)} diverged")
    return best[1], best[2]


def plot(surface_name: str, surface: Surface, paths: dict, path: Path) -> None:
    """One contour panel per optimizer with its trajectory, and f(θ_t) against t for all."""
    fig = Figure(figsize=(15, 7.2), layout="constrained")
    axes = [fig.add_subplot(2, 4, i + 1) for i in range(8)]
    xs, ys = np.linspace(*surface.xlim, 300), np.linspace(*surface.ylim, 300)
    grid = np.stack(np.meshgrid(xs, ys))
    values = loss_along(surface, grid.reshape(2, -1).T).reshape(grid.shape[1:])
    levels = np.logspace(math.log10(max(values.min(), 1e-3)), math.log10(values.max()), 20)
    curve = axes[-1]
    for i, (name, (lr, points)) in enumerate(paths.items()):
        ax, color = axes[i], f"C{i}"
        ax.contour(xs, ys, values, levels=levels, norm=LogNorm(), cmap="Greys",
                   linewidths=0.5)
        ax.plot(points[:, 0], points[:, 1], ".-", color=color, lw=1.2, ms=2)
        ax.plot(*surface.start, "ks", ms=5)
        ax.plot(*surface.minimum, "k*", ms=10)
        ax.plot(points[-1, 0], points[-1, 1], "o", color=color, ms=6, mec="k")
        final = loss_along(surface, points[-1:])[0]
        ax.set(xlim=surface.xlim, ylim=surface.ylim, title=f"{name}, η={lr:.2g}: f={final:.2g}")
        ax.title.set_fontsize(10)
        losses = np.maximum(loss_along(surface, points), 1e-16)
        curve.plot(np.arange(1, len(losses) + 1), losses, color=color, label=name)
    curve.set(xscale="log", yscale="log", xlabel="step t + 1", title="f(θ_t), floored at 1e-16")
    curve.title.set_fontsize(10)
    curve.grid(alpha=0.3)
    curve.legend(fontsize=7)
    fig.suptitle(f"{surface_name}: start ■, minimum ★, end ●  ({len(points) - 1} steps)")
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    """Run the example with the command-line arguments `argv` (default: sys.argv).

    Returns what it measured and wrote, so tests can check it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surface", choices=sorted(SURFACES), default="rosenbrock")
    parser.add_argument("--steps", type=int, default=600, help="steps per optimizer")
    parser.add_argument("--out", type=Path, default=Path("."),
                        help="folder for the picture (default: here)")
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("GRAPHGRAD_EXAMPLE_QUICK") == "1",
                        help="20 steps and two learning rates (also GRAPHGRAD_EXAMPLE_QUICK=1)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    surface = SURFACES[args.surface]
    steps = 20 if args.quick else args.steps
    grid = (1e-3, 1e-2) if args.quick else LR_GRID

    paths = {}
    print(f"{args.surface}: start {surface.start}, minimum {surface.minimum}, {steps} steps")
    print(f"{'optimizer':<10} {'lr':>8}  {'end point':>24}  {'final f':>10}")
    for name in OPTIMIZERS:
        if name == "Newton":
            lr, points = 1.0, trajectory(name, 1.0, surface, steps)
        else:
            lr, points = tune(name, surface, steps, grid)
        paths[name] = (lr, points)
        end = ", ".join(f"{v:.4f}" for v in points[-1])
        print(f"{name:<10} {lr:>8.2g}  {'(' + end + ')':>24}  "
              f"{loss_along(surface, points[-1:])[0]:>10.3g}")

    picture = args.out / f"optimizer_paths_{args.surface}.png"
    plot(args.surface, surface, paths, picture)
    print(f"wrote {picture}")
    return {"paths": paths, "picture": picture}


if __name__ == "__main__":
    main()
