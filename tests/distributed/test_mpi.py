"""Two-rank tests: launch ``mpiexec -n 2`` in a subprocess and check its output."""

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).parent / "scripts"
ROOT = Path(__file__).resolve().parents[2]


def _mpiexec():
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def _require():
    reason = None
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        reason = "mpi4py not installed"
    if reason is None and _mpiexec() is None:
        reason = "mpiexec not found next to sys.executable nor on PATH"
    if reason:
        if os.environ.get("GRAPHGRAD_REQUIRE_MPI") == "1":
            pytest.fail(reason + " (GRAPHGRAD_REQUIRE_MPI=1)")
        pytest.skip(reason)


def _start(script, args, n):
    """``mpiexec -n n python script args`` (n=1: plain python) in a new session; stop it
    with :func:`_kill`, which also finds the ranks (they are not in that session)."""
    _require()
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    launcher = [_mpiexec(), "-n", str(n)] if n > 1 else []
    return subprocess.Popen([*launcher, sys.executable, str(SCRIPTS / script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)


def _tree(pid):
    """pid and all its descendants (from /proc: hydra's proxy and the ranks each call
    setsid, so they are in neither mpiexec's process group nor its session)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _kill(proc):
    """SIGKILL mpiexec and every process under it (proxies, ranks), then reap mpiexec."""
    for pid in _tree(proc.pid) if proc.poll() is None else []:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run_mpi(script, *args, n=2, timeout=60):
    proc = _start(script, args, n)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    finally:
        _kill(proc)  # on a timeout: mpiexec and the ranks


def test_allreduce_broadcast_and_metrics_two_ranks():
    code, out = run_mpi("allreduce.py")
    assert code == 0, out
    assert "rank 0 OK" in out and "rank 1 OK" in out


def test_failing_rank_aborts_job_with_traceback():
    code, out = run_mpi("fail.py", timeout=10)
    assert code != 0, out
    assert "boom on rank one" in out and "Traceback" in out
    assert "rank 1/2" in out


def test_digits_mlp_two_ranks_match_single_process():
    pytest.importorskip("sklearn", reason="scikit-learn provides load_digits")
    code, out = run_mpi("digits.py", timeout=120)
    assert code == 0, out
    assert "digits OK 168 steps" in out, out


def test_uneven_global_batches_give_the_single_process_mean():
    # batch 33 on 2 ranks: slices of 16 and 17, the last batch (1797 % 33 = 15) 7 and 8;
    # each rank's gradient weighted by its share equals the single-process mean to 1e-6
    pytest.importorskip("sklearn", reason="scikit-learn provides load_digits")
    code, out = run_mpi("digits.py", 33, 1797, timeout=120)
    assert code == 0, out
    assert "digits OK 165 steps" in out, out


def test_compiled_two_ranks_match_eager_data_parallel():
    pytest.importorskip("sklearn", reason="scikit-learn provides load_digits")
    code, out = run_mpi("digits.py", 32, 1792, "compile", timeout=240)
    assert code == 0, out
    assert "digits OK 168 steps" in out, out
    assert "rank 0 compiled" in out and "rank 1 compiled" in out, out


def _train_until_checkpoint_then_kill(tmp_path, kill, timeout=120):
    """A 2-rank run killed (SIGKILL to mpiexec and its ranks) once its checkpoint is written."""
    ckpt = tmp_path / "run.npz"
    proc = _start("resume.py", ["train", ckpt, kill], 2)
    try:
        lines = []
        deadline = time.monotonic() + timeout
        ready = selectors.DefaultSelector()
        ready.register(proc.stdout, selectors.EVENT_READ)
        while "checkpoint written" not in "".join(lines):
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, "".join(lines)
            if ready.select(timeout=min(left, 1.0)):
                line = proc.stdout.readline()
                assert line, "".join(lines)
                lines.append(line)
        ranks = [p for p in _tree(proc.pid)[1:] if "resume.py" in _cmdline(p)]
        assert len(ranks) == 2, ranks
    finally:
        _kill(proc)
    assert proc.returncode == -signal.SIGKILL
    assert _wait_gone(ranks), "a rank outlived the killed job"
    return ckpt


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_gone(pids, timeout=10):
    """Whether every pid has ended (zombies count as ended) within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if _cmdline(p)]
        if not alive:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("kill", ["epoch", "batch"])
def test_killed_two_rank_run_resumes_on_one_and_two_ranks(tmp_path, kill):
    """kill=epoch: after epoch 1 (its checkpoint written by rank 0); kill=batch: in the
    middle of epoch 2 (a checkpoint after its 20th batch).  Resumed on 1 rank and on 2,
    both finish as the uninterrupted 1-rank run (to 1e-6: the 2-rank epochs differ from
    1-rank ones by rounding only): same parameters, per-epoch losses and learning rates."""
    pytest.importorskip("sklearn", reason="scikit-learn provides load_digits")
    ckpt = _train_until_checkpoint_then_kill(tmp_path, kill)
    results = {}
    for name, n, args in (("reference", 1, ["reference", tmp_path / "ref.npz"]),
                          ("one", 1, ["resume", ckpt, tmp_path / "one.npz"]),
                          ("two", 2, ["resume", ckpt, tmp_path / "two.npz"])):
        code, out = run_mpi("resume.py", *args, n=n, timeout=120)
        assert code == 0 and f"rank 0 {args[0]} done" in out, out
        results[name] = np.load(args[-1])
    ref = results["reference"]
    assert int(results["two"]["world"]) == 2 and int(results["one"]["world"]) == 1
    for name in ("one", "two"):
        got = results[name]
        assert int(got["step"]) == int(ref["step"]) == 3 * 56
        np.testing.assert_allclose(got["params"], ref["params"], rtol=1e-6, atol=1e-9,
                                   err_msg=name)
        np.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(got["lr"], ref["lr"])
    # the two resumes start from one file and differ only by the 2-rank rounding
    np.testing.assert_allclose(results["one"]["params"], results["two"]["params"], rtol=1e-6,
                               atol=1e-9)
    if kill == "epoch":  # a rank that does not see rank 0's file: all ranks refuse
        code, out = run_mpi("resume.py", "stale", ckpt, timeout=60)
        assert code == 0, out
        for r in (0, 1):
            assert f"rank {r} refused" in out and "rank 1: missing" in out, out


def test_ranks_reducing_different_gradients_or_empty_slices_refuse():
    code, out = run_mpi("mismatch.py", timeout=60)
    assert code == 0, out
    for r in (0, 1):
        assert f"rank {r} layout refused" in out, out
        assert f"rank {r} batch refused" in out and "cannot be split over 2 ranks" in out, out
    assert "this rank has 3 gradients of 9 elements" in out, out
