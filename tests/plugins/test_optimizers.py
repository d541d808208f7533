"""Tests of the built-in optimizers (plugins/optimizers.py, plugins/second_order.py)."""

import json

import numpy as np
import pytest
from graphgrad_plugins.optimizers import SGD, Adagrad, Adam, RMSprop
from graphgrad_plugins.second_order import LBFGS, Newton

import graphgrad as gg

RNG = np.random.default_rng(0)
TARGET = np.array([0.5, -1.0, 2.0])
SCALE = np.array([1.0, 3.0, 0.5])


def loss_of(theta):
    """L(θ) = Σ s·(θ − c)²;  ∇L = 2s(θ − c), known in closed form for the references."""
    return (gg.tensor(SCALE) * (theta - gg.tensor(TARGET)) ** 2).sum()


def grad_of(theta):
    return 2 * SCALE * (theta - TARGET)


def param(values=(1.0, 2.0, -3.0)):
    return gg.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def run(opt, theta, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_of(theta).backward()
        opt.step()


# ------------------------------------------------------------------- registry
def test_registered_under_their_names():
    expected = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam,
                "lbfgs": LBFGS, "newton": Newton}
    for name, cls in expected.items():
        assert gg.optimizers[name] is cls


# -------------------------------------------------------- SGD: one step by hand
def test_sgd_plain_step(backend):
    theta = param()
    t0 = theta.data.copy()
    run(SGD([theta], lr=0.1), theta, 1)
    np.testing.assert_allclose(theta.data, t0 - 0.1 * grad_of(t0), rtol=1e-12)


def test_sgd_weight_decay_is_shrinkage(backend):
    theta, lr, lam = param(), 0.1, 0.3
    t0 = theta.data.copy()
    run(SGD([theta], lr=lr, weight_decay=lam), theta, 1)
    np.testing.assert_allclose(theta.data, (1 - lam * lr) * t0 - lr * grad_of(t0), rtol=1e-12)


def test_sgd_l1(backend):
    theta, lr, lam = param((1.0, -2.0, 0.0)), 0.1, 0.3
    t0 = theta.data.copy()
    run(SGD([theta], lr=lr, l1=lam), theta, 1)
    np.testing.assert_allclose(theta.data, t0 - lam * lr * np.sign(t0) - lr * grad_of(t0),
                               rtol=1e-12)


def test_sgd_momentum_two_steps(backend):
    theta, lr, gamma = param(), 0.05, 0.9
    opt = SGD([theta], lr=lr, momentum=gamma)
    t, u = theta.data.copy(), np.zeros(3)
    for _ in range(2):
        u = gamma * u - lr * grad_of(t)
        t = t + u
        run(opt, theta, 1)
    np.testing.assert_allclose(theta.data, t, rtol=1e-12)
    np.testing.assert_allclose(opt.state[theta]["momentum_buffer"], u, rtol=1e-12)


def test_sgd_nesterov_two_steps(backend):
    theta, lr, gamma = param(), 0.05, 0.9
    opt = SGD([theta], lr=lr, momentum=gamma, nesterov=True)
    t, u = theta.data.copy(), np.zeros(3)
    for _ in range(2):
        g = grad_of(t)
        u = gamma * u - lr * g
        t = t + gamma * u - lr * g
        run(opt, theta, 1)
    np.testing.assert_allclose(theta.data, t, rtol=1e-12)


# ------------------------------------------- adaptive optimizers: 3 steps vs NumPy
def numpy_adam(t, steps, lr, b1, b2, eps, wd):
    m, v = np.zeros_like(t), np.zeros_like(t)
    for k in range(1, steps + 1):
        g = grad_of(t) + wd * t
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        t = t - lr * (m / (1 - b1**k)) / (np.sqrt(v / (1 - b2**k)) + eps)
    return t, {"step": steps, "exp_avg": m, "exp_avg_sq": v}


def numpy_rmsprop(t, steps, lr, alpha, eps, wd):
    s = np.zeros_like(t)
    for _ in range(steps):
        g = grad_of(t) + wd * t
        s = alpha * s + (1 - alpha) * g * g
        t = t - lr * g / (np.sqrt(s) + eps)
    return t, {"square_avg": s, "step": steps}


def numpy_adagrad(t, steps, lr, eps, wd):
    s = np.zeros_like(t)
    for _ in range(steps):
        g = grad_of(t) + wd * t
        s = s + g * g
        t = t - lr * g / (np.sqrt(s) + eps)
    return t, {"sum": s, "step": steps}


ADAPTIVE = {
    "adam": (lambda p, wd: Adam([p], lr=0.1, weight_decay=wd),
             lambda t, wd: numpy_adam(t, 3, 0.1, 0.9, 0.999, 1e-8, wd)),
    "rmsprop": (lambda p, wd: RMSprop([p], lr=0.01, weight_decay=wd),
                lambda t, wd: numpy_rmsprop(t, 3, 0.01, 0.99, 1e-8, wd)),
    "adagrad": (lambda p, wd: Adagrad([p], lr=0.1, weight_decay=wd),
                lambda t, wd: numpy_adagrad(t, 3, 0.1, 1e-10, wd)),
}


@pytest.mark.parametrize("weight_decay", [0.0, 0.2])
@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_adaptive_state_after_three_steps_equals_numpy(name, weight_decay, backend):
    build, reference = ADAPTIVE[name]
    theta = param()
    expected_theta, expected_state = reference(theta.data.copy(), weight_decay)
    opt = build(theta, weight_decay)
    run(opt, theta, 3)
    np.testing.assert_allclose(theta.data, expected_theta, rtol=1e-12)
    state = opt.state[theta]
    assert sorted(state) == sorted(expected_state)
    for key, value in expected_state.items():
        np.testing.assert_allclose(state[key], value, rtol=1e-12)


def test_adam_defaults_are_the_papers():
    opt = Adam([param()])
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"]) == (1e-3, (0.9, 0.999), 1e-8)


TORCH_PAIRS = {
    "sgd_nesterov": (lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
                     lambda tp, torch: torch.optim.SGD(tp, lr=0.05, momentum=0.9, nesterov=True,
                                                       weight_decay=0.1)),
    "adam": (lambda p: Adam(p, lr=0.05, weight_decay=0.1),
             lambda tp, torch: torch.optim.Adam(tp, lr=0.05, weight_decay=0.1)),
    "rmsprop": (lambda p: RMSprop(p, lr=0.01),
                lambda tp, torch: torch.optim.RMSprop(tp, lr=0.01)),
    "adagrad": (lambda p: Adagrad(p, lr=0.1),
                lambda tp, torch: torch.optim.Adagrad(tp, lr=0.1)),
}


@pytest.mark.parametrize("name", sorted(TORCH_PAIRS))
def test_trajectory_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    ours, theirs = TORCH_PAIRS[name]
    theta = param()
    t = torch.tensor(theta.data.copy(), requires_grad=True)
    opt, topt = ours([theta]), theirs([t], torch)
    scale, target = torch.tensor(SCALE), torch.tensor(TARGET)
    for _ in range(5):
        run(opt, theta, 1)
        topt.zero_grad()
        (scale * (t - target) ** 2).sum().backward()
        topt.step()
    np.testing.assert_allclose(theta.data, t.detach().numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------- common behaviour
FIRST_ORDER = {
    "sgd": lambda ps: SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: Adam(ps, lr=0.05),
    "rmsprop": lambda ps: RMSprop(ps, lr=0.01),
    "adagrad": lambda ps: Adagrad(ps, lr=0.1),
}


@pytest.mark.parametrize("name", sorted(FIRST_ORDER))
def test_params_without_grad_are_skipped(name):
    used, unused = param(), param((7.0, 8.0, 9.0))
    opt = FIRST_ORDER[name]([used, unused])
    run(opt, used, 2)
    np.testing.assert_array_equal(unused.data, [7.0, 8.0, 9.0])
    assert unused not in opt.state
    assert not np.allclose(used.data, [1.0, 2.0, -3.0])


@pytest.mark.parametrize("name", sorted(FIRST_ORDER))
def test_float32_params_stay_float32(name, backend):
    theta = gg.tensor(np.array([1.0, 2.0, -3.0], np.float32), requires_grad=True)
    opt = FIRST_ORDER[name]([theta])
    for _ in range(2):
        opt.zero_grad()
        (theta * theta).sum().backward()
        opt.step()
    assert theta.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[theta].values()
               if isinstance(v, np.ndarray))


def test_per_group_learning_rates():
    a, b = param(), param()
    opt = SGD([{"params": [a], "lr": 0.1}, {"params": [b]}], lr=0.01)
    t0 = a.data.copy()
    for p in (a, b):
        loss_of(p).backward()
    opt.step()
    np.testing.assert_allclose(a.data, t0 - 0.1 * grad_of(t0), rtol=1e-12)
    np.testing.assert_allclose(b.data, t0 - 0.01 * grad_of(t0), rtol=1e-12)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]


def test_step_bumps_the_version_so_stale_graphs_refuse_backward():
    theta = param()
    stale = (theta * theta).sum()  # saves theta for backward
    loss_of(theta).backward()
    SGD([theta], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()


def test_step_records_no_graph_and_returns_the_closure_loss():
    theta = param()
    opt = Adam([theta], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = loss_of(theta)
        loss.backward()
        return loss

    loss = opt.step(closure)
    np.testing.assert_allclose(loss.item(), loss_of(gg.tensor([1.0, 2.0, -3.0])).item())
    assert theta.is_leaf and theta.grad_fn is None


def test_zero_grad_set_to_none_or_zeros():
    theta = param()
    opt = SGD([theta], lr=0.1)
    loss_of(theta).backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(theta.grad.data, np.zeros(3))
    opt.zero_grad()
    assert theta.grad is None


def test_hyperparameter_errors():
    with pytest.raises(ValueError, match="SGD: lr must be"):
        SGD([param()], lr=-1)
    with pytest.raises(ValueError, match="SGD: nesterov=True needs momentum"):
        SGD([param()], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="SGD: momentum"):
        SGD([param()], lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\]"):
        Adam([param()], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="RMSprop: alpha"):
        RMSprop([param()], alpha=-0.1)
    with pytest.raises(ValueError, match="Adagrad: eps"):
        Adagrad([param()], eps=float("nan"))


# ----------------------------------------------------------- state_dict round trip
def plain_only(value):
    if isinstance(value, dict):
        return all(isinstance(k, (int, str)) and plain_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_only(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str, np.ndarray))


def json_and_arrays(state):
    """What a checkpoint does: arrays aside, the rest through JSON (int keys become str)."""
    arrays = {}

    def strip(v, path):
        if isinstance(v, np.ndarray):
            arrays[path] = v
            return {"__array__": path}
        if isinstance(v, dict):
            return {k: strip(x, f"{path}/{k}") for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x, f"{path}/{i}") for i, x in enumerate(v)]
        return v

    def restore(v):
        if isinstance(v, dict):
            if set(v) == {"__array__"}:
                return arrays[v["__array__"]].copy()
            return {k: restore(x) for k, x in v.items()}
        if isinstance(v, list):
            return [restore(x) for x in v]
        return v

    return restore(json.loads(json.dumps(strip(state, ""))))


ROUND_TRIP = {
    **FIRST_ORDER,
    "sgd_nesterov_l1": lambda ps: SGD(ps, lr=0.05, momentum=0.5, nesterov=True, l1=0.01),
    "lbfgs": lambda ps: LBFGS(ps, max_iter=2, history_size=3),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_state_dict_round_trip_resumes_identically(name):
    build = ROUND_TRIP[name]
    a = [param(), param((0.5, 0.5, 0.5))]
    opt = build(a)

    def steps(opt, ps, n):
        for _ in range(n):
            def closure():
                opt.zero_grad()
                loss = loss_of(ps[0]) + 0.5 * loss_of(ps[1]) + (ps[0] * ps[1]).sum()
                loss.backward()
                return loss

            opt.step(closure)

    steps(opt, a, 3)
    saved = opt.state_dict()
    assert plain_only(saved)
    b = [gg.tensor(p.data.copy(), requires_grad=True) for p in a]
    resumed = build(b)
    resumed.load_state_dict(json_and_arrays(saved))
    steps(opt, a, 3)
    steps(resumed, b, 3)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_state_dict_is_a_copy():
    theta = param()
    opt = SGD([theta], lr=0.1, momentum=0.9)
    run(opt, theta, 1)
    saved = opt.state_dict()
    before = saved["state"][0]["momentum_buffer"].copy()
    run(opt, theta, 1)
    np.testing.assert_array_equal(saved["state"][0]["momentum_buffer"], before)


def test_load_state_dict_restores_hyperparameters():
    theta = param()
    opt = Adam([theta], lr=0.1, betas=(0.8, 0.9))
    other = Adam([param()], lr=0.5)
    other.load_state_dict(json_and_arrays(opt.state_dict()))
    assert other.param_groups[0]["lr"] == 0.1
    assert other.param_groups[0]["betas"] == (0.8, 0.9)


# --------------------------------------------------------------- second order
def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def quadratic_problem(n=5, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    a = q @ q.T + n * np.eye(n)  # well conditioned, positive definite
    b = rng.normal(size=n)
    return a, b, np.linalg.solve(a, b)


def quadratic(a, b, x):
    return 0.5 * (x @ (gg.tensor(a) @ x)) - x @ gg.tensor(b)


def lbfgs_closure(opt, f, x):
    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("line_search", ["strong_wolfe", "backtracking", None])
def test_lbfgs_minimises_a_quadratic(line_search):
    a, b, solution = quadratic_problem()
    x = gg.tensor(np.zeros(5), requires_grad=True)
    opt = LBFGS([x], lr=1.0 if line_search else 0.1, max_iter=100, line_search_fn=line_search,
                tolerance_grad=1e-12, tolerance_change=1e-15)
    f = lambda x: quadratic(a, b, x)  # noqa: E731
    for _ in range(5):
        opt.step(lbfgs_closure(opt, f, x))
    np.testing.assert_allclose(x.data, solution, atol=1e-6)


@pytest.mark.parametrize("line_search", ["strong_wolfe", "backtracking"])
def test_lbfgs_minimises_rosenbrock(line_search):
    x = gg.tensor(np.array([-1.2, 1.0]), requires_grad=True)
    opt = LBFGS([x], max_iter=100, history_size=10, line_search_fn=line_search)
    for _ in range(3):
        opt.step(lbfgs_closure(opt, rosenbrock, x))
    np.testing.assert_allclose(x.data, [1.0, 1.0], atol=1e-4)


def test_lbfgs_returns_the_first_loss_and_stops_at_a_stationary_point():
    x = gg.tensor(np.array([1.0, 1.0]), requires_grad=True)  # the minimum: ∇ = 0
    opt = LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        return lbfgs_closure(opt, rosenbrock, x)()

    assert opt.step(closure).item() == 0.0
    assert len(calls) == 1


def test_lbfgs_errors():
    x = param()
    with pytest.raises(TypeError, match="LBFGS.step.*closure"):
        LBFGS([x]).step()
    with pytest.raises(ValueError, match="one param group"):
        LBFGS([{"params": [x]}, {"params": [param()]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS([x], line_search_fn="wolfe")
    opt = LBFGS([x])
    with pytest.raises(TypeError, match="one-element Tensor"):
        opt.step(lambda: 3.0)


def test_newton_solves_a_quadratic_in_one_step():
    a, b, solution = quadratic_problem(seed=1)
    x = gg.tensor(np.zeros(5), requires_grad=True)
    opt = Newton([x])
    opt.step(lambda: quadratic(a, b, x))
    np.testing.assert_allclose(x.data, solution, rtol=1e-8)


def test_newton_hessian_of_rosenbrock_is_exact():
    x = gg.tensor(np.array([-1.2, 1.0]), requires_grad=True)
    g, hess = Newton([x]).hessian(rosenbrock(x), [x])
    x0, x1 = -1.2, 1.0
    np.testing.assert_allclose(g, [-2 * (1 - x0) - 400 * x0 * (x1 - x0**2),
                                   200 * (x1 - x0**2)], rtol=1e-12)
    np.testing.assert_allclose(hess, [[2 - 400 * x1 + 1200 * x0**2, -400 * x0],
                                      [-400 * x0, 200]], rtol=1e-12)


def test_newton_hessian_across_several_parameters():
    a, _, _ = quadratic_problem(n=4, seed=2)
    x, y = (gg.tensor(RNG.normal(size=2), requires_grad=True) for _ in range(2))
    loss = lambda: 0.5 * (gg.concatenate([x, y]) @ (gg.tensor(a) @ gg.concatenate([x, y])))  # noqa: E731
    g, hess = Newton([x, y]).hessian(loss(), [x, y])
    np.testing.assert_allclose(hess, a, rtol=1e-12)
    np.testing.assert_allclose(g, a @ np.concatenate([x.data, y.data]), rtol=1e-12)


def test_newton_minimises_rosenbrock():
    x = gg.tensor(np.array([-1.2, 1.0]), requires_grad=True)
    opt = Newton([x])
    for _ in range(10):  # pure Newton needs 6 from the classic start
        opt.step(lambda: rosenbrock(x))
    np.testing.assert_allclose(x.data, [1.0, 1.0], atol=1e-8)


def test_newton_steps_downhill_where_the_hessian_is_indefinite():
    x = gg.tensor(np.array([0.0, 1.0]), requires_grad=True)
    before = rosenbrock(x).item()
    assert np.linalg.eigvalsh(Newton([x]).hessian(rosenbrock(x), [x])[1]).min() < 0
    Newton([x]).step(lambda: rosenbrock(x))
    assert rosenbrock(x).item() < before


def test_newton_refuses_big_models():
    big = gg.tensor(np.zeros((50, 50)), requires_grad=True)
    with pytest.raises(ValueError, match=r"Newton: the model has 2500 parameters.*max_params=2000"):
        Newton([big])
    Newton([big], max_params=2500)


def test_newton_closure_errors():
    x = param()
    opt = Newton([x])
    with pytest.raises(TypeError, match="Newton.step.*closure"):
        opt.step()

    def with_backward():
        loss = loss_of(x)
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="without calling backward"):
        opt.step(with_backward)
