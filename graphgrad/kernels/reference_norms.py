"""Pure-NumPy twins of the fused LayerNorm and RMSNorm kernels.

Each kernel normalises the trailing ``n_axes`` axes of ``x`` (one "row" per
leading index, D = the product of the trailing sizes).  The row statistics are
float64 whatever the input dtype (as the Numba loops accumulate), so the saved
``mean``/``rstd`` have the leading shape ``x.shape[:x.ndim − n_axes]`` and
dtype float64; outputs and gradients have the input's dtype.  ``weight`` and
``bias`` are None or arrays of the trailing shape.
"""

from __future__ import annotations

import numpy as np


def _rows(x, n_axes):
    lead = x.shape[:x.ndim - n_axes]
    return x.reshape(int(np.prod(lead, dtype=np.int64)),
                     int(np.prod(x.shape[x.ndim - n_axes:], dtype=np.int64))), lead


def layer_norm(x, weight, bias, n_axes, eps):
    """y = (x − μ)·r·γ + β per row, μ = mean(x), σ² = mean((x − μ)²), r = 1/√(σ² + eps).

    Returns (y, μ, r); μ and r (float64, the leading shape) are what the backward needs.
    """
    rows, lead = _rows(x, n_axes)
    wide = rows.astype(np.float64)
    mean = wide.mean(axis=1)
    centred = wide - mean[:, None]
    rstd = 1.0 / np.sqrt((centred * centred).mean(axis=1) + eps)
    y = centred * rstd[:, None]
    if weight is not None:
        y = y * weight.reshape(-1)
    if bias is not None:
        y = y + bias.reshape(-1)
    return y.astype(x.dtype).reshape(x.shape), mean.reshape(lead), rstd.reshape(lead)


def layer_norm_backward(g, x, mean, rstd, weight):
    """Adjoint of layer_norm: (∂x, ∂γ, ∂β) from ∂y = g.

    With x̂ = (x − μ)·r and ĝ = g·γ (g when there is no γ), per row of D:
    ∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂));  ∂γ = Σ_rows g·x̂,  ∂β = Σ_rows g
    (both of the trailing shape, computed even without γ/β: the op drops them).
    """
    n_axes = x.ndim - mean.ndim
    rows, _ = _rows(x, n_axes)
    gr = _rows(g, n_axes)[0].astype(np.float64)
    xhat = (rows.astype(np.float64) - mean.reshape(-1, 1)) * rstd.reshape(-1, 1)
    gw = gr * weight.reshape(-1) if weight is not None else gr
    dx = rstd.reshape(-1, 1) * (gw - gw.mean(axis=1, keepdims=True)
                                - xhat * (gw * xhat).mean(axis=1, keepdims=True))
    trailing = x.shape[x.ndim - n_axes:]
    return (dx.astype(x.dtype).reshape(x.shape),
            (gr * xhat).sum(axis=0).astype(x.dtype).reshape(trailing),
            gr.sum(axis=0).astype(x.dtype).reshape(trailing))


def rms_norm(x, weight, n_axes, eps):
    """y = x·r·γ per row, r = 1/√(mean(x²) + eps).  Returns (y, r), r float64 of the leading shape."""
    rows, lead = _rows(x, n_axes)
    wide = rows.astype(np.float64)
    rstd = 1.0 / np.sqrt((wide * wide).mean(axis=1) + eps)
    y = wide * rstd[:, None]
    if weight is not None:
        y = y * weight.reshape(-1)
    return y.astype(x.dtype).reshape(x.shape), rstd.reshape(lead)


def rms_norm_backward(g, x, rstd, weight):
    """Adjoint of rms_norm: (∂x, ∂γ) from ∂y = g.

    With x̂ = x·r and ĝ = g·γ: ∂x = r·(ĝ − x̂·mean(ĝ·x̂)),  ∂γ = Σ_rows g·x̂.
    """
    n_axes = x.ndim - rstd.ndim
    rows, _ = _rows(x, n_axes)
    gr = _rows(g, n_axes)[0].astype(np.float64)
    xhat = rows.astype(np.float64) * rstd.reshape(-1, 1)
    gw = gr * weight.reshape(-1) if weight is not None else gr
    dx = rstd.reshape(-1, 1) * (gw - xhat * (gw * xhat).mean(axis=1, keepdims=True))
    return (dx.astype(x.dtype).reshape(x.shape),
            (gr * xhat).sum(axis=0).astype(x.dtype).reshape(x.shape[x.ndim - n_axes:]))


KERNELS = {name: globals()[name] for name in
           ("layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward")}
