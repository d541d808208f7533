"""Checks: gradcheck, gradgradcheck and the full Jacobian.

`gradcheck` compares the analytic Jacobian (one backward pass per output
element) with central differences  (f(x + εe_i) − f(x − εe_i)) / 2ε  in float64.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd import enable_grad, no_grad, run_backward
from graphgrad.autograd import grad as _grad
from graphgrad.autograd.tensor import Tensor


class GradcheckError(RuntimeError):
    """Analytic and numerical gradients disagree."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def _to_float64(inputs):
    out = []
    for x in _as_tuple(inputs):
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            out.append(Tensor(x.data.astype(np.float64), requires_grad=x.requires_grad,
                              name=x.name))
        else:
            out.append(x)
    return out


def _outputs(fn, inputs):
    outs = _as_tuple(fn(*inputs))
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: fn must return Tensors, got {type(o).__name__}")
    return outs


def _analytic_jacobians(outs, diff_inputs):
    """J[k] for each differentiable input k: shape (total outputs, input size)."""
    total = sum(o.data.size for o in outs)
    jac = [np.zeros((total, x.data.size)) for x in diff_inputs]
    row = 0
    for o in outs:
        for j in range(o.data.size):
            if o.requires_grad:
                seed = np.zeros(o.shape, dtype=o.dtype)
                seed.flat[j] = 1
                grads = run_backward([o], [Tensor._wrap(seed)], retain_graph=True,
                                     inputs=list(diff_inputs))
                for k, g in enumerate(grads):
                    if g is not None:
                        jac[k][row] = g.data.ravel()
            row += 1
    return jac


def _numeric_jacobians(fn, inputs, diff_idx, eps):
    def flat_out():
        with no_grad():
            return np.concatenate([o.data.ravel().astype(np.float64)
                                   for o in _outputs(fn, inputs)])

    jac = []
    for k in diff_idx:
        x = inputs[k].data
        cols = []
        for i in range(x.size):
            orig = x.flat[i]
            x.flat[i] = orig + eps
            plus = flat_out()
            x.flat[i] = orig - eps
            minus = flat_out()
            x.flat[i] = orig
            cols.append((plus - minus) / (2 * eps))
        jac.append(np.stack(cols, axis=1) if cols else np.zeros((len(flat_out()), 0)))
    return jac


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True) -> bool:
    """Check fn's analytic gradients against central differences, in float64.

    fn takes the inputs and returns a Tensor (or a tuple of them).  Every
    floating input with ``requires_grad=True`` is checked: |analytic − numeric|
    ≤ atol + rtol·|numeric| must hold for every Jacobian entry.  Returns True,
    or raises GradcheckError naming the input, the worst element and both values.
    """
    inputs = _to_float64(inputs)
    diff_idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck: no input has requires_grad=True; nothing to check")
    outs = _outputs(fn, inputs)
    analytic = _analytic_jacobians(outs, [inputs[i] for i in diff_idx])
    numeric = _numeric_jacobians(fn, inputs, diff_idx, eps)
    for k, a, n in zip(diff_idx, analytic, numeric):
        err = np.abs(a - n) - (atol + rtol * np.abs(n))
        if err.size and err.max() > 0:
            row, col = np.unravel_index(np.argmax(err), err.shape)
            x = inputs[k]
            where = np.unravel_index(col, x.shape) if x.shape else ()
            label = f"input {k}" + (f" ({x.name!r})" if x.name else "")
            message = (
                f"gradcheck failed for {label} of shape {x.shape}: at input element "
                f"{tuple(int(i) for i in where)}, output element {int(row)}, analytic "
                f"{a[row, col]:.6g} vs numerical {n[row, col]:.6g} (atol={atol}, rtol={rtol})"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, seed=0) -> bool:
    """Check second derivatives: gradcheck of  (x, v) ↦ ∂(v·fn(x))/∂x  built with create_graph."""
    inputs = _to_float64(inputs)
    outs = _outputs(fn, inputs)
    rng = np.random.default_rng(seed)
    if grad_outputs is None:
        vs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    else:
        vs = [Tensor(np.asarray(getattr(v, "data", v), dtype=np.float64), requires_grad=True)
              for v in _as_tuple(grad_outputs)]
    n = len(inputs)

    def first_derivative(*args):
        xs, v = list(args[:n]), list(args[n:])
        used = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        with enable_grad():  # the numerical pass runs fn under no_grad
            grads = _grad(list(_outputs(fn, xs)), used, v, create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, list(inputs) + vs, eps, atol, rtol, raise_exception)


def jacobian(fn, x) -> np.ndarray:
    """The full Jacobian ∂fn(x)/∂x as an array of shape out.shape + x.shape.

    One backward pass per output element (exact, not finite differences).  For
    the lecture's 15 → 10 layer, a_l = W x_l with W of shape (10, 15) gives a
    (10, 15) Jacobian, equal to W.
    """
    if not isinstance(x, Tensor):
        x = Tensor(x)
    x = Tensor(x.data, requires_grad=True, name=x.name)
    out = fn(x)
    if not isinstance(out, Tensor):
        raise TypeError(f"jacobian: fn must return one Tensor, got {type(out).__name__}")
    (jac,) = _analytic_jacobians([out], [x])
    return jac.reshape(out.shape + x.shape)
