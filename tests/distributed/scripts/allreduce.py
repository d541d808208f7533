"""Run under mpiexec -n 2: gradient all-reduce and broadcast against NumPy."""
import numpy as np
import graphgrad as gg
from graphgrad import distributed as dist

r, w = dist.rank(), dist.world_size()
assert w == 2, w
rng = np.random.default_rng(r)
ps = [gg.tensor(rng.normal(size=s), requires_grad=True) for s in [(3, 4), (5,)]]
ps.append(gg.tensor(rng.normal(size=(2,)).astype(np.float32), requires_grad=True))
for i, p in enumerate(ps):
    p.grad = gg.tensor(np.full(p.shape, float(r + 1) * (i + 1), dtype=p.data.dtype))
dist.allreduce_gradients(ps)
for i, p in enumerate(ps):
    assert p.grad.data.dtype == p.data.dtype
    np.testing.assert_allclose(p.grad.data, 1.5 * (i + 1))
dist.broadcast_parameters(ps)
ref = np.random.default_rng(0)
np.testing.assert_array_equal(ps[0].data, ref.normal(size=(3, 4)))
m = dist.average_metrics({"loss": float(r)}, weight=1 + r)
assert abs(m["loss"] - 2 / 3) < 1e-12, m
print(f"rank {r} OK", flush=True)
