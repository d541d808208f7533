"""HardExampleSampler's importance weights make the trainer's gradient unbiased (issue 12)."""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.data import ArrayDataset, DataLoader, HardExampleSampler


def _setup(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    y = rng.integers(0, 3, n)
    model = gg.Sequential(gg.layers.Linear(3, 3, rng=seed, dtype="float64"))
    sampler = HardExampleSampler(n, floor=0.2, cap=4.0, seed=seed)
    sampler.update(np.arange(n), rng.exponential(1.0, n) ** 2)  # unequal: p is far from 1/n
    return x, y, model, sampler


def _grads(model):
    return np.concatenate([p.grad.data.ravel() for p in model.parameters()])


def test_weighted_sample_gradients_average_to_the_full_batch_gradient():
    x, y, model, sampler = _setup()
    n = len(x)
    list(iter(sampler))  # start an epoch: its probabilities are fixed now
    p = sampler.epoch_probabilities
    assert p.max() / p.min() > 3  # the sampler really favours some samples
    loss = gg.losses.CrossEntropy()
    opt = gg.optimizers.SGD(model.parameters(), lr=0.1)
    trainer = gg.Trainer(model, loss, opt, progress=False)
    opt.step = lambda closure=None: None  # keep the weights: we only read the gradients
    expected = np.zeros_like(_grads(_full_batch(model, loss, x, y)))
    for i in range(n):  # E_{i~p}[g_i] = Σ_i p_i g_i, exactly
        weights = sampler.importance_weights([i])
        trainer._train_step(gg.tensor(x[i:i + 1]), gg.tensor(y[i:i + 1]), 0, True, weights)
        expected += p[i] * _grads(model)
    full = _grads(_full_batch(model, loss, x, y))
    np.testing.assert_allclose(expected, full, rtol=1e-10, atol=1e-12)
    # without the weights the same expectation is biased towards the hard samples
    biased = np.zeros_like(full)
    for i in range(n):
        trainer._train_step(gg.tensor(x[i:i + 1]), gg.tensor(y[i:i + 1]), 0, True, None)
        biased += p[i] * _grads(model)
    assert np.abs(biased - full).max() > 1e-3


def _full_batch(model, loss, x, y):
    model.zero_grad()
    loss(model(gg.tensor(x)), y).backward()
    return model


def test_the_trainer_weights_every_batch_with_the_epochs_probabilities():
    x, y, model, sampler = _setup(n=20, seed=1)
    calls = []
    original = sampler.importance_weights

    def recording(indices):
        w = original(indices)
        calls.append((list(indices), w))
        return w

    sampler.importance_weights = recording
    loader = DataLoader(ArrayDataset(x, y), batch_size=5, sampler=sampler)
    trainer = gg.Trainer(model, gg.losses.CrossEntropy(),
                         gg.optimizers.SGD(model.parameters(), lr=0.1), progress=False)
    trainer.fit(loader, epochs=1)
    assert len(calls) == 4 and all(len(i) == 5 for i, _ in calls)
    p = sampler.epoch_probabilities
    for indices, w in calls:  # the p the epoch was drawn from, though update() ran since
        np.testing.assert_allclose(w, 1.0 / (20 * p[indices]))
    assert not np.allclose(sampler.probabilities(), p)
