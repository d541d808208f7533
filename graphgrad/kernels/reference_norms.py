"""Pure-NumPy twins of the fused LayerNorm, RMSNorm and BatchNorm kernels.

Each kernel normalises the trailing ``n_axes`` axes of ``x`` (one "row" per
leading index, D = the product of the trailing sizes).  The row statistics are
float64 whatever the input dtype (as the Numba loops accumulate), so the saved
``mean``/``rstd`` have the leading shape ``x.shape[:x.ndim − n_axes]`` and
dtype float64; outputs and gradients have the input's dtype.  ``weight`` and
``bias`` are None or arrays of the trailing shape.

BatchNorm normalises per channel (axis 1) over the batch and spatial axes:
x of shape (N, C, ...) is read as (N, C, S), S the product of the spatial
sizes; its statistics are float64 of shape (C,), and ``weight``/``bias`` are
None or of shape (C,).
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
    """y = x·r·γ per row, r = 1/√(mean(x²) + eps).  Returns (y, r), r float64 of the leading
    shape."""
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


def _channels(x):
    return x.reshape(x.shape[0], x.shape[1], -1)


def batch_norm(x, weight, bias, mean, var, eps):
    """y = (x − μ)·r·γ + β per channel c (axis 1), r = 1/√(σ² + eps).

    ``mean``/``var`` None: the batch's statistics over N and the spatial axes,
    μ_c = mean x, σ²_c = mean (x − μ_c)² (biased, as the normalisation uses; the
    running update makes it unbiased), computed in float64.  Given (the running
    statistics, in eval mode), they are used as they are.  Returns (y, μ, σ²)
    with μ, σ² float64 of shape (C,): what the backward needs.
    """
    xs = _channels(x).astype(np.float64)
    if mean is None:
        mean = xs.mean(axis=(0, 2))
        centred = xs - mean[:, None]
        var = (centred * centred).mean(axis=(0, 2))
    else:
        mean = np.array(mean, dtype=np.float64).reshape(-1)  # copies: never a running buffer
        var = np.array(var, dtype=np.float64).reshape(-1)
        centred = xs - mean[:, None]
    scale = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        scale = scale * weight.reshape(-1)
    y = centred * scale[:, None]
    if bias is not None:
        y = y + bias.reshape(-1)[:, None]
    return y.astype(x.dtype).reshape(x.shape), mean, var


def batch_norm_backward(g, x, weight, mean, var, eps, batch_stats):
    """Adjoint of batch_norm: (∂x, ∂γ, ∂β) from ∂y = g, per channel over its M = N·S values.

    With r = 1/√(σ² + eps), x̂ = (x − μ)·r and ĝ = g·γ (g without γ):
    batch statistics (``batch_stats``, training): μ and σ² depend on x, so
    ∂x = r·(ĝ − γ·mean g − x̂·γ·mean(g·x̂)); given statistics (eval): ∂x = r·ĝ.
    ∂γ = Σ g·x̂, ∂β = Σ g (both (C,), computed even without γ/β: the op drops them).
    """
    xs, gs = _channels(x).astype(np.float64), _channels(g).astype(np.float64)
    r = (1.0 / np.sqrt(np.asarray(var, np.float64) + eps))[:, None]
    xhat = (xs - np.asarray(mean, np.float64)[:, None]) * r
    w = weight.reshape(-1)[:, None] if weight is not None else 1.0
    gw = gs * w
    if batch_stats:  # mean ĝ = γ·mean g, mean(ĝ·x̂) = γ·mean(g·x̂): the sums ∂β and ∂γ need
        dx = r * (gw - w * gs.mean(axis=(0, 2), keepdims=True)
                  - xhat * (w * (gs * xhat).mean(axis=(0, 2), keepdims=True)))
    else:
        dx = r * gw
    return (dx.astype(x.dtype).reshape(x.shape), (gs * xhat).sum(axis=(0, 2)).astype(x.dtype),
            gs.sum(axis=(0, 2)).astype(x.dtype))


KERNELS = {name: globals()[name] for name in
           ("layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward",
            "batch_norm", "batch_norm_backward")}
