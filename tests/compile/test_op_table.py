"""Every op of the op case table (tests/ops/cases.py) compiles: a training-style step
through it — scale each input by a parameter, the op, a weighted sum, backward — replays
with no fallback, and the loss and every parameter gradient equal eager's on inputs that
change at every call (float64, to 1e-12).  Fusion is off (``fuse=False``) so the walk
checks the recorder and the plan, not Numba's compile time; fused replays have their own
tests (test_fusion.py)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg
from graphgrad.compile import CompileWarning

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ops"))
from cases import CASES, Case, special  # noqa: E402

#: Steps people write that the table spells otherwise: comparisons feeding where,
#: reductions with ties' weights, 0-d arithmetic between two losses.
CASES = CASES + [
    Case("where_of_comparison", lambda t: gg.where(t > 0, t, t * 0.1), None),
    Case("max_axis", lambda t: gg.max(t, axis=0), None),
    Case("amin_keepdim", lambda t: gg.amin(t, dim=1, keepdim=True), None),
    Case("two_losses", lambda a, b: (a * a).mean() + (b * 3.0).sum() * 0.5, None,
         shapes=((3, 4), (2,))),
]

CALLS = 4  # two recordings, then two replays

#: Cases whose table spelling reads ``t.data`` (NumPy on the data, which no replay can
#: see): the step spells the mask with a Tensor comparison, as a user of gg.compile would.
STEP_SPELLING = {"masked_fill": lambda t: gg.masked_fill(t, t > 0.5, -1.0)}
#: Cases that must not replay: their output's shape depends on the data.
DATA_SHAPED = {"masked_select"}


def _inputs(case, seed):
    rng = np.random.default_rng(seed)
    return [gg.tensor(np.asarray(d(rng.standard_normal(s)), dtype=np.float64))
            for d, s in zip(case.domains(), case.shapes)]


def _step(case, scales, weight, fn=None):
    fn = fn or STEP_SPELLING.get(case.name, case.fn)

    def step(*xs):
        for s in scales:
            s.grad = None
        out = fn(*[x * s for x, s in zip(xs, scales)])
        loss = (out * weight).sum()
        loss.backward()
        return loss
    return step


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in DATA_SHAPED],
                         ids=[c.name for c in CASES if c.name not in DATA_SHAPED])
def test_a_step_through_the_op_compiles_and_replays_what_eager_computes(case):
    if case.scipy and special is None:
        pytest.skip("the reference needs SciPy")
    if np.float64 not in case.dtypes:
        pytest.skip(f"{case.name} does not take float64")
    shape = np.shape(case.fn(*_inputs(case, 0)).data)
    weight = gg.tensor(np.random.default_rng(99).standard_normal(shape))
    eager_scales = [gg.tensor(np.ones(s), requires_grad=True) for s in case.shapes]
    scales = [gg.tensor(np.ones(s), requires_grad=True) for s in case.shapes]
    eager, compiled = _step(case, eager_scales, weight), gg.compile(_step(case, scales, weight),
                                                                    fuse=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)  # a fallback fails the case
        for call in range(CALLS):
            xs = _inputs(case, 10 + call)
            want, got = eager(*xs), compiled(*xs)
            np.testing.assert_allclose(got.data, want.data, rtol=1e-12, atol=1e-12,
                                       err_msg=f"{case.name}: loss at call {call}")
            for i, (s, e) in enumerate(zip(scales, eager_scales)):
                assert (s.grad is None) == (e.grad is None), (case.name, i)
                if e.grad is not None:
                    np.testing.assert_allclose(s.grad.data, e.grad.data, rtol=1e-12,
                                               atol=1e-12,
                                               err_msg=f"{case.name}: ∂scale{i} at {call}")
    assert f"{CALLS - 2} replay(s)" in compiled.explain(), compiled.explain()


@pytest.mark.parametrize("name", sorted(DATA_SHAPED) + sorted(STEP_SPELLING))
def test_a_step_that_cannot_replay_runs_eager_with_a_warning_and_stays_right(name):
    # masked_select's output shape follows the data; masked_fill spelled with t.data > 0.5
    # computes its mask with NumPy: both must fall back (warning), never replay stale
    case = next(c for c in CASES if c.name == name)
    weight = gg.tensor(np.float64(1.0))
    scales = [gg.tensor(np.ones(s), requires_grad=True) for s in case.shapes]
    compiled = gg.compile(_step(case, scales, weight, fn=lambda t: case.fn(t).sum()),
                          fuse=False)
    eager = _step(case, [gg.tensor(np.ones(s), requires_grad=True) for s in case.shapes],
                  weight, fn=lambda t: case.fn(t).sum())
    with pytest.warns(CompileWarning, match="runs eager"):
        for call in range(CALLS):
            xs = _inputs(case, 10 + call)
            np.testing.assert_allclose(compiled(*xs).data, eager(*xs).data, rtol=1e-12)
