"""Tests of graphgrad.data: datasets, DataLoader, samplers, transform bases."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphgrad
from graphgrad.data import (
    ArrayDataset,
    DataLoader,
    HardExampleSampler,
    RandomSampler,
    RandomTransform,
    SequentialSampler,
    StratifiedSampler,
    StreamDataset,
    Transform,
)


def arrays(batch):
    """The ndarrays inside a batch of Tensors."""
    assert all(isinstance(t, graphgrad.Tensor) for t in batch)
    return tuple(t.data for t in batch)


def epoch_ids(loader):
    """The first feature column of every sample, in the order of one epoch."""
    return [int(v) for b in loader for v in arrays(b)[0][:, 0]]


def json_round_trip(state):
    return json.loads(json.dumps(state))


# -- ArrayDataset ----------------------------------------------------------------


def test_array_dataset_rows_and_len():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6) % 2
    ds = ArrayDataset(x, y)
    assert len(ds) == 6
    row = ds[4]
    assert isinstance(row, tuple) and len(row) == 2
    np.testing.assert_array_equal(row[0], [8.0, 9.0])
    assert row[1] == 0
    xb, yb = ds[np.array([5, 0])]
    np.testing.assert_array_equal(xb, x[[5, 0]])
    np.testing.assert_array_equal(yb, y[[5, 0]])


def test_array_dataset_rejects_mismatched_first_dimension():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4,\)"):
        ArrayDataset(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one array"):
        ArrayDataset()


# -- DataLoader over map-style datasets -----------------------------------------------


def make_ds(n, d=2):
    x = np.repeat(np.arange(n, dtype=np.float64)[:, None], d, axis=1)
    return ArrayDataset(x, np.arange(n) % 3)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), batch=st.integers(1, 16), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_every_sample_once_per_epoch(n, batch, drop_last, shuffle):
    loader = DataLoader(make_ds(n), batch_size=batch, shuffle=shuffle, drop_last=drop_last, seed=1)
    sizes = [len(arrays(b)[0]) for b in loader]
    full, rest = divmod(n, batch)
    expected_sizes = [batch] * full + ([rest] if rest and not drop_last else [])
    assert sizes == expected_sizes
    assert len(loader) == len(expected_sizes)
    for _ in range(2):
        ids = epoch_ids(loader)
        if drop_last:
            assert len(set(ids)) == len(ids) == full * batch
        else:
            assert sorted(ids) == list(range(n))
        if not shuffle:
            assert ids == list(range(len(ids)))


def test_drop_last_counts():
    assert [len(arrays(b)[0]) for b in DataLoader(make_ds(10), 3, drop_last=True)] == [3, 3, 3]
    assert [len(arrays(b)[0]) for b in DataLoader(make_ds(10), 3)] == [3, 3, 3, 1]


def test_shuffle_differs_per_epoch_and_repeats_with_seed():
    a = DataLoader(make_ds(50), batch_size=8, seed=123)
    b = DataLoader(make_ds(50), batch_size=8, seed=123)
    c = DataLoader(make_ds(50), batch_size=8, seed=124)
    epochs_a = [epoch_ids(a) for _ in range(3)]
    epochs_b = [epoch_ids(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]
    assert epoch_ids(c) != epochs_a[0]
    assert epochs_a[0] != list(range(50))


def test_batches_are_tensors_that_keep_dtypes():
    x64 = np.random.default_rng(0).normal(size=(7, 3))
    ds = ArrayDataset(x64, np.arange(7, dtype=np.int64), x64.astype(np.float32))
    xb, yb, zb = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    assert isinstance(xb, graphgrad.Tensor)
    assert xb.data.dtype == np.float64 and zb.data.dtype == np.float32
    assert yb.data.dtype.kind == "i"
    assert not xb.requires_grad
    np.testing.assert_array_equal(xb.data, x64[:4])
    np.testing.assert_array_equal(yb.data, [0, 1, 2, 3])


def test_batch_indices_name_the_samples():
    loader = DataLoader(make_ds(23), batch_size=5, seed=3)
    for batch in loader:
        x, y = arrays(batch)
        np.testing.assert_array_equal(x[:, 0], loader.batch_indices)
        np.testing.assert_array_equal(y, loader.batch_indices % 3)


def test_transform_applies_to_features_per_batch():
    seen = []

    def double(x):
        seen.append(x.shape)
        return 2 * x

    loader = DataLoader(make_ds(10), batch_size=4, shuffle=False, transform=double)
    batches = [arrays(b) for b in loader]
    assert seen == [(4, 2), (4, 2), (2, 2)]
    np.testing.assert_array_equal(batches[0][0][:, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(batches[0][1], [0, 1, 2, 0])


def test_generic_map_dataset_is_collated():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float64), i

    x, y = arrays(next(iter(DataLoader(Squares(), batch_size=5, shuffle=False))))
    np.testing.assert_array_equal(x, [[i, i * i] for i in range(5)])
    np.testing.assert_array_equal(y, np.arange(5))


def test_sequential_sampler_in_loader():
    loader = DataLoader(make_ds(7), batch_size=3, sampler=SequentialSampler(7))
    assert epoch_ids(loader) == list(range(7))
    assert len(loader) == 3


def test_stratified_sampler_is_a_batch_sampler():
    labels = np.array([0] * 40 + [1] * 40 + [2] * 20)
    ds = ArrayDataset(np.arange(100.0)[:, None], labels)
    loader = DataLoader(ds, batch_size=32, sampler=StratifiedSampler(labels, 10, seed=0))
    assert len(loader) == 10
    ids = []
    for batch in loader:
        x, y = arrays(batch)
        assert np.bincount(y, minlength=3).tolist() == [4, 4, 2]
        ids += x[:, 0].astype(int).tolist()
    assert sorted(ids) == list(range(100))


def test_loader_state_dict_resumes_exactly():
    from graphgrad_plugins.transforms import Compose, RandomFlip, Standardize

    def build():
        x = np.random.default_rng(5).normal(size=(30, 1, 2, 3))
        tf = Compose([Standardize("per_channel"), RandomFlip(seed=9)]).fit(x)
        sampler = HardExampleSampler(30, seed=4)
        return DataLoader(ArrayDataset(x, np.arange(30)), batch_size=7, sampler=sampler,
                          seed=2, transform=tf)

    def run_epoch(loader):
        out = []
        for batch in loader:
            x, idx = arrays(batch)
            loader.sampler.update(idx, np.abs(x).mean(axis=(1, 2, 3)))
            out.append(x)
        return np.concatenate(out)

    straight = build()
    run_epoch(straight)
    saved = json_round_trip(straight.state_dict())
    expected = [run_epoch(straight) for _ in range(2)]
    resumed = build()
    resumed.load_state_dict(saved)
    for want in expected:
        np.testing.assert_array_equal(run_epoch(resumed), want)


def test_loader_state_dict_mismatch_is_an_error():
    saved = DataLoader(make_ds(5), sampler=RandomSampler(5, seed=0)).state_dict()
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(make_ds(5)).load_state_dict(saved)


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(make_ds(3), batch_size=0)
    with pytest.raises(TypeError, match="transform"):
        DataLoader(make_ds(3), transform=42)
    with pytest.raises(TypeError, match="map-style"):
        DataLoader(42)


# -- StreamDataset ------------------------------------------------------------------


def counter_chunks(size=3):
    start = 0
    while True:
        ids = np.arange(start, start + size)
        yield ids[:, None].astype(np.float64), ids % 2
        start += size


def test_stream_of_chunks_continues_across_epochs():
    ds = StreamDataset(counter_chunks(3), chunks=True, max_size=5)
    loader = DataLoader(ds, batch_size=2, shuffle=False)
    assert len(loader) == 3
    assert epoch_ids(loader) == [0, 1, 2, 3, 4]
    assert epoch_ids(loader) == [5, 6, 7, 8, 9]  # the split chunk's rest is kept
    x, y = arrays(next(iter(loader)))
    np.testing.assert_array_equal(y, x[:, 0].astype(int) % 2)
    assert loader.batch_indices is None


def test_stream_callable_sees_the_data_change():
    clock = {"t": 0}

    def poll():  # the samples that arrived since the last call drift with time
        clock["t"] += 1
        t = clock["t"]
        return [(np.array([t, i], dtype=np.float64), t) for i in range(4)]

    loader = DataLoader(StreamDataset(poll), batch_size=3, shuffle=False)
    for t in (1, 2, 3):
        batches = [arrays(b) for b in loader]
        assert [len(b[0]) for b in batches] == [3, 1]
        assert all((b[0][:, 0] == t).all() and (b[1] == t).all() for b in batches)


def test_stream_of_single_samples_from_a_list_repeats():
    samples = [(np.array([i], dtype=np.float64), i) for i in range(5)]
    loader = DataLoader(StreamDataset(samples), batch_size=2, shuffle=False, drop_last=True)
    assert epoch_ids(loader) == [0, 1, 2, 3]
    assert epoch_ids(loader) == [0, 1, 2, 3]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), window=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_stream_window_shuffle(n, window, seed):
    samples = [(np.array([i], dtype=np.float64), i) for i in range(n)]
    loader = DataLoader(StreamDataset(samples, window=window), batch_size=4, seed=seed)
    ids = epoch_ids(loader)
    assert sorted(ids) == list(range(n))
    position = {s: k for k, s in enumerate(ids)}
    assert all(position[i] >= i - window for i in range(n))  # emitted only after arrival
    again = DataLoader(StreamDataset(samples, window=window), batch_size=4, seed=seed)
    assert epoch_ids(again) == ids


def test_stream_window_shuffles_only_with_shuffle_on():
    samples = [(np.array([i], dtype=np.float64), i) for i in range(30)]
    ds = StreamDataset(samples, window=8)
    assert epoch_ids(DataLoader(ds, batch_size=4, shuffle=False)) == list(range(30))
    assert epoch_ids(DataLoader(ds, batch_size=4, seed=0)) != list(range(30))


def test_stream_errors():
    with pytest.raises(TypeError, match="max_size"):
        len(DataLoader(StreamDataset([1, 2, 3])))
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(StreamDataset([1, 2]), sampler=SequentialSampler(2))
    bad = StreamDataset([(np.zeros((3, 2)), np.zeros(2))], chunks=True)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2,\)"):
        list(bad)
    with pytest.raises(ValueError, match="window"):
        StreamDataset([], window=0)
    with pytest.raises(TypeError, match="source"):
        StreamDataset(42)


# -- samplers -------------------------------------------------------------------------


def test_random_sampler_permutes_and_resumes():
    s = RandomSampler(20, seed=7)
    first = list(s)
    assert sorted(first) == list(range(20)) and first != list(range(20))
    state = json_round_trip(s.state_dict())
    second = list(s)
    assert second != first
    s.load_state_dict(state)
    assert list(s) == second
    assert len(s) == 20
    assert list(SequentialSampler(4)) == [0, 1, 2, 3]


def test_stratified_exact_proportions():
    labels = np.array([0] * 40 + [1] * 40 + [2] * 20)
    perm = np.random.default_rng(0).permutation(100)
    s = StratifiedSampler(labels[perm], batch_size=10, seed=1)
    epochs = []
    for _ in range(2):
        batches = list(s)
        assert len(batches) == len(s) == 10
        for b in batches:
            assert np.bincount(labels[perm][b], minlength=3).tolist() == [4, 4, 2]
        epochs.append(np.concatenate(batches))
        assert sorted(epochs[-1].tolist()) == list(range(100))
    assert epochs[0].tolist() != epochs[1].tolist()


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 30), min_size=1, max_size=5),
       batch=st.integers(1, 12), drop_last=st.booleans(), seed=st.integers(0, 1000))
def test_stratified_batches_track_class_proportions(counts, batch, drop_last, seed):
    labels = np.repeat(np.arange(len(counts)), counts)
    n = len(labels)
    s = StratifiedSampler(labels, batch, seed=seed, drop_last=drop_last)
    batches = list(s)
    assert len(batches) == len(s) == (n // batch if drop_last else -(-n // batch))
    ids = np.concatenate(batches) if batches else np.array([], dtype=int)
    assert len(set(ids.tolist())) == len(ids)
    if not drop_last:
        assert sorted(ids.tolist()) == list(range(n))
    share = np.array(counts) / n
    for b in batches:
        got = np.bincount(labels[b], minlength=len(counts))
        assert np.all(np.abs(got - len(b) * share) < 2), (got, len(b) * share)


def test_stratified_resume_and_errors():
    labels = np.arange(30) % 3
    s = StratifiedSampler(labels, 6, seed=2)
    list(s)
    state = json_round_trip(s.state_dict())
    want = [b.tolist() for b in s]
    s.load_state_dict(state)
    assert [b.tolist() for b in s] == want
    with pytest.raises(ValueError, match="1-D"):
        StratifiedSampler(np.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="batch_size"):
        StratifiedSampler(labels, 0)


def expected_probabilities(losses, floor, cap, power=1.0):
    """Independent formulation: p_i = min(cap / n, lam * q_i), lam by bisection."""
    n = len(losses)
    s = np.maximum(losses, 0) ** power
    q = floor / n + (1 - floor) * (s / s.sum() if s.sum() > 0 else np.full(n, 1 / n))
    lo, hi = 0.0, 1e9
    for _ in range(200):
        lam = (lo + hi) / 2
        lo, hi = (lam, hi) if np.minimum(cap / n, lam * q).sum() < 1 else (lo, lam)
    return np.minimum(cap / n, lo * q)


def test_hard_example_probabilities_floor_and_cap():
    n, floor, cap = 20, 0.2, 3.0
    losses = np.linspace(0.0, 1.0, n) ** 2
    losses[-1] = 1000.0  # an outlier
    s = HardExampleSampler(n, floor=floor, cap=cap, seed=0)
    s.update(np.arange(n), losses)
    p = s.probabilities()
    np.testing.assert_allclose(p.sum(), 1.0)
    np.testing.assert_allclose(p, expected_probabilities(losses, floor, cap), atol=1e-9)
    assert p.min() >= floor / n - 1e-12
    assert p.max() <= cap / n + 1e-12
    assert np.all(np.diff(p) >= -1e-12)  # higher loss, never lower probability


def test_hard_example_empirical_frequencies():
    n, floor, cap = 10, 0.3, 2.5
    losses = np.array([0.0, 0.0, 0.1, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 50.0])
    s = HardExampleSampler(n, num_samples=20000, floor=floor, cap=cap, seed=1)
    s.update(np.arange(n), losses)
    draws = np.concatenate([np.fromiter(iter(s), dtype=int) for _ in range(5)])
    freq = np.bincount(draws, minlength=n) / len(draws)
    expected = expected_probabilities(losses, floor, cap)
    np.testing.assert_allclose(freq, expected, atol=0.006)
    assert freq[:2].min() > 0.9 * floor / n  # zero-loss samples keep the floor
    assert freq.max() < 1.05 * cap / n  # the outlier is capped
    assert freq[8] > 2 * freq[2]  # high loss is favoured


def test_hard_example_unseen_samples_get_the_top_score_and_weights_unbias():
    s = HardExampleSampler(4, floor=0.0, cap=4.0, seed=0)
    np.testing.assert_allclose(s.probabilities(), 0.25)
    s.update([0, 1], [1.0, 3.0])
    np.testing.assert_allclose(s.probabilities(), np.array([1, 3, 3, 3]) / 10)
    f = np.array([2.0, -1.0, 5.0, 0.5])
    w = s.importance_weights(np.arange(4))
    np.testing.assert_allclose((s.probabilities() * w * f).sum(), f.mean())
    uniform = HardExampleSampler(3, power=0.0)
    uniform.update([0, 1, 2], [1.0, 5.0, 9.0])
    np.testing.assert_allclose(uniform.probabilities(), 1 / 3)


def test_hard_example_state_and_errors():
    s = HardExampleSampler(6, seed=3)
    s.update([1, 4], [2.0, 0.5])
    state = json_round_trip(s.state_dict())
    want = list(s)
    t = HardExampleSampler(6, seed=99)
    t.load_state_dict(state)
    np.testing.assert_allclose(t.probabilities(), s.probabilities())
    assert list(t) == want
    with pytest.raises(ValueError, match="2 indices but 1 losses"):
        s.update([0, 1], [1.0])
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        s.update([6], [1.0])
    with pytest.raises(ValueError, match="finite"):
        s.update([0], [np.nan])
    with pytest.raises(ValueError, match="cap"):
        HardExampleSampler(5, cap=0.5)
    with pytest.raises(ValueError, match="n=3"):
        HardExampleSampler(3).load_state_dict(state)


# -- transform base classes ----------------------------------------------------------


class Shift(Transform):
    """A minimal fitted transform: y = x - mu."""

    stats = ("mu",)
    config = ("tag",)

    def __init__(self, tag="a"):
        super().__init__()
        self.tag, self.mu = tag, None

    def fit(self, x):
        self.mu = np.asarray(x).mean(axis=0)
        return self

    def apply(self, x):
        self.check_fitted()
        return x - self.mu


class Noise(RandomTransform):
    def apply(self, x):
        return x + self.rng.normal(size=x.shape)


def test_transform_base_fit_state_and_errors(tmp_path):
    x = np.arange(6.0).reshape(3, 2)
    with pytest.raises(RuntimeError, match="Shift is not fitted.*fit"):
        Shift()(x)
    t = Shift().fit(x)
    np.testing.assert_allclose(t(x), x - x.mean(axis=0))
    np.savez(tmp_path / "t.npz", **t.state_dict())
    with np.load(tmp_path / "t.npz", allow_pickle=False) as saved:
        u = Shift()
        u.load_state_dict(dict(saved))
    np.testing.assert_allclose(u(x), t(x))
    with pytest.raises(ValueError, match="tag"):
        Shift(tag="b").load_state_dict(t.state_dict())
    with pytest.raises(KeyError, match="mu"):
        Shift().load_state_dict({"tag": "a"})
    assert Transform().fit(x) is not None


def test_random_transform_modes_and_rng_state():
    t = Noise(seed=0)
    x = np.zeros((2, 3))
    assert t.training
    state = t.rng_state()
    first = t(x)
    assert not np.allclose(first, x)
    t.set_rng_state(json_round_trip(state))
    np.testing.assert_array_equal(t(x), first)
    t.eval()
    np.testing.assert_array_equal(t(x), x)
    t.train()
    assert t.training
