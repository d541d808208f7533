"""CrossEntropy / NLL with class_axis: (N, T, C) sequence logits against
torch.nn.functional.cross_entropy on the permuted (N, C, T) input, with
ignore_index, label_smoothing, class weights, probabilities and every reduction."""

from __future__ import annotations

import numpy as np
import pytest

import graphgrad as gg

RNG = np.random.default_rng(11)


def _torch_ce(torch, logits, labels, axis, **kw):
    t = torch.tensor(logits, requires_grad=True)
    to = 1 if t.ndim > 1 else 0  # PyTorch's class axis
    moved = torch.movedim(t, axis, to)
    target = torch.tensor(labels) if labels.dtype.kind in "iu" else torch.movedim(
        torch.tensor(labels), axis, to)
    loss = torch.nn.functional.cross_entropy(moved, target, **kw)
    return t, loss


OPTIONS = [{}, {"ignore_index": 2}, {"label_smoothing": 0.1},
           {"ignore_index": 0, "label_smoothing": 0.2},
           {"weight": np.array([0.5, 1.0, 2.0, 1.5, 0.7])}]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", OPTIONS, ids=[str(sorted(o)) for o in OPTIONS])
@pytest.mark.parametrize("shape,axis", [((3, 4, 5), -1), ((3, 4, 5), 2), ((2, 5, 3, 4), 1),
                                        ((2, 3, 4, 5), 3), ((5,), -1), ((4, 5), -1)])
def test_class_axis_matches_torch_on_permuted_logits(shape, axis, options, reduction, dtype,
                                                      tol):
    torch = pytest.importorskip("torch")
    logits = RNG.standard_normal(shape).astype(dtype)
    label_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    labels = RNG.integers(0, 5, label_shape)
    if labels.ndim == 0:
        labels = np.array(3)  # one sample: never the ignored class (0/0 in both)
    else:
        labels.reshape(-1)[0] = 2  # ignore_index 2 (or 0 below) hits at least one target
        labels.reshape(-1)[-1] = 0
    kw = dict(options)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    loss_fn = gg.losses.CrossEntropy(class_axis=axis, reduction=reduction, **kw)
    x = gg.tensor(logits, requires_grad=True)
    loss = loss_fn(x, labels)
    tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
    t, tloss = _torch_ce(torch, logits, labels, axis,
                         reduction=reduction, **tkw)
    assert loss.shape == tuple(tloss.shape)
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=tol, atol=tol)
    w = RNG.standard_normal(loss.shape).astype(dtype)
    (loss * gg.tensor(w)).sum().backward()
    (tloss * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_probability_targets_with_a_class_axis(smoothing):
    torch = pytest.importorskip("torch")
    logits = RNG.standard_normal((2, 3, 4))
    probs = RNG.dirichlet(np.ones(4), size=(2, 3))
    loss = gg.losses.CrossEntropy(class_axis=-1, label_smoothing=smoothing)(
        gg.tensor(logits), probs)
    _, tloss = _torch_ce(torch, logits, probs, -1, label_smoothing=smoothing)
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)


def test_nll_takes_a_class_axis_and_the_default_layout_is_pytorchs():
    logp = gg.log_softmax(gg.tensor(RNG.standard_normal((2, 3, 4))), axis=-1)
    labels = RNG.integers(0, 4, (2, 3))
    got = gg.losses.NLL(class_axis=-1, ignore_index=1)(logp, labels).item()
    keep = labels != 1
    picked = np.take_along_axis(logp.data, labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(got, -picked[keep].mean(), rtol=1e-12)
    # the default stays (N, C, d...): the same logits read with the class axis at 1
    moved = gg.tensor(np.moveaxis(logp.data, -1, 1))
    np.testing.assert_allclose(gg.losses.NLL(ignore_index=1)(moved, labels).item(), got,
                               rtol=1e-12)


def test_sequence_loss_is_the_fused_kernel_and_compiles_without_fallback():
    import warnings

    model = gg.layers.Linear(6, 5)
    loss_fn = gg.losses.CrossEntropy(class_axis=-1)
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x = gg.tensor(RNG.standard_normal((3, 4, 6)).astype(np.float32))
    y = RNG.integers(0, 5, (3, 4))
    compiled = gg.compile(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", gg.compile.CompileWarning)
        for _ in range(3):
            compiled(x, y)
    assert "softmax_cross_entropy" in compiled.explain()


def test_bad_class_axis_and_label_shapes_are_named():
    with pytest.raises(TypeError, match="class_axis must be None"):
        gg.losses.CrossEntropy(class_axis="last")
    with pytest.raises(ValueError, match="class_axis=3 is out of range"):
        gg.losses.CrossEntropy(class_axis=3)(gg.tensor(np.zeros((2, 3, 4))), np.zeros((2, 3),
                                                                                      int))
    with pytest.raises(ValueError, match=r"expected labels of shape \(2, 3\)"):
        gg.losses.CrossEntropy(class_axis=-1)(gg.tensor(np.zeros((2, 3, 4))),
                                              np.zeros((2, 4), int))
