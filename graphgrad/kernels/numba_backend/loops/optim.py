"""Numba loops for the in-place optimizer updates: one pass, no temporaries.

Each mirrors its NumPy twin in ``reference.py`` operation for operation (the
hyper-parameters are cast to the parameter's dtype first, as NumPy's weak
Python scalars are), so the two agree to rounding.  The arrays are flat views
of C-contiguous parameters and state; the update happens in place.

This module is Numba code, loaded lazily by the first kernel call.
"""

from __future__ import annotations

import math

from graphgrad.kernels.numba_backend._jit import kernel


@kernel
def _sign(p, one):
    # np.sign: ±1, 0 at 0, NaN at NaN
    return one if p > 0 else (-one if p < 0 else p)


@kernel
def sgd_update(param, grad, buf, lr, momentum, nesterov, weight_decay, l1):
    """d = ∇ + λ₂θ + λ₁·sign θ;  u ← γu − ηd;  θ ← θ + u (nesterov: θ + γu − ηd);  γ = 0: θ − ηd."""
    t = param.dtype.type
    lr_, mu, wd, l1_, one = t(lr), t(momentum), t(weight_decay), t(l1), t(1)
    for i in range(param.size):
        p = param[i]
        d = grad[i]
        if weight_decay != 0:
            d = d + wd * p
        if l1 != 0:
            d = d + l1_ * _sign(p, one)
        if momentum != 0:
            u = mu * buf[i] - lr_ * d
            buf[i] = u
            param[i] = p + (mu * u - lr_ * d if nesterov else u)
        else:
            param[i] = p - lr_ * d


@kernel
def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay):
    """m ← β₁m + (1−β₁)d;  v ← β₂v + (1−β₂)d²;  θ ← θ − η·m̂ / (√v̂ + ε)  (bias-corrected)."""
    t = param.dtype.type
    lr_, b1, b2, eps_, wd = t(lr), t(beta1), t(beta2), t(eps), t(weight_decay)
    a1, a2 = t(1.0 - beta1), t(1.0 - beta2)
    # Reciprocals of the bias corrections, taken once (no ``arcp`` flag does it
    # for us): both are ≥ 1 − β, far from the denormals where 1/c overflows.
    ic1, ic2 = t(1.0 / (1.0 - beta1**step)), t(1.0 / (1.0 - beta2**step))
    for i in range(param.size):
        p = param[i]
        d = grad[i]
        if weight_decay != 0:
            d = d + wd * p
        mi = m[i] * b1 + a1 * d
        vi = v[i] * b2 + a2 * d * d
        m[i] = mi
        v[i] = vi
        param[i] = p - lr_ * (mi * ic1) / (math.sqrt(vi * ic2) + eps_)


@kernel
def adagrad_update(param, grad, sum_sq, lr, eps, weight_decay):
    """s ← s + d²;  θ ← θ − η·d / (√s + ε)."""
    t = param.dtype.type
    lr_, eps_, wd = t(lr), t(eps), t(weight_decay)
    for i in range(param.size):
        p = param[i]
        d = grad[i]
        if weight_decay != 0:
            d = d + wd * p
        s = sum_sq[i] + d * d
        sum_sq[i] = s
        param[i] = p - lr_ * d / (math.sqrt(s) + eps_)


@kernel
def rmsprop_update(param, grad, sq_avg, lr, alpha, eps, weight_decay):
    """s ← αs + (1−α)d²;  θ ← θ − η·d / (√s + ε)."""
    t = param.dtype.type
    lr_, al, a1, eps_, wd = t(lr), t(alpha), t(1.0 - alpha), t(eps), t(weight_decay)
    for i in range(param.size):
        p = param[i]
        d = grad[i]
        if weight_decay != 0:
            d = d + wd * p
        s = sq_avg[i] * al + a1 * d * d
        sq_avg[i] = s
        param[i] = p - lr_ * d / (math.sqrt(s) + eps_)
