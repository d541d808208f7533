"""dim= and keepdim= wherever docs/autodiff.md says so: the test reads the list in the docs,
checks that it is the list of calls below (so neither can drift), and calls each name as a
function and as a Tensor method with dim= (and keepdim= for the reductions) against NumPy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import graphgrad as gg

DOC = Path(__file__).resolve().parents[2] / "docs" / "autodiff.md"
MARKER = "<!-- the dim/keepdim list"


def _docs_list() -> dict[str, list[str]]:
    """{group: [names]} from the bullet list after the marker in docs/autodiff.md."""
    text = DOC.read_text(encoding="utf-8")
    assert MARKER in text, "docs/autodiff.md lost the dim/keepdim list"
    groups, started = {}, False
    for line in text[text.index(MARKER):].splitlines()[1:]:
        if line.startswith("- "):
            started = True
            group, names = line[2:].split(":", 1)
            groups[group.strip()] = re.findall(r"`(\w+)`", names)
        elif started:
            break
    return groups


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis, keepdims):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _topk(x, axis):
    return np.take(-np.sort(-x, axis=axis), [0, 1], axis=axis)


# name -> NumPy reference (x, axis, keepdims) for the reductions
REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "var": np.var, "std": np.std, "max": np.max,
    "min": np.min, "amax": np.max, "amin": np.min, "prod": np.prod,
    "logsumexp": _logsumexp,
    "norm": lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
    "any": lambda x, axis, keepdims: np.any(x > 0, axis=axis, keepdims=keepdims),
    "all": lambda x, axis, keepdims: np.all(x > -1, axis=axis, keepdims=keepdims),
    "argmax": np.argmax, "argmin": np.argmin,
}
ARGUMENT = {"any": lambda t: t > 0, "all": lambda t: t > -1}  # boolean inputs
SINGLE_AXIS = {"argmax", "argmin"}  # one axis (NumPy and PyTorch alike)
# name -> (call with dim, NumPy reference (x, axis)) for the ops along one axis
ALONG = {
    "softmax": (None, _softmax),
    "log_softmax": (None, lambda x, axis: np.log(_softmax(x, axis))),
    "softmin": (None, lambda x, axis: _softmax(-x, axis)),
    "cumsum": (None, lambda x, axis: np.cumsum(x, axis=axis)),
    "cumprod": (None, lambda x, axis: np.cumprod(x, axis=axis)),
    "cummax": (lambda f, t, d: f(t, dim=d)[0], lambda x, axis: np.maximum.accumulate(x, axis)),
    "cummin": (lambda f, t, d: f(t, dim=d)[0], lambda x, axis: np.minimum.accumulate(x, axis)),
    "logcumsumexp": (None, lambda x, axis: np.logaddexp.accumulate(x, axis=axis)),
    "sort": (lambda f, t, d: f(t, dim=d)[0], lambda x, axis: np.sort(x, axis=axis)),
    "argsort": (None, lambda x, axis: np.argsort(x, axis=axis, kind="stable")),
    "topk": (lambda f, t, d: f(t, 2, dim=d)[0], _topk),
}
X = np.random.default_rng(0).standard_normal((3, 4, 5))


def test_the_docs_list_is_the_list_tested_here():
    groups = _docs_list()
    assert len(groups) == 4, groups
    reductions = next(v for k, v in groups.items() if k.startswith("the reductions"))
    along = [n for k, v in groups.items() if not k.startswith("the reductions") for n in v]
    assert sorted(reductions) == sorted(REDUCTIONS)
    assert sorted(along) == sorted(ALONG)


def _arg(name, t):
    return ARGUMENT[name](t) if name in ARGUMENT else t


@pytest.mark.parametrize("name,dim", [(n, d) for n in sorted(REDUCTIONS)
                                      for d in (1, -1, (0, 2))
                                      if not (n in SINGLE_AXIS and isinstance(d, tuple))])
@pytest.mark.parametrize("keepdim", [None, False, True])
def test_reductions_take_dim_and_keepdim(name, dim, keepdim):
    t = gg.tensor(X)
    kw = {"dim": dim} if keepdim is None else {"dim": dim, "keepdim": keepdim}
    want = REDUCTIONS[name](X, axis=dim, keepdims=bool(keepdim))
    got = getattr(gg, name)(_arg(name, t), **kw)
    np.testing.assert_allclose(np.asarray(got.data, np.float64), want, rtol=1e-12, atol=1e-14)
    method = getattr(_arg(name, t), name, None)
    if method is not None:  # as the Tensor method too
        np.testing.assert_allclose(np.asarray(method(**kw).data, np.float64), want, rtol=1e-12,
                                   atol=1e-14)
    assert got.shape == np.shape(want)


@pytest.mark.parametrize("name", sorted(ALONG))
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_ops_along_one_axis_take_dim(name, dim):
    call, ref = ALONG[name]
    fn = getattr(gg, name)
    call = call or (lambda f, t, d: f(t, dim=d))
    want = ref(X, dim)
    t = gg.tensor(X)
    np.testing.assert_allclose(call(fn, t, dim).data, want, rtol=1e-12, atol=1e-14)
    if hasattr(t, name):
        np.testing.assert_allclose(call(lambda v, *a, **k: getattr(v, name)(*a, **k), t,
                                        dim).data, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(REDUCTIONS) + sorted(ALONG))
def test_axis_and_dim_together_are_refused(name):
    extra = (2,) if name == "topk" else ()
    with pytest.raises(TypeError, match=f"{name}: give axis or dim, not both"):
        getattr(gg, name)(_arg(name, gg.tensor(X)), *extra, axis=0, dim=1)


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_keepdims_and_keepdim_that_disagree_are_refused(name):
    with pytest.raises(TypeError, match=f"{name}: give keepdims or keepdim, not both"):
        getattr(gg, name)(_arg(name, gg.tensor(X)), axis=1, keepdims=True, keepdim=False)


def test_gradients_flow_through_the_dim_spelling():
    t = gg.tensor(X, requires_grad=True)
    assert gg.check.gradcheck(lambda v: v.sum(dim=(0, 2), keepdim=True) * gg.softmax(
        v, dim=1).logsumexp(dim=-1, keepdim=True).mean(dim=1, keepdim=True), [t])
