"""Property: a compiled step and its eager twin agree after every call, whatever happens between.

Hypothesis drives both through random sequences of repeated and new batches,
learning-rate and hyperparameter changes, train/eval switches,
``load_state_dict`` of the model and of the optimizer, edits of the model
(layers replaced or appended, parameters replaced and given to the optimizer)
and ``requires_grad_`` changes, and compares the loss, the model's state
(parameters and running statistics) and the optimizer's state after every
call.  Kept small: few examples, tiny nets.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import graphgrad as gg  # noqa: E402
from graphgrad.compile import CompileWarning  # noqa: E402

RTOL = 1e-4  # fused exp/log are within a few ulp of NumPy's (docs/compile.md)


def _mlp():
    model = gg.Sequential(gg.layers.Linear(4, 6), gg.layers.Tanh(), gg.layers.Dropout(0.3),
                          gg.layers.Linear(6, 3))
    return model, gg.optimizers.Adam(model.parameters(), lr=0.01), (4,)


def _cnn():
    model = gg.Sequential(gg.layers.Conv2d(1, 2, 3), gg.layers.BatchNorm2d(2),
                          gg.layers.ReLU(), gg.layers.Flatten(), gg.layers.Linear(2 * 3 * 3, 3))
    return model, gg.optimizers.SGD(model.parameters(), lr=0.05, momentum=0.9), (1, 5, 5)


def _skip():
    net = gg.Network()
    net.add("fc1", gg.layers.Linear(4, 4))
    net.add("act", gg.layers.Tanh())
    net.add("sum", gg.layers.Add(), inputs=["act", "fc1"])
    net.add("head", gg.layers.Linear(4, 3), inputs=["sum"])
    return net, gg.optimizers.SGD(net.parameters(), lr=0.05, momentum=0.9), (4,)


BUILDERS = {"mlp_dropout_adam": _mlp, "cnn_batchnorm_sgd": _cnn, "network_skip_sgd": _skip}


def _twin(build):
    gg.manual_seed(0)
    model, opt, shape = build()
    rng = np.random.default_rng(7)
    for p in model.parameters():
        p.data[...] = 0.4 * rng.standard_normal(p.shape)
    loss_fn = gg.losses.CrossEntropy()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return model, opt, shape, step


def _edit(model, opt, which):
    """The same model edit on either twin: a Network layer replaced; in a Sequential a
    new bias or weight Parameter given to the optimizer (0, 1) or an appended layer (2, 3)."""
    if isinstance(model, gg.Network):
        model.replace("act", gg.layers.ReLU() if which % 2 else gg.layers.Tanh())
    elif which < 2:
        first, attr = model[0], ("bias", "weight")[which]
        new = gg.Parameter(np.array(getattr(first, attr).data) * 0.5)
        setattr(first, attr, new)
        opt.add_param_group({"params": [new]})
    else:
        model.append(gg.layers.Tanh() if which == 2 else gg.layers.LeakyReLU(0.2))


def _hyper(model, opt, value):
    for m in model.modules():
        if isinstance(m, gg.layers.Dropout):
            m.p = value
        if isinstance(m, gg.layers.BatchNorm2d) and hasattr(m, "momentum"):
            m.momentum = value
        if isinstance(m, gg.layers.LeakyReLU):
            m.slope = value
    for g in opt.param_groups:
        g["weight_decay"] = 0.01 * value
        if "momentum" in g:
            g["momentum"] = value
        if "betas" in g:
            g["betas"] = (value, g["betas"][1])


ACTIONS = st.lists(st.tuples(
    st.sampled_from(["same", "new", "lr", "hyper", "mode", "load_model", "load_opt", "edit",
                     "requires_grad"]),
    st.integers(0, 3)), min_size=3, max_size=9)


def _numbers(state):
    """The arrays and numbers of a (nested) state dict, by key path."""
    if isinstance(state, dict):
        return {f"{k}/{p}": v for k, sub in state.items() for p, v in _numbers(sub).items()}
    if isinstance(state, (list, tuple)):
        return {f"{i}/{p}": v for i, sub in enumerate(state) for p, v in _numbers(sub).items()}
    if isinstance(state, (np.ndarray, int, float)) and not isinstance(state, bool):
        return {"": np.asarray(state, np.float64)}
    return {}


def _assert_twins_equal(got, want, model, eager_model, opt, eager_opt, what):
    np.testing.assert_allclose(got.data, want.data, rtol=RTOL, atol=1e-6,
                               err_msg=f"loss after {what}")
    for part, a, b in (("model", model, eager_model), ("optimizer", opt, eager_opt)):
        mine, theirs = _numbers(a.state_dict()), _numbers(b.state_dict())
        assert mine.keys() == theirs.keys(), f"{part} state keys after {what}"
        for key in mine:  # parameters, buffers (running statistics), optimizer state
            np.testing.assert_allclose(mine[key], theirs[key], rtol=RTOL, atol=1e-6,
                                       err_msg=f"{part} {key} after {what}")


# Three new batches after the random actions: whatever they left behind, the
# step records (twice at most) and then replays, so no example passes by
# running eager throughout.
TAIL = [("new", 0)] * 3


@pytest.mark.parametrize("name", sorted(BUILDERS))
# no shrinking: the failing sequence is printed as found, in seconds, not minutes
@settings(max_examples=4, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_compiled_and_eager_twins_agree_after_every_call(name, actions):
    eager_model, eager_opt, shape, eager_step = _twin(BUILDERS[name])
    model, opt, _, step = _twin(BUILDERS[name])
    compiled = gg.compile(step)
    data = np.random.default_rng(3)

    def batch():
        return (data.standard_normal((6,) + shape).astype(np.float32),
                data.integers(0, 3, size=6))

    x, y = batch()
    saved = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for i, (action, arg) in enumerate([("same", 0), ("same", 0)] + actions + TAIL):
            if i == len(actions) + 2:
                replays = compiled.replays
            if action == "new":
                x, y = batch()
            elif action == "lr":
                for o in (opt, eager_opt):
                    for g in o.param_groups:
                        g["lr"] = 0.01 * (arg + 1)
            elif action == "hyper":
                for m, o in ((model, opt), (eager_model, eager_opt)):
                    _hyper(m, o, [0.0, 0.5, 0.9, 0.2][arg])
            elif action == "mode":
                for m in (model, eager_model):
                    m.train(arg % 2 == 0)
            elif action == "load_model" or action == "load_opt":
                if saved is None:
                    saved = (eager_model.state_dict(), eager_opt.state_dict())
                elif action == "load_model":
                    model.load_state_dict(saved[0])
                    eager_model.load_state_dict(saved[0])
                else:
                    opt.load_state_dict(saved[1])
                    eager_opt.load_state_dict(saved[1])
            elif action == "edit":
                _edit(model, opt, arg)
                _edit(eager_model, eager_opt, arg)
                saved = None  # saved before the edit: it no longer fits
            elif action == "requires_grad":
                for m in (model, eager_model):
                    p = list(m.parameters())[arg % 2]
                    p.requires_grad_(not p.requires_grad)
            gg.manual_seed(100 + i)
            got = compiled(gg.tensor(x), y)
            gg.manual_seed(100 + i)
            want = eager_step(gg.tensor(x), y)
            _assert_twins_equal(got, want, model, eager_model, opt, eager_opt,
                                f"{action} {arg} (call {i})")
    assert compiled.replays > replays and not compiled.fallbacks, (
        compiled.fallbacks or compiled.last_reason)
