"""Run under mpiexec -n 2: rank 1 raises; the job must end, not hang."""
import time
from graphgrad import distributed as dist

try:
    if dist.rank() == 1:
        raise ValueError("boom on rank one")
    dist.barrier()
    time.sleep(60)
except BaseException as exc:
    dist.abort_on_error(exc)
