"""Tests of the built-in transforms (plugins/transforms.py)."""

import json

import numpy as np
import pytest
from graphgrad_plugins.transforms import (
    Compose,
    Contrast,
    PCAWhiten,
    RandomCrop,
    RandomFlip,
    Standardize,
    Tint,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad as gg

RNG = np.random.default_rng(0)


def correlated(n=400, d=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d) * 5


def cov(y):
    yc = y - y.mean(axis=0)
    return yc.T @ yc / len(y)


def images(n=2, c=1, h=3, w=4):
    return np.arange(n * c * h * w, dtype=np.float64).reshape(n, c, h, w)


def test_registered_under_their_names():
    expected = {
        "standardize": Standardize, "pca_whiten": PCAWhiten, "random_flip": RandomFlip,
        "random_crop": RandomCrop, "contrast": Contrast, "tint": Tint, "compose": Compose,
    }
    for name, cls in expected.items():
        assert name in gg.transforms.names()
        assert gg.transforms[name] is cls


# -- standardize ------------------------------------------------------------------------

image_shapes = st.tuples(st.integers(3, 8), st.integers(1, 3), st.integers(1, 4),
                         st.integers(1, 4))


@settings(max_examples=30, deadline=None)
@given(shape=image_shapes, seed=st.integers(0, 1000))
def test_standardize_all_modes_give_zero_mean_unit_std(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(loc=3.0, scale=rng.uniform(0.5, 4.0, size=shape[1:]), size=shape)
    for mode, axes in (("global", None), ("per_channel", (0, 2, 3)), ("per_feature", 0)):
        y = Standardize(mode).fit_transform(x)
        assert y.shape == x.shape
        np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-10)
        np.testing.assert_allclose(y.std(axis=axes), 1.0, atol=1e-10)
    flat = x.reshape(len(x), -1)
    y = Standardize().fit_transform(flat)
    np.testing.assert_allclose(y, (flat - flat.mean(0)) / flat.std(0), atol=1e-12)


def test_standardize_uses_training_statistics_and_keeps_dtype():
    train, test = correlated(seed=1), correlated(n=5, seed=2)
    t = Standardize().fit(train)
    np.testing.assert_allclose(t(test), (test - train.mean(0)) / train.std(0))
    assert t(test.astype(np.float32)).dtype == np.float32
    assert t(test).dtype == np.float64
    const = np.column_stack([np.arange(4.0), np.full(4, 7.0)])
    y = Standardize().fit_transform(const)
    np.testing.assert_array_equal(y[:, 1], 0.0)  # a constant feature is only centred


def test_standardize_errors_name_transform_and_shapes():
    with pytest.raises(ValueError, match=r"per_channel.*\(10, 5\).*per_feature"):
        Standardize("per_channel").fit(np.zeros((10, 5)))
    with pytest.raises(RuntimeError, match="Standardize is not fitted.*fit"):
        Standardize()(np.zeros((2, 3)))
    t = Standardize().fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"Standardize.*\(3,\).*\(2, 4\)"):
        t(np.zeros((2, 4)))
    t = Standardize("per_channel").fit(np.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"3 channels.*\(2, 1, 2, 2\)"):
        t(np.zeros((2, 1, 2, 2)))
    with pytest.raises(ValueError, match="mode"):
        Standardize("per_pixel")


# -- pca_whiten -------------------------------------------------------------------------


@pytest.mark.parametrize("zca", [False, True])
def test_pca_whiten_identity_covariance(zca):
    x = correlated()
    y = PCAWhiten(eps=0.0, zca=zca).fit_transform(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(cov(y), np.eye(4), atol=1e-9)
    assert not np.allclose(cov(x), np.eye(4), atol=0.1)


def test_pca_whiten_eps_shrinks_small_directions():
    x = correlated()
    eps = 0.5
    s = np.linalg.eigvalsh(cov(x))[::-1]
    y = PCAWhiten(eps=eps).fit_transform(x)
    np.testing.assert_allclose(np.diag(cov(y)), s / (s + eps), rtol=1e-9)


def test_zca_matrix_is_the_symmetric_inverse_square_root():
    x = correlated()
    t = PCAWhiten(eps=0.0, zca=True).fit(x)
    vals, vecs = np.linalg.eigh(cov(x))
    inv_sqrt = vecs @ np.diag(vals**-0.5) @ vecs.T
    np.testing.assert_allclose(t.matrix, t.matrix.T, atol=1e-10)
    np.testing.assert_allclose(t.matrix, inv_sqrt, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(t(x), (x - x.mean(0)) @ inv_sqrt, atol=1e-9)


def test_pca_n_components_keeps_the_top_directions():
    x = correlated(d=5)
    y = PCAWhiten(n_components=2, eps=0.0).fit_transform(x)
    assert y.shape == (400, 2)
    np.testing.assert_allclose(cov(y), np.eye(2), atol=1e-9)
    vals, vecs = np.linalg.eigh(cov(x))
    top = vecs[:, ::-1][:, :2] / np.sqrt(vals[::-1][:2])
    expected = (x - x.mean(0)) @ top
    np.testing.assert_allclose(np.abs(y), np.abs(expected), atol=1e-8)  # up to sign


def test_zca_on_images_keeps_the_image_shape():
    x = RNG.normal(size=(300, 2, 2, 2)) + np.linspace(0, 1, 8).reshape(1, 2, 2, 2)
    y = PCAWhiten(zca=True, eps=0.0).fit_transform(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(cov(y.reshape(300, -1)), np.eye(8), atol=1e-9)


def test_pca_whiten_errors():
    with pytest.raises(RuntimeError, match="PCAWhiten is not fitted"):
        PCAWhiten()(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"n_components=5.*4 features"):
        PCAWhiten(n_components=5).fit(correlated())
    t = PCAWhiten().fit(correlated())
    with pytest.raises(ValueError, match=r"PCAWhiten.*\(4,\).*\(3, 3\)"):
        t(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        PCAWhiten().fit(np.zeros(5))


# -- augmentations ----------------------------------------------------------------------

augmentations = [
    lambda: RandomFlip(seed=0),
    lambda: RandomCrop((3, 4), padding=1, seed=0),
    lambda: Contrast(seed=0),
    lambda: Tint(seed=0),
]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 3), h=st.integers(3, 6), w=st.integers(4, 6),
       which=st.integers(0, 3))
def test_augmentations_preserve_shape_and_dtype(n, c, h, w, which):
    x = RNG.normal(size=(n, c, h, w)).astype(np.float32)
    t = augmentations[which]()
    if isinstance(t, RandomCrop):
        t = RandomCrop((h, w), padding=1, seed=0)
    y = t(x)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(t.eval()(x), x)  # inactive in evaluation mode


def test_random_flip_reverses_width():
    x = images(n=2, c=2)
    np.testing.assert_array_equal(RandomFlip(p=1.0)(x), x[..., ::-1])
    np.testing.assert_array_equal(RandomFlip(p=0.0)(x), x)
    tiny = np.array([[[[1.0, 2.0, 3.0]]]])
    np.testing.assert_array_equal(RandomFlip(p=1.0)(tiny), [[[[3.0, 2.0, 1.0]]]])
    many = np.repeat(images(n=1), 400, axis=0)
    y = RandomFlip(p=0.5, seed=1)(many)
    flipped = (y == many[..., ::-1]).all(axis=(1, 2, 3))
    assert (flipped | (y == many).all(axis=(1, 2, 3))).all()
    assert 0.4 < flipped.mean() < 0.6
    np.testing.assert_array_equal(RandomFlip(p=1.0).eval()(x), x)


def test_random_crop_with_padding_shifts_content():
    x = images(n=200, c=2, h=3, w=4)
    y = RandomCrop((3, 4), padding=1, seed=3)(x)
    padded = np.zeros((200, 2, 5, 6))
    padded[:, :, 1:4, 1:5] = x
    shifts = set()
    for k in range(200):
        matches = [(i, j) for i in range(3) for j in range(3)
                   if np.array_equal(y[k], padded[k, :, i:i + 3, j:j + 4])]
        assert matches, f"sample {k} is not a window of its padded image"
        shifts.add(matches[0])
    assert shifts == {(i, j) for i in range(3) for j in range(3)}


def test_random_crop_smaller_size_and_centre_crop_in_eval():
    x = images(n=1, c=1, h=4, w=4)
    t = RandomCrop(2, seed=0)
    y = t(x)
    assert y.shape == (1, 1, 2, 2)
    windows = [x[0, :, i:i + 2, j:j + 2] for i in range(3) for j in range(3)]
    assert any(np.array_equal(y[0], win) for win in windows)
    np.testing.assert_array_equal(t.eval()(x), x[:, :, 1:3, 1:3])
    with pytest.raises(ValueError, match=r"RandomCrop.*\(5, 5\).*\(1, 1, 4, 4\)"):
        RandomCrop(5)(x)


def test_contrast_formula():
    x = RNG.normal(size=(50, 3, 4, 4))
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(Contrast((1.5, 1.5))(x), m + 1.5 * (x - m))
    y = Contrast((0.5, 2.0), seed=1)(x)
    np.testing.assert_allclose(y.mean(axis=(1, 2, 3), keepdims=True), m)
    a = (y - m)[:, 0, 0, 0] / (x - m)[:, 0, 0, 0]
    np.testing.assert_allclose((y - m), a[:, None, None, None] * (x - m), atol=1e-12)
    assert a.min() >= 0.5 and a.max() <= 2.0 and a.std() > 0.1
    assert Contrast(0.3).factor == pytest.approx((0.7, 1.3))


def test_tint_shifts_each_channel_by_a_constant():
    x = RNG.normal(size=(40, 3, 2, 2))
    np.testing.assert_allclose(Tint((0.25, 0.25))(x), x + 0.25)
    d = Tint((-0.2, 0.1), seed=4)(x) - x
    np.testing.assert_allclose(d, d[:, :, :1, :1] * np.ones((1, 1, 2, 2)), atol=1e-12)
    assert d.min() >= -0.2 and d.max() <= 0.1
    assert not np.allclose(d[:, 0], d[:, 1])  # channels shift independently
    assert Tint(0.3).shift == (-0.3, 0.3)


def test_augmentations_reject_non_image_batches():
    for t in (RandomFlip(), RandomCrop(2), Contrast(), Tint()):
        with pytest.raises(ValueError, match=rf"{type(t).__name__}.*NCHW.*\(5, 3\)"):
            t(np.zeros((5, 3)))


def test_random_transform_rng_state_round_trip():
    t = Tint(seed=2)
    x = images()
    state = json.loads(json.dumps(t.rng_state()))
    first = t(x)
    t.set_rng_state(state)
    np.testing.assert_array_equal(t(x), first)


# -- compose ------------------------------------------------------------------------------


def test_compose_fits_in_sequence_on_transformed_data():
    x = correlated()
    c = Compose([Standardize(), PCAWhiten(eps=0.0)]).fit(x)
    s = Standardize().fit(x)
    p = PCAWhiten(eps=0.0).fit(s(x))
    np.testing.assert_allclose(c.transforms[1].mean, p.mean, atol=1e-12)
    np.testing.assert_allclose(c.transforms[1].mean, 0.0, atol=1e-12)
    np.testing.assert_allclose(c(x), p(s(x)), atol=1e-12)


def test_compose_random_members_off_while_fitting_and_in_eval():
    x = RNG.normal(size=(60, 2, 3, 3)) + 1.0
    c = Compose([Tint((5.0, 5.0)), Standardize("per_channel")]).fit(x)
    np.testing.assert_allclose(c.transforms[1].mean, x.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(c.eval()(x), Standardize("per_channel").fit_transform(x))
    assert not c.transforms[0].training
    c.train()
    assert c.transforms[0].training
    expected = (x + 5.0 - x.mean(axis=(0, 2, 3), keepdims=True)) / x.std(axis=(0, 2, 3),
                                                                        keepdims=True)
    np.testing.assert_allclose(c(x), expected)


def test_state_dicts_round_trip_through_npz(tmp_path):
    x = RNG.normal(size=(80, 1, 2, 3)) * 3 + 1
    c = Compose([Standardize("per_channel"), RandomFlip(p=0.0), PCAWhiten(zca=True)]).fit(x)
    np.savez(tmp_path / "stats.npz", **{f"transform.{k}": v for k, v in c.state_dict().items()})
    with np.load(tmp_path / "stats.npz", allow_pickle=False) as f:
        saved = {k.removeprefix("transform."): f[k] for k in f.files}
    fresh = Compose([Standardize("per_channel"), RandomFlip(p=0.0), PCAWhiten(zca=True)])
    fresh.load_state_dict(saved)
    assert fresh.fitted
    np.testing.assert_allclose(fresh(x), c(x))
    with pytest.raises(ValueError, match="mode='per_channel'.*mode='global'"):
        Standardize("global").load_state_dict(Standardize("per_channel").fit(x).state_dict())
    with pytest.raises(KeyError, match="unexpected key '7.mean'"):
        fresh.load_state_dict({"7.mean": 0})
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardize().state_dict()


def test_pca_whiten_flat_directions_need_eps():
    x = correlated(d=3)
    x = np.column_stack([x, x[:, 0] + x[:, 1]])  # rank 3 in 4 dimensions
    with pytest.raises(ValueError, match=r"1 of the 4 kept directions.*eps > 0.*n_components <= 3"):
        PCAWhiten(eps=0.0).fit(x)
    y = PCAWhiten(n_components=3, eps=0.0).fit_transform(x)
    np.testing.assert_allclose(cov(y), np.eye(3), atol=1e-8)
    assert np.isfinite(PCAWhiten().fit_transform(x)).all()
