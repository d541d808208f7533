"""Built-in full-batch optimizers that use curvature: ``lbfgs`` and ``newton``.

Both need a closure that re-evaluates the model, both treat all parameters
as one flat vector θ ∈ ℝⁿ, and both work in float64 internally (the
parameters keep their dtype).  Registered exactly as a third-party plugin would.
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import Optimizer, Tensor


# ---------------------------------------------------------------- flat vectors
def _flat_params(params) -> np.ndarray:
    return np.concatenate([p.data.ravel().astype(np.float64) for p in params])


def _set_flat_params(params, flat: np.ndarray) -> None:
    offset = 0
    for p in params:
        n = p.data.size
        p.data[...] = flat[offset:offset + n].reshape(p.shape)
        p._bump_version()
        offset += n


def _flat_grad(params, grads=None) -> np.ndarray:
    grads = [p.grad for p in params] if grads is None else grads
    return np.concatenate([
        np.zeros(p.data.size) if g is None else np.asarray(g.data, np.float64).ravel()
        for p, g in zip(params, grads, strict=True)
    ])


def _loss_value(who: str, loss) -> float:
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        what = f"shape {loss.shape}" if isinstance(loss, Tensor) else type(loss).__name__
        raise TypeError(f"{who}: the closure must return the loss as a one-element Tensor, "
                        f"got {what}")
    return float(loss.item())


def _closure_required(who: str, closure) -> None:
    if closure is None:
        raise TypeError(f"{who}.step() needs a closure that re-evaluates the model and returns "
                        "the loss: optimizer.step(closure)")


# ---------------------------------------------------------------- line searches
def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimiser of the cubic through (x1, f1, f'=g1) and (x2, f2, f'=g2), clipped to bounds."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2
    d2 = np.sqrt(d2_square)
    if x1 <= x2:
        t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return float(min(max(t, lo), hi))


def strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Step length t along d meeting the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5-3.6).

    f(θ + td) ≤ f(θ) + c₁·t·∇fᵀd   and   |∇f(θ + td)ᵀd| ≤ c₂·|∇fᵀd|.
    Brackets an acceptable step (growing t by cubic extrapolation), then zooms
    in by safeguarded cubic interpolation.  ``evaluate(t) -> (f, grad)``.
    Returns ``(f_new, g_new, t, evaluations)``.
    """
    d_norm = np.abs(d).max()
    f_new, g_new = evaluate(t)
    evals, ls_iter = 1, 0
    gtd_new = g_new @ d
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev) or gtd_new >= 0:
            bracket, b_f = [t_prev, t], [f_prev, f_new]
            b_g, b_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, b_f, b_g, b_gtd, done = [t], [f_new], [g_new], [gtd_new], True
            break
        t_next = _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - t_prev), 10 * t))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals, ls_iter = evals + 1, ls_iter + 1
        gtd_new = g_new @ d
    else:
        bracket, b_f, b_g, b_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    insufficient = False
    low, high = (0, 1) if b_f[0] <= b_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(bracket[0], b_f[0], b_gtd[0], bracket[1], b_f[1], b_gtd[1])
        # Safeguard: stay a tenth of the bracket away from its ends, unless stuck there.
        lo, hi = min(bracket), max(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insufficient or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals, ls_iter = evals + 1, ls_iter + 1
        gtd_new = g_new @ d
        if f_new > f + c1 * t * gtd or f_new >= b_f[low]:
            bracket[high], b_f[high], b_g[high], b_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if b_f[0] <= b_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], b_f[high] = bracket[low], b_f[low]
                b_g[high], b_gtd[high] = b_g[low], b_gtd[low]
            bracket[low], b_f[low], b_g[low], b_gtd[low] = t, f_new, g_new, gtd_new
    return b_f[low], b_g[low], bracket[low], evals


def backtracking(evaluate, t, d, f, g, gtd, c1=1e-4, shrink=0.5, max_ls=25):
    """Armijo backtracking: halve t until  f(θ + td) ≤ f(θ) + c₁·t·∇fᵀd.

    ``evaluate(t) -> (f, grad)``; returns ``(f_new, g_new, t, evaluations)``.
    """
    for evals in range(1, max_ls + 1):
        f_new, g_new = evaluate(t)
        if f_new <= f + c1 * t * gtd or evals == max_ls:
            return f_new, g_new, t, evals
        t *= shrink
    raise AssertionError("unreachable")


_LINE_SEARCHES = {"strong_wolfe": strong_wolfe, "backtracking": backtracking}


# ---------------------------------------------------------------------- L-BFGS
class LBFGS(Optimizer):
    """Limited-memory BFGS on the full batch (PyTorch's algorithm, after minFunc).

    Keeps the last m pairs s_k = θ_{k+1} − θ_k, y_k = ∇L_{k+1} − ∇L_k
    (``history_size`` m) and forms d = −H∇L by the two-loop recursion, with
    H₀ = (sᵀy / yᵀy)·I; pairs with sᵀy ≤ 1e-10 are skipped so H stays positive
    definite.  The step θ ← θ + t·d takes t from a strong-Wolfe line search
    (default), Armijo ``"backtracking"``, or t = lr (``line_search_fn=None``).
    One ``step(closure)`` runs up to ``max_iter`` iterations and stops early
    when max|∇L| ≤ ``tolerance_grad`` or the loss or step changes by less than
    ``tolerance_change``.  The closure zeroes the grads, computes the loss,
    calls ``backward()`` and returns the loss.  One param group only.
    """

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn="strong_wolfe"):
        if line_search_fn is not None and line_search_fn not in _LINE_SEARCHES:
            raise ValueError(f"LBFGS: line_search_fn must be None or one of "
                             f"{sorted(_LINE_SEARCHES)}, got {line_search_fn!r}")
        if not (isinstance(max_iter, int) and max_iter >= 1):
            raise ValueError(f"LBFGS: max_iter must be an integer >= 1, got {max_iter!r}")
        if not (isinstance(history_size, int) and history_size >= 1):
            raise ValueError(f"LBFGS: history_size must be an integer >= 1, got {history_size!r}")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS works on one param group (all parameters form one vector); "
                             f"got {len(self.param_groups)} groups")

    def _evaluate_flat(self, closure, params) -> tuple[float, np.ndarray]:
        loss = _loss_value("LBFGS", self._evaluate(closure))
        return loss, _flat_grad(params)

    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss before them."""
        _closure_required("LBFGS", closure)
        group = self.param_groups[0]
        params = group["params"]
        lr, history_size = float(group["lr"]), group["history_size"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state.setdefault(params[0], {"func_evals": 0, "n_iter": 0})

        orig_loss = self._evaluate(closure)
        loss = _loss_value("LBFGS", orig_loss)
        g = _flat_grad(params)
        evals = 1
        state["func_evals"] += 1
        if np.abs(g).max() <= tol_grad:
            return orig_loss

        old_dirs, old_stps = list(state.get("old_dirs", [])), list(state.get("old_stps", []))
        h_diag = state.get("H_diag", 1.0)
        d, t = state.get("d"), state.get("t", lr)
        prev_g, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")
        n_iter = 0
        while n_iter < group["max_iter"]:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1 or d is None:
                d, old_dirs, old_stps, h_diag = -g, [], [], 1.0
            else:
                y, s = g - prev_g, d * t
                ys = y @ s
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    h_diag = ys / (y @ y)
                d = _two_loop(g, old_dirs, old_stps, h_diag)
            prev_g, prev_loss = g.copy(), loss
            t = min(1.0, 1.0 / np.abs(g).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = g @ d
            if gtd > -tol_change:  # not a descent direction any more
                break

            x0 = _flat_params(params)
            search = group["line_search_fn"]
            if search is not None:
                def evaluate(step, x0=x0, d=d):
                    _set_flat_params(params, x0 + step * d)
                    return self._evaluate_flat(closure, params)

                loss, g, t, ls_evals = _LINE_SEARCHES[search](evaluate, t, d, loss, g, gtd)
                _set_flat_params(params, x0 + t * d)
            else:
                _set_flat_params(params, x0 + t * d)
                ls_evals = 0
                if n_iter != group["max_iter"]:
                    loss, g = self._evaluate_flat(closure, params)
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if (n_iter == group["max_iter"] or evals >= group["max_eval"]
                    or np.abs(g).max() <= tol_grad or np.abs(d * t).max() <= tol_change
                    or abs(loss - prev_loss) < tol_change):
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, H_diag=float(h_diag),
                     prev_flat_grad=prev_g, prev_loss=prev_loss)
        return orig_loss


def _two_loop(g, old_dirs, old_stps, h_diag) -> np.ndarray:
    """d = −H·g by the L-BFGS two-loop recursion over the stored (s, y) pairs."""
    rho = [1.0 / (y @ s) for y, s in zip(old_dirs, old_stps, strict=True)]
    q = -g
    alpha = [0.0] * len(old_dirs)
    for i in reversed(range(len(old_dirs))):
        alpha[i] = rho[i] * (old_stps[i] @ q)
        q = q - alpha[i] * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        beta = rho[i] * (old_dirs[i] @ r)
        r = r + old_stps[i] * (alpha[i] - beta)
    return r


# ---------------------------------------------------------------------- Newton
class Newton(Optimizer):
    """Newton's method with the exact Hessian:  θ ← θ − η·(|H| + δI)⁻¹∇L.

    H is built from double backward: ∇L with ``create_graph=True``, then one
    Hessian-vector product per parameter, Hᵢ = ∂(eᵢᵀ∇L)/∂θ — n backward passes
    and n² memory, so models with more than ``max_params`` (default 2000)
    parameters are refused.  The damping δ (default 1e-10) only guards the
    solve: a well-conditioned quadratic is solved in one step with lr = 1.
    Where H has negative eigenvalues (far from a minimum) their signs are
    flipped, H → |H| (saddle-free Newton), so the step always points downhill
    instead of towards a saddle point or a maximum.

    The closure computes and returns the loss *without* calling backward
    (Newton differentiates it twice itself).
    """

    max_params = 2000
    closure_backward = False  # the closure only returns the loss (see gg.check.optimizer)

    def __init__(self, params, lr=1.0, damping=1e-10, max_params=None):
        super().__init__(params, dict(lr=lr, damping=damping))
        if max_params is not None:
            self.max_params = int(max_params)
        n = sum(p.data.size for p in self._params())
        if n > self.max_params:
            raise ValueError(
                f"Newton: the model has {n} parameters but the exact Hessian is limited to "
                f"max_params={self.max_params} ({n}² entries and {n} backward passes per "
                "step); use gg.optimizers.LBFGS, or pass max_params= if you have the memory"
            )

    def _check_group(self, group):
        super()._check_group(group)
        damping = group["damping"]
        if not (isinstance(damping, (int, float)) and np.isfinite(damping) and damping >= 0):
            raise ValueError(f"Newton: damping must be a finite number >= 0, got {damping!r}")

    def hessian(self, loss, params) -> tuple[np.ndarray, np.ndarray]:
        """(∇L, H) of a loss with a graph, flat over `params`, in float64."""
        try:
            grads = gg.grad(loss, params, create_graph=True, allow_unused=True)
        except RuntimeError as exc:
            if "second time" not in str(exc):
                raise
            raise RuntimeError("Newton: the closure called backward(), which freed the graph; "
                               "return the loss without calling backward") from exc
        g = _flat_grad(params, grads)
        live = [(k, gk) for k, gk in enumerate(grads) if gk is not None and gk.requires_grad]
        sizes = [p.data.size for p in params]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        hess = np.zeros((g.size, g.size))
        if not live:  # the gradient is constant: H = 0
            return g, hess
        for j in range(g.size):
            seeds = []
            for k, gk in live:
                seed = np.zeros(gk.shape, gk.dtype)
                if offsets[k] <= j < offsets[k + 1]:
                    seed.flat[j - offsets[k]] = 1
                seeds.append(seed)
            rows = gg.grad([gk for _, gk in live], params, grad_outputs=seeds,
                           retain_graph=True, allow_unused=True)
            hess[j] = _flat_grad(params, rows)
        return g, (hess + hess.T) / 2

    def step(self, closure=None):
        """One Newton step on all parameters; returns the loss before it."""
        _closure_required("Newton", closure)
        loss = self._evaluate(closure)
        _loss_value("Newton", loss)
        if not loss.requires_grad:
            raise RuntimeError("Newton: the loss returned by the closure does not depend on the "
                               "parameters (no graph); compute it from them with grad enabled")
        params = self._params()
        with gg.enable_grad():
            g, hess = self.hessian(loss, params)
        group = self.param_groups[0]
        delta = _damped_solve(hess, g, float(group["damping"]))
        with gg.no_grad():
            _set_flat_params(params, _flat_params(params) - float(group["lr"]) * delta)
        state = self.state.setdefault(params[0], {"step": 0})
        state["step"] += 1
        return loss

    def add_param_group(self, group):
        if self.param_groups:
            raise ValueError("Newton works on one param group (the Hessian couples all "
                             "parameters); put every parameter in one group")
        super().add_param_group(group)


def _damped_solve(hess: np.ndarray, g: np.ndarray, damping: float) -> np.ndarray:
    """x = (|H| + δI)⁻¹ g, with |H| = V·|Λ|·Vᵀ from the eigendecomposition H = V·Λ·Vᵀ.

    For a positive definite H this is the damped Newton step (H + δI)⁻¹g; a
    negative eigenvalue has its sign flipped (saddle-free Newton), so −x is
    always a descent direction: gᵀx = Σ (vᵢᵀg)² / (|λᵢ| + δ) > 0.
    """
    if not np.all(np.isfinite(hess)):
        raise FloatingPointError("Newton: the Hessian has inf or NaN entries; is the loss "
                                 "finite and twice differentiable at the current parameters?")
    eigenvalues, vectors = np.linalg.eigh(hess)
    return vectors @ ((vectors.T @ g) / (np.abs(eigenvalues) + damping))


@gg.hookimpl
def graphgrad_register_optimizers():
    """The built-in second-order optimizers."""
    return [LBFGS, Newton]
