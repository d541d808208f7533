"""In-process tests of graphgrad.distributed (a world of one, the sampler)."""

import sys

import numpy as np
import pytest

from graphgrad import distributed as dist


def test_import_does_not_import_mpi4py():
    import subprocess
    code = "import graphgrad, graphgrad.distributed, sys; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_world_of_one():
    assert dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    assert dist.average_metrics({"loss": 2.5}) == {"loss": 2.5}


@pytest.mark.parametrize("n,w", [(10, 2), (11, 2), (13, 4), (3, 5), (0, 2)])
def test_sampler_covers_each_sample_once(n, w):
    for epoch in range(3):
        shards = []
        for r in range(w):
            s = dist.DistributedSampler(n, num_replicas=w, rank=r, seed=7)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(s) == len(shards[-1])
        allidx = sorted(i for sh in shards for i in sh)
        assert allidx == list(range(n))
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_sampler_epochs_differ_and_same_seed_same_order():
    a = dist.DistributedSampler(50, 2, 0, seed=1)
    b = dist.DistributedSampler(50, 2, 1, seed=1)
    assert np.array_equal(a.order(), b.order())
    first = a.order()
    a.set_epoch(1)
    assert not np.array_equal(first, a.order())


def test_shard_batch_contiguous_slices():
    x = np.arange(7)
    parts = [dist.shard_batch((x,), r, 3)[0] for r in range(3)]
    assert np.array_equal(np.concatenate(parts), x)


def test_trainer_refuses_a_loader_already_sharded_by_a_distributed_sampler():
    import graphgrad as gg
    from graphgrad.data import ArrayDataset, DataLoader

    x, y = np.zeros((8, 2), np.float32), np.zeros(8, np.int64)
    model = gg.layers.Linear(2, 2)
    tr = gg.Trainer(model, gg.losses.CrossEntropy(),
                    gg.optimizers.SGD(model.parameters(), lr=0.1), progress=False,
                    distributed=True)
    loader = DataLoader(ArrayDataset(x, y), batch_size=4,
                        sampler=dist.DistributedSampler(8, num_replicas=2, rank=0))
    with pytest.raises(ValueError, match="shards every global batch itself"):
        tr.fit(loader, epochs=1)
    # the ordinary loader trains (a world of one: the full batch, weight 1)
    tr.fit(DataLoader(ArrayDataset(x, y), batch_size=4, seed=0), epochs=1)
    assert tr.step == 2 and tr._allreduce.weight == 1.0
