"""mixup and CutMix (plugins/mixing.py): batch transforms that mix samples and their labels."""

import numpy as np
import pytest
from graphgrad_plugins.mixing import CutMix, MixUp
from graphgrad_plugins.transforms import Compose, Standardize

import graphgrad as gg
from graphgrad.data import ArrayDataset, DataLoader
from graphgrad.extend import BatchTransform


def batch(n=8, c=2, h=6, w=5, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c, h, w)), rng.integers(0, classes, size=n)


def one_hot(y, classes):
    return np.eye(classes)[y]


def test_registered_under_their_names_and_pass_their_checks():
    assert gg.transforms["mixup"] is MixUp and gg.transforms["cutmix"] is CutMix
    for cls in (MixUp, CutMix):
        report = gg.check.transform(cls)
        assert report.ok, report


def test_mixup_is_the_convex_mix_with_the_rolled_batch():
    x, y = batch()
    out_x, out_y = MixUp(alpha=0.4, num_classes=4, seed=3)(x, y)
    lam = np.random.default_rng(3).beta(0.4, 0.4)  # one λ per batch, from the seed
    np.testing.assert_allclose(out_x, lam * x + (1 - lam) * x[np.r_[-1, 0:len(x) - 1]],
                               rtol=1e-12)
    want_y = lam * one_hot(y, 4) + (1 - lam) * one_hot(np.roll(y, 1), 4)
    np.testing.assert_allclose(out_y, want_y, rtol=1e-12)
    np.testing.assert_allclose(out_y.sum(axis=1), 1.0)


def test_cutmix_pastes_one_box_of_the_next_image_and_mixes_labels_by_its_area():
    x, y = batch(h=16, w=12)
    for seed in range(20):
        out_x, out_y = CutMix(alpha=1.0, num_classes=4, seed=seed)(x, y)
        rolled = np.roll(x, 1, axis=0)
        pasted = (out_x != x).any(axis=(0, 1))  # (H, W): where the neighbour's pixels are
        assert np.array_equal(out_x[:, :, pasted], rolled[:, :, pasted])
        assert np.array_equal(out_x[:, :, ~pasted], x[:, :, ~pasted])
        rows, cols = np.nonzero(pasted)
        if rows.size:  # the pasted region is one axis-aligned box
            box = np.zeros_like(pasted)
            box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
            assert np.array_equal(box, pasted)
        kept = 1 - pasted.mean()
        want_y = kept * one_hot(y, 4) + (1 - kept) * one_hot(np.roll(y, 1), 4)
        np.testing.assert_allclose(out_y, want_y, rtol=1e-12, atol=1e-15)


def test_probability_labels_are_mixed_as_they_are_and_float32_is_kept():
    x, y = batch()
    probs = np.random.default_rng(1).dirichlet(np.ones(4), size=len(y)).astype(np.float32)
    out_x, out_y = MixUp(seed=0)(x.astype(np.float32), probs)
    assert out_x.dtype == out_y.dtype == np.float32
    np.testing.assert_allclose(out_y.sum(axis=1), 1.0, rtol=1e-6)


def test_evaluation_mode_is_the_identity():
    x, y = batch()
    for t in (MixUp(num_classes=4, seed=0), CutMix(num_classes=4, seed=0)):
        out_x, out_y = t.eval()(x, y)
        assert out_x is x and out_y is y


@pytest.mark.parametrize("call, match", [
    (lambda: MixUp()(*batch()), "num_classes"),
    (lambda: MixUp(num_classes=3)(*batch(classes=4, n=40)), r"\[0, 3\)"),
    (lambda: MixUp(num_classes=4)(batch()[0]), "t\\(x, y\\)"),
    (lambda: MixUp(alpha=0.0), "alpha"),
    (lambda: CutMix(num_classes=4)(np.zeros((8, 5)), batch()[1]), "NCHW"),
    (lambda: MixUp(num_classes=4)(np.zeros((3, 2)), np.zeros(4, int)), "3 samples but 4"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_a_loader_passes_the_labels_and_resumes_exactly():
    x, y = batch(n=40)
    make = lambda: DataLoader(ArrayDataset(x, y), batch_size=8, seed=1,  # noqa: E731
                              transform=MixUp(num_classes=4, seed=2))
    loader = make()
    batches = list(loader)
    assert batches[0][1].shape == (8, 4)
    np.testing.assert_allclose(batches[0][1].data.sum(axis=1), 1.0)
    # the state after two batches reproduces the rest (the transform's generator included)
    again = make()
    it = iter(again)
    next(it), next(it)
    state = again.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    for a, b in zip(list(resumed), batches[2:], strict=True):
        assert np.array_equal(a[0].data, b[0].data) and np.array_equal(a[1].data, b[1].data)


def test_compose_fits_the_others_and_threads_the_labels():
    x, y = batch(n=40)
    chain = Compose([Standardize(mode="per_channel"), CutMix(num_classes=4, seed=0)])
    chain.fit(x)
    assert chain.takes_labels
    out_x, out_y = chain(x, y)
    standardized = Standardize(mode="per_channel").fit_transform(x)
    untouched = (out_x == standardized).all(axis=(0, 1))
    assert untouched.any() and out_y.shape == (40, 4)
    assert chain.eval()(x, y)[1] is y
    with pytest.raises(TypeError, match="mixes labels"):
        chain(x)


def test_a_trainer_learns_through_mixup_with_probability_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    train = DataLoader(ArrayDataset(x[:192], y[:192]), batch_size=32, seed=0,
                       transform=MixUp(alpha=0.2, num_classes=2, seed=0))
    val = DataLoader(ArrayDataset(x[192:], y[192:]), batch_size=64, shuffle=False)
    gg.manual_seed(0)
    model = gg.Sequential(gg.layers.Linear(4, 16), gg.layers.ReLU(), gg.layers.Linear(16, 2))
    opt = gg.optimizers.SGD(model.parameters(), lr=0.2, momentum=0.9)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(), opt, progress=False)
    history = trainer.fit(train, val, epochs=15)
    assert history["val_accuracy"][-1] > 0.9


class _Unnormalised(BatchTransform):
    """A broken batch transform: its label rows do not sum to 1."""

    def __init__(self, seed=None):
        super().__init__(seed)

    @classmethod
    def example_input(cls, rng):
        return batch(seed=0)

    def apply(self, x, y):
        return x * self.rng.random(), one_hot(y, 4) * 2


def test_the_check_catches_label_rows_that_are_not_probabilities():
    report = gg.check.transform(_Unnormalised)
    assert not report.ok and "sum to 1" in str(report)
