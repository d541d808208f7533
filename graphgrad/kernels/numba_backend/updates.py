"""Numba wrappers for the in-place optimizer updates (reference twins in reference.py).

The loop updates flat views, so the parameter and every state array must be
C-contiguous (a reshape of anything else would be a copy and the update would
be lost); otherwise, or with mixed dtypes or shapes, the NumPy twin runs.
Hyper-parameters are normalised to Python float/int/bool so each dtype
compiles once, not once per combination of argument types.
"""

from __future__ import annotations

import numpy as np

from graphgrad.kernels import reference as ref
from graphgrad.kernels.numba_backend._checks import c, flat, ok
from graphgrad.kernels.numba_backend._jit import lazy_module

_opt = lazy_module("graphgrad.kernels.numba_backend.loops.optim")


def _state_ok(param, *state) -> bool:
    if not (ok(param) and param.flags.c_contiguous and param.flags.writeable):
        return False
    for s in state:
        if not (type(s) is np.ndarray and s.dtype == param.dtype and s.shape == param.shape
                and s.flags.c_contiguous and s.flags.writeable):
            return False
    return True


def _grad(grad, param):
    if type(grad) is not np.ndarray or grad.shape != param.shape or grad.dtype != param.dtype:
        return None
    return flat(c(grad))


def sgd_update(param, grad, buf, lr, momentum, nesterov, weight_decay, l1):
    """One SGD step in place on `param` (and the velocity `buf`); see reference.sgd_update."""
    state = (buf,) if momentum else ()
    g = _grad(grad, param) if _state_ok(param, *state) else None
    if g is None:
        return ref.sgd_update(param, grad, buf, lr, momentum, nesterov, weight_decay, l1)
    u = flat(buf) if momentum else flat(param)  # never read when momentum == 0
    _opt.sgd_update(flat(param), g, u, float(lr), float(momentum), bool(nesterov),
                    float(weight_decay), float(l1))


def adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay):
    """One Adam step in place; see reference.adam_update."""
    g = _grad(grad, param) if _state_ok(param, m, v) else None
    if g is None:
        return ref.adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay)
    _opt.adam_update(flat(param), g, flat(m), flat(v), float(lr), float(beta1), float(beta2),
                     float(eps), int(step), float(weight_decay))


def adagrad_update(param, grad, sum_sq, lr, eps, weight_decay):
    """One Adagrad step in place; see reference.adagrad_update."""
    g = _grad(grad, param) if _state_ok(param, sum_sq) else None
    if g is None:
        return ref.adagrad_update(param, grad, sum_sq, lr, eps, weight_decay)
    _opt.adagrad_update(flat(param), g, flat(sum_sq), float(lr), float(eps),
                        float(weight_decay))


def rmsprop_update(param, grad, sq_avg, lr, alpha, eps, weight_decay):
    """One RMSprop step in place; see reference.rmsprop_update."""
    g = _grad(grad, param) if _state_ok(param, sq_avg) else None
    if g is None:
        return ref.rmsprop_update(param, grad, sq_avg, lr, alpha, eps, weight_decay)
    _opt.rmsprop_update(flat(param), g, flat(sq_avg), float(lr), float(alpha), float(eps),
                        float(weight_decay))

