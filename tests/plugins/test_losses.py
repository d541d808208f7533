"""Tests of the built-in losses (plugins/losses.py) against NumPy closed forms."""

import numpy as np
import pytest
from graphgrad_plugins.losses import (
    L1,
    MSE,
    NLL,
    SSE,
    BCEWithLogits,
    CrossEntropy,
    MulticlassHinge,
    MultilabelHinge,
    SquaredHinge,
)
from hypothesis import given
from hypothesis import strategies as st

import graphgrad as gg
from graphgrad.check import gradcheck

RNG = np.random.default_rng(0)


# ------------------------------------------------------------ NumPy references
def np_logsumexp(z):
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def ref_cross_entropy(z, y):
    return np_logsumexp(z) - z[np.arange(len(y)), y]


def ref_soft_cross_entropy(z, t):
    return -(t * (z - np_logsumexp(z)[:, None])).sum(axis=1)


def ref_bce(z, y):
    p = 1 / (1 + np.exp(-z))
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def ref_multiclass_hinge(a, y, margin=1.0, power=1):
    out = np.zeros(len(y))
    for i, label in enumerate(y):
        for c in range(a.shape[1]):
            if c != label:
                out[i] += max(0.0, a[i, c] - a[i, label] + margin) ** power
    return out


def ref_multilabel_hinge(a, y01, margin=1.0):
    t = 2 * y01 - 1
    return np.maximum(0, margin - t * a).sum(axis=1)


def reduce_ref(values, reduction):
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


def labels(n, c):
    return RNG.integers(0, c, size=n)


def value(loss):
    return np.asarray(loss.data, dtype=np.float64)


# --------------------------------------------------------------- registration
def test_registered_under_their_names():
    expected = {
        "cross_entropy": CrossEntropy, "nll": NLL, "bce_with_logits": BCEWithLogits,
        "multiclass_hinge": MulticlassHinge, "squared_hinge": SquaredHinge,
        "multilabel_hinge": MultilabelHinge, "sse": SSE, "mse": MSE, "l1": L1,
    }
    for name, cls in expected.items():
        assert gg.losses[name] is cls


# ------------------------------------------------------------ hand-computed cases
def test_cross_entropy_hand_cases():
    z = gg.tensor([[0.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(value(CrossEntropy(reduction="none")(z, [0, 1])),
                               [np.log(2), np.log(1 + np.exp(-1))], rtol=1e-6)
    z3 = gg.tensor([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(value(CrossEntropy()(z3, [2])),
                               np.log(1 + np.exp(-1) + np.exp(-2)), rtol=1e-6)


def test_cross_entropy_is_stable_for_huge_logits():
    z = gg.tensor(np.array([[1000.0, 0.0], [-1000.0, 1000.0]]))
    out = value(CrossEntropy(reduction="none")(z, np.array([0, 0])))
    np.testing.assert_allclose(out, [0.0, 2000.0])


def test_cross_entropy_soft_targets_equal_hard_for_one_hot():
    z = RNG.normal(size=(5, 4))
    y = labels(5, 4)
    onehot = np.eye(4)[y]
    hard = value(CrossEntropy(reduction="none")(gg.tensor(z), y))
    soft = value(CrossEntropy(reduction="none")(gg.tensor(z), onehot))
    np.testing.assert_allclose(soft, hard, rtol=1e-10)
    t = RNG.dirichlet(np.ones(4), size=5)
    np.testing.assert_allclose(value(CrossEntropy(reduction="none")(gg.tensor(z), t)),
                               ref_soft_cross_entropy(z, t), rtol=1e-10)


def test_nll_hand_case():
    logp = gg.tensor(np.log([[0.2, 0.8], [0.5, 0.5]]))
    np.testing.assert_allclose(value(NLL(reduction="none")(logp, [1, 0])),
                               [-np.log(0.8), np.log(2)], rtol=1e-12)


def test_nll_of_log_softmax_is_cross_entropy():
    z = RNG.normal(size=(6, 3))
    y = labels(6, 3)
    np.testing.assert_allclose(value(NLL()(gg.log_softmax(gg.tensor(z), axis=1), y)),
                               ref_cross_entropy(z, y).mean(), rtol=1e-10)


def test_bce_with_logits_hand_cases_and_stability():
    z = gg.tensor(np.array([0.0, 0.0, 1000.0, -1000.0, 1000.0, 2.0]))
    y = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.25])
    expected = [np.log(2), np.log(2), 1000.0, 0.0, 0.0,
                -(0.25 * np.log(1 / (1 + np.exp(-2))) + 0.75 * np.log(1 - 1 / (1 + np.exp(-2))))]
    np.testing.assert_allclose(value(BCEWithLogits(reduction="none")(z, y)), expected,
                               rtol=1e-10, atol=1e-300)


def test_bce_with_logits_gradient_at_zero_is_sigmoid_minus_target():
    # z = 0 is where a zero-initialised model starts; the kinks of max(z, 0) and |z| must cancel
    z = gg.tensor(np.zeros(3), requires_grad=True)
    BCEWithLogits(reduction="sum")(z, np.array([1.0, 0.0, 0.5])).backward()
    np.testing.assert_allclose(z.grad.data, [-0.5, 0.5, 0.0])


def test_bce_with_logits_matches_probability_form():
    z = RNG.normal(size=(4, 3)) * 3
    y = (RNG.random((4, 3)) > 0.5).astype(float)
    np.testing.assert_allclose(value(BCEWithLogits()(gg.tensor(z), y)), ref_bce(z, y).mean(),
                               rtol=1e-10)


def test_multiclass_hinge_hand_case():
    a = gg.tensor([[1.0, 2.0, 3.0], [3.0, 0.0, 1.5]])
    # row 0, y=0: max(0, 2-1+1) + max(0, 3-1+1) = 5;  row 1, y=0: 0 + max(0, 1.5-3+1) = 0
    np.testing.assert_allclose(value(MulticlassHinge(reduction="none")(a, [0, 0])), [5.0, 0.0])
    np.testing.assert_allclose(value(SquaredHinge(reduction="none")(a, [0, 0])), [13.0, 0.0])
    np.testing.assert_allclose(value(MulticlassHinge(margin=2.0, reduction="none")(a, [0, 0])),
                               [7.0, 0.5])


def test_multilabel_hinge_hand_case_and_sign_conventions():
    a = gg.tensor([[2.0, -0.5], [0.25, 0.0]])
    y01 = np.array([[1, 0], [0, 1]])
    # row 0: max(0, 1-2) + max(0, 1-0.5) = 0.5;  row 1: max(0, 1+0.25) + max(0, 1-0) = 2.25
    np.testing.assert_allclose(value(MultilabelHinge(reduction="none")(a, y01)), [0.5, 2.25])
    np.testing.assert_allclose(value(MultilabelHinge(reduction="none")(a, 2 * y01 - 1)),
                               [0.5, 2.25])


def test_sse_is_half_squared_norm_per_sample():
    a = gg.tensor([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(value(SSE(reduction="none")(a, y)), [2.5, 2.5])
    np.testing.assert_allclose(value(SSE()(a, y)), 2.5)  # mean over samples, not features
    np.testing.assert_allclose(value(SSE(reduction="sum")(a, y)), 5.0)
    images = RNG.normal(size=(3, 2, 2, 2))
    per_image = SSE(reduction="none")(gg.tensor(images), np.zeros_like(images))
    expected = 0.5 * (images**2).reshape(3, -1).sum(axis=1)
    np.testing.assert_allclose(value(per_image), expected, rtol=1e-12)


def test_mse_and_l1_are_elementwise_means():
    a = gg.tensor([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(value(MSE()(a, y)), (1 + 4 + 1 + 4) / 4)
    np.testing.assert_allclose(value(L1()(a, y)), (1 + 2 + 1 + 2) / 4)
    np.testing.assert_allclose(value(L1(reduction="none")(a, y)), [[1, 2], [1, 2]])


# ------------------------------------------------------------- all reductions
CASES = {
    "cross_entropy": (CrossEntropy, lambda: (RNG.normal(size=(5, 4)), labels(5, 4)),
                      ref_cross_entropy),
    "cross_entropy_soft": (CrossEntropy,
                           lambda: (RNG.normal(size=(5, 4)), RNG.dirichlet(np.ones(4), 5)),
                           ref_soft_cross_entropy),
    "nll": (NLL, lambda: (RNG.normal(size=(5, 4)), labels(5, 4)),
            lambda z, y: -z[np.arange(len(y)), y]),
    "bce_with_logits": (BCEWithLogits, lambda: (RNG.normal(size=(5, 3)), RNG.random((5, 3))),
                        ref_bce),
    "multiclass_hinge": (MulticlassHinge, lambda: (RNG.normal(size=(5, 4)), labels(5, 4)),
                         ref_multiclass_hinge),
    "squared_hinge": (SquaredHinge, lambda: (RNG.normal(size=(5, 4)), labels(5, 4)),
                      lambda a, y: ref_multiclass_hinge(a, y, power=2)),
    "multilabel_hinge": (MultilabelHinge,
                         lambda: (RNG.normal(size=(5, 4)), RNG.integers(0, 2, (5, 4))),
                         ref_multilabel_hinge),
    "sse": (SSE, lambda: (RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))),
            lambda a, y: 0.5 * ((a - y) ** 2).sum(axis=1)),
    "mse": (MSE, lambda: (RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))),
            lambda a, y: (a - y) ** 2),
    "l1": (L1, lambda: (RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))),
           lambda a, y: np.abs(a - y)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_reduction_matches_numpy(case, reduction):
    cls, make, ref = CASES[case]
    pred, target = make()
    out = cls(reduction=reduction)(gg.tensor(pred), target)
    expected = reduce_ref(ref(pred, target), reduction)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(value(out), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradcheck_float64(case, reduction):
    cls, make, _ = CASES[case]
    pred, target = make()
    loss = cls(reduction=reduction)
    gradcheck(lambda p: loss(p, target), [gg.tensor(pred, requires_grad=True)])


@pytest.mark.parametrize("case", ["cross_entropy_soft", "bce_with_logits", "mse", "sse", "l1"])
def test_gradcheck_with_respect_to_a_float_target(case):
    cls, make, _ = CASES[case]
    pred, target = make()
    loss = cls()
    gradcheck(lambda p, t: loss(p, t), [gg.tensor(pred, requires_grad=True),
                                        gg.tensor(target, requires_grad=True)])


def test_bce_with_logits_has_second_derivatives():
    z = gg.tensor(RNG.normal(size=(3, 2)), requires_grad=True)
    y = RNG.random((3, 2))
    assert gg.check.gradgradcheck(lambda z: BCEWithLogits(reduction="none")(z, y), [z])


@given(n=st.integers(1, 6), c=st.integers(2, 7), seed=st.integers(0, 2**16))
def test_cross_entropy_any_shape(n, c, seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=(n, c)) * 5, rng.integers(0, c, n)
    np.testing.assert_allclose(value(CrossEntropy(reduction="sum")(gg.tensor(z), y)),
                               ref_cross_entropy(z, y).sum(), rtol=1e-10,
                               atol=1e-13 * n * np.abs(z).max())  # logsumexp − z_y cancels


def test_float32_stays_float32():
    z = gg.tensor(RNG.normal(size=(3, 4)).astype(np.float32))
    for loss, target in [(CrossEntropy(), [0, 1, 2]), (MSE(), np.zeros((3, 4))),
                         (BCEWithLogits(), np.zeros((3, 4))), (MulticlassHinge(), [0, 1, 2])]:
        assert loss(z, target).dtype == np.float32


@pytest.mark.parametrize("case", ["cross_entropy_soft", "bce_with_logits", "mse", "sse", "l1"])
def test_a_float64_target_tensor_keeps_a_float32_loss_and_backward(case):
    # Regression: a float64 target *Tensor* (what a DataLoader makes of float64
    # data) turned the loss, and with it the whole backward pass, into float64.
    cls, make, _ = CASES[case]
    pred, target = make()
    z = gg.tensor(pred.astype(np.float32), requires_grad=True)
    t = gg.tensor(np.asarray(target, np.float64), requires_grad=True)
    loss = cls()(z, t)
    assert loss.dtype == np.float32
    loss.backward()
    assert z.grad.dtype == np.float32 and t.grad.dtype == np.float64


# ------------------------------------------------------------------- errors
LABEL_LOSSES = [CrossEntropy, NLL, MulticlassHinge, SquaredHinge]


@pytest.mark.parametrize("cls", LABEL_LOSSES)
def test_labels_out_of_range(cls):
    z = gg.tensor(np.zeros((3, 4)))
    for bad in ([0, 1, 4], [0, -1, 2]):
        with pytest.raises(ValueError, match=rf"{cls.__name__}.*\[0, 4\)"):
            cls()(z, np.array(bad))


@pytest.mark.parametrize("cls", LABEL_LOSSES)
def test_labels_of_wrong_shape(cls):
    z = gg.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(3,\).*\(2,\)"):
        cls()(z, np.array([0, 1]))
    # cross-entropy and NLL take (N, C, d1) logits with (N, d1) labels, as in PyTorch
    expected = r"\(3, 1\).*\(3, 4, 1\)" if cls in (CrossEntropy, NLL) else r"\(N, C\).*\(3, 4, 1\)"
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*{expected}"):
        cls()(gg.tensor(np.zeros((3, 4, 1))), np.array([0, 1, 2]))


@pytest.mark.parametrize("cls", [NLL, MulticlassHinge, SquaredHinge])
def test_float_labels_are_refused(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}.*integer.*float64"):
        cls()(gg.tensor(np.zeros((3, 4))), np.array([0.0, 1.0, 2.0]))


def test_cross_entropy_target_errors():
    z = gg.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"CrossEntropy.*\(3, 4\).*\(3, 5\)"):
        CrossEntropy()(z, np.full((3, 5), 0.2))
    with pytest.raises(TypeError, match=r"CrossEntropy.*labels.*bool"):
        CrossEntropy()(z, np.ones(3, dtype=bool))


@pytest.mark.parametrize("cls", [BCEWithLogits, SSE, MSE, L1])
def test_target_shape_and_dtype_errors(cls):
    a = gg.tensor(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*\(3, 2\).*\(2, 3\)"):
        cls()(a, np.zeros((2, 3)))
    with pytest.raises(TypeError, match=rf"{cls.__name__}.*floating.*int"):
        cls()(a, np.zeros((3, 2), dtype=int))


def test_value_errors_of_binary_targets():
    with pytest.raises(ValueError, match=r"BCEWithLogits.*\[0, 1\]"):
        BCEWithLogits()(gg.tensor(np.zeros((2, 2))), np.array([[0.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"MultilabelHinge.*\{0, 1\}"):
        MultilabelHinge()(gg.tensor(np.zeros((2, 2))), np.array([[0, 2], [0, 1]]))
    with pytest.raises(ValueError, match=r"MultilabelHinge.*\(2, 2\).*\(2, 3\)"):
        MultilabelHinge()(gg.tensor(np.zeros((2, 2))), np.zeros((2, 3), dtype=int))


def test_unknown_reduction():
    with pytest.raises(ValueError, match="MSE: reduction must be one of"):
        MSE(reduction="avg")


def test_integer_prediction_is_refused():
    with pytest.raises(TypeError, match="MSE: the prediction must be floating point"):
        MSE()(gg.tensor([1, 2]), np.zeros(2))


# ------------------------------------------------------- hierarchical softmax
def hs_reference_log_proba(hs, x):
    """log p(c | x) from the parameters, class by class, in NumPy."""
    u, b = hs.cluster_weight.data, hs.cluster_bias.data
    w, bk = hs.class_weight.data, hs.class_bias.data
    out = np.zeros((len(x), hs.n_classes))
    for i, xi in enumerate(x):
        top = xi @ u + b
        log_pk = top - np.log(np.exp(top - top.max()).sum()) - top.max()
        for c in range(hs.n_classes):
            k, j = divmod(c, hs.cluster_size)
            members = [m for m in range(hs.cluster_size) if k * hs.cluster_size + m < hs.n_classes]
            inner = xi @ w[k][:, members] + bk[k, members]
            lse = inner.max() + np.log(np.exp(inner - inner.max()).sum())
            out[i, c] = log_pk[k] + (xi @ w[k][:, j] + bk[k, j]) - lse
    return out


@pytest.mark.parametrize("n_classes,n_clusters", [(2, None), (10, None), (17, None), (16, 4),
                                                  (9, 9), (7, 1)])
def test_hierarchical_softmax_probabilities_sum_to_one(n_classes, n_clusters):
    hs = gg.losses.HierarchicalSoftmax(5, n_classes, n_clusters=n_clusters, rng=1,
                                       dtype="float64")
    x = RNG.normal(size=(6, 5)) * 3
    p = hs.predict_proba(gg.tensor(x)).data
    assert p.shape == (6, n_classes)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(p), hs_reference_log_proba(hs, x), rtol=1e-9, atol=1e-12)


def test_hierarchical_softmax_loss_is_negative_log_probability():
    hs = gg.losses.HierarchicalSoftmax(4, 11, rng=2, dtype="float64", reduction="none")
    x, y = RNG.normal(size=(8, 4)), labels(8, 11)
    expected = -hs_reference_log_proba(hs, x)[np.arange(8), y]
    np.testing.assert_allclose(value(hs(gg.tensor(x), y)), expected, rtol=1e-10)
    hs.reduction = "mean"
    np.testing.assert_allclose(value(hs(gg.tensor(x), y)), expected.mean(), rtol=1e-10)
    hs.reduction = "sum"
    np.testing.assert_allclose(value(hs(gg.tensor(x), y)), expected.sum(), rtol=1e-10)
    np.testing.assert_array_equal(hs.predict(x), hs_reference_log_proba(hs, x).argmax(axis=1))


def test_hierarchical_softmax_gradcheck():
    hs = gg.losses.HierarchicalSoftmax(3, 7, rng=3, dtype="float64")
    x, y = RNG.normal(size=(4, 3)), np.array([0, 6, 3, 6])
    params = [hs.cluster_weight, hs.cluster_bias, hs.class_weight, hs.class_bias]

    def loss(x, u, b, w, bk):
        hs.cluster_weight, hs.cluster_bias, hs.class_weight, hs.class_bias = u, b, w, bk
        return hs(x, y)

    gradcheck(loss, [gg.tensor(x, requires_grad=True)]
              + [gg.tensor(p.data, requires_grad=True) for p in params])


def test_hierarchical_softmax_training_touches_only_sqrt_c_units():
    n_classes, n = 400, 8
    hs = gg.losses.HierarchicalSoftmax(6, n_classes, rng=0)
    assert hs.n_clusters == 20 and hs.cluster_size == 20
    loss = hs(gg.randn(n, 6, rng=0), labels(n, n_classes))
    widths = [shape[-1] for node in gg.autograd.topological_order([loss.grad_fn])
              for shape, _ in node.out_meta if len(shape) >= 2]
    assert widths and max(widths) <= 20  # never an (N, C) intermediate


def test_hierarchical_softmax_learns_many_classes():
    # 64 Gaussian classes; a tanh layer learns features the two-level tree can separate
    n_classes, dim, hidden = 64, 16, 48
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_classes, dim)) * 2.0

    def sample(per_class):
        y = np.repeat(np.arange(n_classes), per_class)
        return (centres[y] + 0.3 * rng.normal(size=(len(y), dim))).astype(np.float32), y

    (x, y), (x_test, y_test) = sample(8), sample(4)
    w1 = gg.Parameter(rng.normal(0, dim**-0.5, (dim, hidden)).astype(np.float32))
    b1 = gg.Parameter(np.zeros(hidden, np.float32))
    hs = gg.losses.HierarchicalSoftmax(hidden, n_classes, rng=0)

    def features(x):
        return gg.tanh(gg.tensor(x) @ w1 + b1)

    opt = gg.optimizers.Adam([w1, b1, *hs.parameters()], lr=0.05)
    losses = []
    for _ in range(80):
        opt.zero_grad()
        loss = hs(features(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    assert (hs.predict(features(x_test)) == y_test).mean() > 0.9  # chance is 1/64


def test_hierarchical_softmax_errors():
    hs = gg.losses.HierarchicalSoftmax(3, 5, rng=0)
    with pytest.raises(ValueError, match=r"HierarchicalSoftmax.*\[0, 5\)"):
        hs(gg.tensor(np.zeros((2, 3))), np.array([0, 5]))
    with pytest.raises(ValueError, match=r"HierarchicalSoftmax.*\(N, 3\).*\(2, 4\)"):
        hs(gg.tensor(np.zeros((2, 4))), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"HierarchicalSoftmax.*\(2,\).*\(3,\)"):
        hs(gg.tensor(np.zeros((2, 3))), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="n_classes"):
        gg.losses.HierarchicalSoftmax(3, 1)
    with pytest.raises(ValueError, match="reduction"):
        gg.losses.HierarchicalSoftmax(3, 5, reduction="max")


@pytest.mark.parametrize("loss, message", [
    (gg.losses.CrossEntropy(), r"CrossEntropy: class indices must be integers; got float64 "
                               r"labels of shape \(3,\) .*use labels\.astype\(int\)"),
    (gg.losses.NLL(), r"NLL: expected integer class labels, got dtype float64; convert with "
                      r"labels\.astype\(int\)"),
])
def test_float_class_labels_are_refused_with_the_fix(loss, message):
    logits = gg.tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    with pytest.raises(TypeError, match=message):
        loss(logits, np.array([0.0, 1.0, 2.0]))
