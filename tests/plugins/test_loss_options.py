"""Loss options of issue 14: cross-entropy / NLL with weight, ignore_index,
label_smoothing and (N, C, d1, ...) / (C,) logits; BCE on probabilities;
BCE-with-logits pos_weight; KL divergence; smooth L1 / Huber; cosine embedding.
Values against NumPy closed forms (and torch when installed), gradients
against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.check import gradcheck

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((5, 4))
Y = np.array([0, 3, 1, -100, 2])
W = np.array([1.0, 2.0, 0.5, 1.5])
P = np.abs(RNG.standard_normal((5, 4)))
P /= P.sum(axis=1, keepdims=True)


def _log_softmax(z, axis=1):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def _ce_reference(z, y, w, eps, ignore=-100):
    """PyTorch's formula, written out: per-sample losses and the weighted mean."""
    logp = _log_softmax(z)
    keep = y != ignore
    safe = np.where(keep, y, 0)
    w_y = np.where(keep, w[safe], 0.0)
    c = z.shape[1]
    per = -(1 - eps) * w_y * logp[np.arange(len(y)), safe] \
        - np.where(keep, eps / c, 0.0) * (logp * w).sum(axis=1)
    return per, per.sum() / w_y.sum()


@pytest.mark.parametrize("weight", [None, W])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_options_match_the_formula(weight, eps):
    w = np.ones(4) if weight is None else weight
    per, mean = _ce_reference(Z, Y, w, eps)
    loss = gg.losses.CrossEntropy(weight=weight, label_smoothing=eps)
    np.testing.assert_allclose(loss(gg.tensor(Z), Y).data, mean, rtol=1e-12)
    none = gg.losses.CrossEntropy(weight=weight, label_smoothing=eps, reduction="none")
    np.testing.assert_allclose(none(gg.tensor(Z), Y).data, per, rtol=1e-12)
    assert gradcheck(lambda z: loss(z, Y), [gg.tensor(Z, requires_grad=True)])


def test_cross_entropy_spatial_and_single_sample_logits():
    z = RNG.standard_normal((2, 4, 3, 2))
    y = RNG.integers(0, 4, (2, 3, 2))
    y[0, 1, 1] = 7  # ignored below
    loss = gg.losses.CrossEntropy(weight=W, ignore_index=7, label_smoothing=0.1)
    rows = np.moveaxis(z, 1, -1).reshape(-1, 4)
    _, mean = _ce_reference(rows, y.reshape(-1), W, 0.1, ignore=7)
    np.testing.assert_allclose(loss(gg.tensor(z), y).data, mean, rtol=1e-12)
    assert loss.__class__(reduction="none")(gg.tensor(z), np.where(y == 7, 0, y)).shape == y.shape
    assert gradcheck(lambda t: loss(t, y), [gg.tensor(z, requires_grad=True)])
    single = gg.losses.CrossEntropy()(gg.tensor(Z[0]), np.array(2))
    np.testing.assert_allclose(single.data, -_log_softmax(Z[:1])[0, 2], rtol=1e-12)


def test_cross_entropy_soft_targets_with_weight_and_smoothing():
    t = (1 - 0.1) * P + 0.1 / 4
    expected = -(t * _log_softmax(Z) * W).sum(axis=1).mean()
    loss = gg.losses.CrossEntropy(weight=W, label_smoothing=0.1)
    np.testing.assert_allclose(loss(gg.tensor(Z), P).data, expected, rtol=1e-12)


def test_nll_weight_and_ignore_index():
    logp = _log_softmax(Z)
    keep = Y != -100
    w_y = np.where(keep, W[np.where(keep, Y, 0)], 0)
    expected = -(w_y * logp[np.arange(5), np.where(keep, Y, 0)]).sum() / w_y.sum()
    loss = gg.losses.NLL(weight=W)
    np.testing.assert_allclose(loss(gg.tensor(logp), Y).data, expected, rtol=1e-12)
    assert gradcheck(lambda t: loss(t, Y), [gg.tensor(logp, requires_grad=True)])


def test_bce_on_probabilities_clamps_logs_at_minus_100():
    p = np.array([0.0, 1.0, 0.3, 0.9])
    y = np.array([1.0, 0.0, 1.0, 0.0])
    expected = np.array([100.0, 100.0, -np.log(0.3), -np.log(0.1)])
    out = gg.losses.BCE(reduction="none")(gg.tensor(p), y).data
    np.testing.assert_allclose(out, expected, rtol=1e-3)
    q = 1 / (1 + np.exp(-Z))
    t = (RNG.random(Z.shape) > 0.5).astype(float)
    loss = gg.losses.BCE(weight=W)
    ref = (-(t * np.log(q) + (1 - t) * np.log(1 - q)) * W).mean()
    np.testing.assert_allclose(loss(gg.tensor(q), t).data, ref, rtol=1e-12)
    assert gradcheck(lambda a: loss(a, t), [gg.tensor(q, requires_grad=True)])
    with pytest.raises(ValueError, match=r"BCE: predictions must be probabilities in \[0, 1\]"):
        loss(gg.tensor(Z), t)


def test_bce_with_logits_pos_weight():
    t = (RNG.random(Z.shape) > 0.5).astype(float)
    pw = np.array([1.0, 2.0, 3.0, 0.5])
    ls = -np.logaddexp(0, -Z)          # log σ(z)
    ls_neg = -np.logaddexp(0, Z)       # log(1 − σ(z))
    expected = (-(pw * t * ls + (1 - t) * ls_neg) * W).mean()
    loss = gg.losses.BCEWithLogits(pos_weight=pw, weight=W)
    np.testing.assert_allclose(loss(gg.tensor(Z), t).data, expected, rtol=1e-12)
    assert gradcheck(lambda z: loss(z, t), [gg.tensor(Z, requires_grad=True)])
    big = loss(gg.tensor(np.full((1, 4), 1000.0)), np.zeros((1, 4)))
    assert np.isfinite(big.item())


@pytest.mark.parametrize("reduction,scale", [("sum", 1.0), ("batchmean", 1 / 5),
                                             ("mean", 1 / 20)])
def test_kl_div_reductions_and_log_target(reduction, scale):
    logq = _log_softmax(Z)
    t = P.copy()
    t[0, 0] = 0.0
    pointwise = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - logq), 0.0)
    loss = gg.losses.KLDiv(reduction=reduction)
    np.testing.assert_allclose(loss(gg.tensor(logq), t).data, pointwise.sum() * scale,
                               rtol=1e-12)
    logt = np.log(P)
    lt = gg.losses.KLDiv(reduction=reduction, log_target=True)
    np.testing.assert_allclose(lt(gg.tensor(logq), logt).data,
                               (P * (logt - logq)).sum() * scale, rtol=1e-12)
    assert gradcheck(lambda a: loss(a, t), [gg.tensor(logq, requires_grad=True)])


@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_smooth_l1_and_huber(beta):
    d = Z - P
    expected = np.where(np.abs(d) < beta, 0.5 * d**2 / max(beta, 1e-300), np.abs(d) - 0.5 * beta)
    loss = gg.losses.SmoothL1(beta=beta)
    np.testing.assert_allclose(loss(gg.tensor(Z), P).data, expected.mean(), rtol=1e-12)
    assert gradcheck(lambda a: loss(a, P), [gg.tensor(Z, requires_grad=True)])
    huber = np.where(np.abs(d) <= 0.7, 0.5 * d**2, 0.7 * (np.abs(d) - 0.35))
    np.testing.assert_allclose(gg.losses.Huber(delta=0.7)(gg.tensor(Z), P).data, huber.mean(),
                               rtol=1e-12)


def test_cosine_embedding():
    y = np.array([1, -1, 1, -1, -1])
    a, b = Z, P
    cos = (a * b).sum(1) / np.sqrt(((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12))
    expected = np.where(y == 1, 1 - cos, np.maximum(0, cos - 0.1)).mean()
    loss = gg.losses.CosineEmbedding(margin=0.1)
    np.testing.assert_allclose(loss(gg.tensor(a), gg.tensor(b), y).data, expected, rtol=1e-12)
    assert gradcheck(lambda u, v: loss(u, v, y),
                     [gg.tensor(a, requires_grad=True), gg.tensor(b, requires_grad=True)])
    stacked = loss(gg.stack([gg.tensor(a), gg.tensor(b)]), y)
    np.testing.assert_allclose(stacked.data, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="CosineEmbedding: target must be ±1"):
        loss(gg.tensor(a), gg.tensor(b), np.zeros(5))


def test_loss_option_errors_name_the_loss():
    with pytest.raises(ValueError, match=r"CrossEntropy: label_smoothing must lie in \[0, 1\]"):
        gg.losses.CrossEntropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"CrossEntropy: weight must have one entry per class"):
        gg.losses.CrossEntropy(weight=np.ones(3))(gg.tensor(Z), np.array([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match=r"CrossEntropy: labels must lie in \[0, 4\)"):
        gg.losses.CrossEntropy(label_smoothing=0.1)(gg.tensor(Z), np.array([0, 1, 2, 4, 0]))
    with pytest.raises(ValueError, match=r"CrossEntropy: expected labels of shape \(2, 3\)"):
        gg.losses.CrossEntropy()(gg.tensor(np.zeros((2, 4, 3))), np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="SmoothL1: beta must be >= 0"):
        gg.losses.SmoothL1(beta=-1)


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    tz, ty, tw = torch.tensor(Z), torch.tensor(Y), torch.tensor(W)
    t = (RNG.random(Z.shape) > 0.5).astype(float)
    checks = [
        (gg.losses.CrossEntropy(weight=W, label_smoothing=0.15)(gg.tensor(Z), Y),
         F.cross_entropy(tz, ty, weight=tw, label_smoothing=0.15)),
        (gg.losses.NLL(weight=W, reduction="sum")(gg.tensor(Z), Y),
         F.nll_loss(tz, ty, weight=tw, reduction="sum")),
        (gg.losses.BCEWithLogits(pos_weight=W)(gg.tensor(Z), t),
         F.binary_cross_entropy_with_logits(tz, torch.tensor(t), pos_weight=tw)),
        (gg.losses.KLDiv(reduction="batchmean")(gg.tensor(Z), P),
         F.kl_div(tz, torch.tensor(P), reduction="batchmean")),
        (gg.losses.SmoothL1(beta=0.5)(gg.tensor(Z), P),
         F.smooth_l1_loss(tz, torch.tensor(P), beta=0.5)),
    ]
    for ours, theirs in checks:
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-10)
