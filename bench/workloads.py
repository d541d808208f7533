"""The benchmark workloads, each written for graphgrad, PyTorch and plain NumPy.

``build(framework, workload, seed=0)`` returns a ``step()`` callable that runs
one training step (W1, W2) or one forward+backward (W3) and returns the loss;
``step.reset()`` puts the weights and the optimizer state back to the start.
The benchmark resets between timing rounds: thousands of steps on one batch
would drive the gradients into denormal numbers, which every framework then
processes 100x slower.

* W1: MLP 784-256-128-10, ReLU, batch 128, softmax cross-entropy (mean),
  SGD with momentum 0.9, float32.
* W2: MLP 64-32-10, tanh, batch 32, otherwise as W1.
* W3: ``sum(tanh(x·w + b)·sigmoid(x) + relu(x)²)`` on three float32 vectors of
  10^6 elements, forward and backward to all three.
* W4: the digits CNN: conv 1→16 3×3 pad 1, ReLU, max-pool 2, conv 16→32 3×3
  pad 1, ReLU, max-pool 2, linear 128→10 on (64, 1, 8, 8) inputs, softmax
  cross-entropy, one SGD momentum step.
* W5: conv 3→32 3×3 pad 1, ReLU, conv 32→64 3×3 pad 1, ReLU on (32, 3, 32, 32)
  inputs, loss = mean of the output, one SGD momentum step.

* W6: a transformer encoder training step (2 post-norm layers, d_model 64,
  4 heads, feed-forward 128, batch 32, sequence 32, linear read-out to 10
  classes, softmax cross-entropy, SGD momentum), in ``workloads_transformer.py``.

W4, W5 and W6 have no ``numpy`` variant (a hand-written conv backward is not a
lower bound anyone would write).
Frameworks: ``graphgrad`` (plain tensors and ops, the momentum update through
the ``sgd_update`` kernel), ``graphgrad-layers`` (``gg.Sequential`` of
``gg.layers`` with ``gg.optimizers.SGD``), ``graphgrad-compiled`` (the
``graphgrad-layers`` step, or W3's, through ``gg.compile``; W1-W6), ``torch`` (eager, 2 threads,
``torch.optim.SGD``), ``jax-jit`` and ``torch-compile`` (W1-W3, in
``workloads_jit.py``; W6 has ``torch-compile``) and ``numpy`` (hand-written forward and backward: the
lower bound of an engine that adds nothing to the arrays).  Every framework
starts from the same weights and data.
"""

from __future__ import annotations

import numpy as np

MLPS = {"W1": ((784, 256, 128, 10), 128, "relu"), "W2": ((64, 32, 10), 32, "tanh")}
W3_SIZE = 10**6
LR, MOMENTUM = 0.01, 0.9
FRAMEWORKS = ("graphgrad", "graphgrad-layers", "graphgrad-compiled", "torch", "numpy")


def _mlp_data(sizes, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    weights = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
               for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [np.zeros(b, np.float32) for b in sizes[1:]]
    return x, y, weights, biases


CNNS = {"W4": "digits", "W5": "conv32"}


def _cnn_data(workload, seed):
    """Input, labels, and [(weight, bias)] per layer, He-initialised (PyTorch's layouts)."""
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    if workload == "W4":
        x = rng.standard_normal((64, 1, 8, 8)).astype(np.float32)
        layers = [(he((16, 1, 3, 3), 9), np.zeros(16, np.float32)),
                  (he((32, 16, 3, 3), 144), np.zeros(32, np.float32)),
                  (he((128, 10), 128), np.zeros(10, np.float32))]
    else:
        x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
        layers = [(he((32, 3, 3, 3), 27), np.zeros(32, np.float32)),
                  (he((64, 32, 3, 3), 288), np.zeros(64, np.float32))]
    y = rng.integers(0, 10, x.shape[0])
    return x, y, layers


def _w3_data(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(W3_SIZE).astype(np.float32) for _ in range(3)]


# ---------------------------------------------------------------- graphgrad
def _graphgrad_mlp(sizes, batch, act, seed):
    import graphgrad as gg
    from graphgrad.kernels import K

    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    params = []
    for w, b in zip(weights, biases):
        params += [gg.tensor(w, requires_grad=True), gg.tensor(b, requires_grad=True)]
    velocity = [np.zeros_like(p.data) for p in params]
    start = [p.data.copy() for p in params]
    x = gg.tensor(x)

    def reset():
        for p, u, p0 in zip(params, velocity, start):
            p.data[...] = p0
            p._bump_version()
            u[...] = 0

    def step():
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = h.relu() if act == "relu" else h.tanh()
        loss = gg.softmax_cross_entropy(h, y).mean()
        loss.backward()
        for p, u in zip(params, velocity):
            K.sgd_update(p.data, p.grad.data, u, LR, MOMENTUM, False, 0.0, 0.0)
            p._bump_version()
            p.grad = None
        return loss.item()

    step.reset = reset
    return step


def _graphgrad_layers_mlp(sizes, batch, act, seed):
    import graphgrad as gg

    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        linear = gg.layers.Linear(w.shape[0], w.shape[1])
        # the layer's weight may be stored (in, out) or (out, in): fill it from ours
        linear.weight.data[...] = w if linear.weight.shape == w.shape else w.T
        linear.bias.data[...] = b
        layers.append(linear)
        if i + 1 < len(weights):
            layers.append(gg.layers.ReLU() if act == "relu" else gg.layers.Tanh())
    model = gg.Sequential(*layers)
    start = [p.data.copy() for p in model.parameters()]
    opt = [None]
    x = gg.tensor(x)

    def reset():
        for p, p0 in zip(model.parameters(), start):
            p.data[...] = p0
            p._bump_version()
        opt[0] = gg.optimizers.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        loss = gg.softmax_cross_entropy(model(x), y).mean()
        opt[0].zero_grad()
        loss.backward()
        opt[0].step()
        return loss.item()

    reset()
    step.reset = reset
    return step


def _graphgrad_w3(seed):
    import graphgrad as gg

    x, w, b = (gg.tensor(a, requires_grad=True) for a in _w3_data(seed))

    def step():
        out = ((x * w + b).tanh() * x.sigmoid() + x.relu() ** 2).sum()
        for t in (x, w, b):
            t.grad = None
        out.backward()
        return out.item()

    return step


def _compiled_sgd_step(model, start, x, y, loss_of):
    """One SGD-momentum step of `model` under ``gg.compile``, with ``reset`` restoring
    the starting weights `start` and the velocities in place (the plan holds these very
    arrays and this optimizer)."""
    import graphgrad as gg

    opt = gg.optimizers.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    x = gg.tensor(x)

    @gg.compile
    def train_step(x, y):
        loss = loss_of(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    def reset():
        for p, p0 in zip(model.parameters(), start):
            p.data[...] = p0
        for state in opt.state.values():
            state["momentum_buffer"][...] = 0

    def step():
        return train_step(x, y)

    step.reset = reset
    step.compiled = train_step
    return step


def _graphgrad_compiled_mlp(sizes, batch, act, seed):
    import graphgrad as gg

    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    layers = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        linear = gg.layers.Linear(w.shape[0], w.shape[1])
        linear.weight.data[...] = w if linear.weight.shape == w.shape else w.T
        linear.bias.data[...] = b
        layers.append(linear)
        if i + 1 < len(weights):
            layers.append(gg.layers.ReLU() if act == "relu" else gg.layers.Tanh())
    model = gg.Sequential(*layers)
    start = [p.data.copy() for p in model.parameters()]
    return _compiled_sgd_step(model, start, x, y,
                              lambda out, y: gg.softmax_cross_entropy(out, y).mean())


def _graphgrad_compiled_w3(seed):
    import graphgrad as gg

    x, w, b = (gg.tensor(a, requires_grad=True) for a in _w3_data(seed))

    @gg.compile
    def step():
        out = ((x * w + b).tanh() * x.sigmoid() + x.relu() ** 2).sum()
        for t in (x, w, b):
            t.grad = None
        out.backward()
        return out

    step.compiled = step
    return step


def _graphgrad_cnn(workload, seed):
    import graphgrad as gg
    from graphgrad.kernels import K

    x, y, layers = _cnn_data(workload, seed)
    params = [gg.tensor(a, requires_grad=True) for pair in layers for a in pair]
    velocity = [np.zeros_like(p.data) for p in params]
    start = [p.data.copy() for p in params]
    x = gg.tensor(x)

    def reset():
        for p, u, p0 in zip(params, velocity, start):
            p.data[...] = p0
            p._bump_version()
            u[...] = 0

    def step():
        if workload == "W4":
            w1, b1, w2, b2, w3, b3 = params
            h = gg.max_pool2d(gg.conv2d(x, w1, b1, padding=1).relu(), 2)
            h = gg.max_pool2d(gg.conv2d(h, w2, b2, padding=1).relu(), 2)
            loss = gg.softmax_cross_entropy(h.reshape(h.shape[0], -1) @ w3 + b3, y).mean()
        else:
            w1, b1, w2, b2 = params
            h = gg.conv2d(x, w1, b1, padding=1).relu()
            loss = gg.conv2d(h, w2, b2, padding=1).relu().mean()
        loss.backward()
        for p, u in zip(params, velocity):
            K.sgd_update(p.data, p.grad.data, u, LR, MOMENTUM, False, 0.0, 0.0)
            p._bump_version()
            p.grad = None
        return loss.item()

    step.reset = reset
    return step


def _layers_cnn_model(workload, seed):
    """The CNN of W4 (digits) or W5 (32×32 RGB) as registry layers with the shared
    weights: (model, x, y, a copy of the starting weights)."""
    import graphgrad as gg

    x, y, layers = _cnn_data(workload, seed)
    L = gg.layers
    if workload == "W4":
        model = gg.Sequential(L.Conv2d(1, 16, 3, padding=1), L.ReLU(), L.MaxPool2d(2),
                              L.Conv2d(16, 32, 3, padding=1), L.ReLU(), L.MaxPool2d(2),
                              L.Flatten(), L.Linear(128, 10))
    else:
        model = gg.Sequential(L.Conv2d(3, 32, 3, padding=1), L.ReLU(),
                              L.Conv2d(32, 64, 3, padding=1), L.ReLU())
    for p, a in zip(model.parameters(), [a for pair in layers for a in pair]):
        p.data[...] = a
    start = [p.data.copy() for p in model.parameters()]
    return model, x, y, start


def _graphgrad_layers_cnn(workload, seed):
    import graphgrad as gg

    model, x, y, start = _layers_cnn_model(workload, seed)
    opt = [None]
    x = gg.tensor(x)

    def reset():
        for p, p0 in zip(model.parameters(), start):
            p.data[...] = p0
            p._bump_version()
        opt[0] = gg.optimizers.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        out = model(x)
        loss = gg.softmax_cross_entropy(out, y).mean() if workload == "W4" else out.mean()
        opt[0].zero_grad()
        loss.backward()
        opt[0].step()
        return loss.item()

    reset()
    step.reset = reset
    return step


def _graphgrad_compiled_cnn(workload, seed):
    import graphgrad as gg

    model, x, y, start = _layers_cnn_model(workload, seed)
    if workload == "W4":
        return _compiled_sgd_step(model, start, x, y,
                                  lambda out, y: gg.softmax_cross_entropy(out, y).mean())
    return _compiled_sgd_step(model, start, x, y, lambda out, y: out.mean())


# -------------------------------------------------------------------- torch
def _torch_mlp(sizes, batch, act, seed):
    import torch

    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    params = []
    for w, b in zip(weights, biases):
        params += [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]
    start = [p.detach().clone() for p in params]
    opt = [None]
    x, y = torch.tensor(x), torch.tensor(y)
    activation = torch.relu if act == "relu" else torch.tanh

    def reset():
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0)
        opt[0] = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)

    def step():
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = activation(h)
        loss = torch.nn.functional.cross_entropy(h, y)
        opt[0].zero_grad()
        loss.backward()
        opt[0].step()
        return loss.item()

    reset()
    step.reset = reset
    return step


def _torch_w3(seed):
    import torch

    x, w, b = (torch.tensor(a, requires_grad=True) for a in _w3_data(seed))

    def step():
        out = (torch.tanh(x * w + b) * torch.sigmoid(x) + torch.relu(x) ** 2).sum()
        for t in (x, w, b):
            t.grad = None
        out.backward()
        return out.item()

    return step


def _torch_cnn(workload, seed):
    import torch
    import torch.nn.functional as F

    x, y, layers = _cnn_data(workload, seed)
    params = [torch.tensor(a, requires_grad=True) for pair in layers for a in pair]
    start = [p.detach().clone() for p in params]
    opt = [None]
    x, y = torch.tensor(x), torch.tensor(y)

    def reset():
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0)
        opt[0] = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)

    def step():
        if workload == "W4":
            w1, b1, w2, b2, w3, b3 = params
            h = F.max_pool2d(torch.relu(F.conv2d(x, w1, b1, padding=1)), 2)
            h = F.max_pool2d(torch.relu(F.conv2d(h, w2, b2, padding=1)), 2)
            loss = F.cross_entropy(h.reshape(h.shape[0], -1) @ w3 + b3, y)
        else:
            w1, b1, w2, b2 = params
            h = torch.relu(F.conv2d(x, w1, b1, padding=1))
            loss = torch.relu(F.conv2d(h, w2, b2, padding=1)).mean()
        opt[0].zero_grad()
        loss.backward()
        opt[0].step()
        return loss.item()

    reset()
    step.reset = reset
    return step


# -------------------------------------------------------------------- numpy
def _numpy_mlp(sizes, batch, act, seed):
    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    params = [a for pair in zip(weights, biases) for a in pair]
    velocity = [np.zeros_like(p) for p in params]
    start = [p.copy() for p in params]
    rows = np.arange(batch)

    def reset():
        for p, u, p0 in zip(params, velocity, start):
            p[...] = p0
            u[...] = 0

    def step():
        hs, h = [x], x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = np.maximum(h, 0) if act == "relu" else np.tanh(h)
            hs.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, y]))
        g = e / s
        g[rows, y] -= 1
        g /= batch
        grads = [None] * len(params)
        for i in range(len(params) - 2, -1, -2):
            grads[i], grads[i + 1] = hs[i // 2].T @ g, g.sum(axis=0)
            if i:
                g = g @ params[i].T
                a = hs[i // 2]
                g = g * (a > 0) if act == "relu" else g * (1 - a * a)
        for p, u, d in zip(params, velocity, grads):
            u *= MOMENTUM
            u -= LR * d
            p += u
        return loss

    step.reset = reset
    return step


def _numpy_w3(seed):
    x, w, b = _w3_data(seed)

    grads = {}

    def step():
        t = np.tanh(x * w + b)
        s = 1 / (1 + np.exp(-x))
        r = np.maximum(x, 0)
        out = float(np.sum(t * s + r * r))
        du = s * (1 - t * t)  # ∂out/∂(xw + b)
        grads["x"] = du * w + t * s * (1 - s) + 2 * r
        grads["w"] = du * x
        grads["b"] = du
        return out

    return step


def build(framework: str, workload: str, seed: int = 0):
    """A step() callable for one framework and workload (see the module docstring)."""
    if workload == "W6":
        import workloads_transformer

        return workloads_transformer.build(framework, seed)
    if framework in ("jax-jit", "torch-compile"):
        import workloads_jit

        return workloads_jit.build(framework, workload, seed)
    if workload == "W3":
        builders = {"graphgrad": _graphgrad_w3, "graphgrad-compiled": _graphgrad_compiled_w3,
                    "torch": _torch_w3, "numpy": _numpy_w3}
        if framework not in builders:
            raise ValueError(f"bench: W3 has no {framework!r} variant; use {sorted(builders)}")
        step = builders[framework](seed)
        step.reset = lambda: None  # nothing is updated
        return step
    if workload in CNNS:
        builders = {"graphgrad": _graphgrad_cnn, "graphgrad-layers": _graphgrad_layers_cnn,
                    "graphgrad-compiled": _graphgrad_compiled_cnn, "torch": _torch_cnn}
        if framework not in builders:
            raise ValueError(f"bench: {workload} has no {framework!r} variant; use "
                             f"{sorted(builders)}")
        return builders[framework](workload, seed)
    if workload not in MLPS:
        raise ValueError(f"bench: unknown workload {workload!r}; use W1 to W6")
    builders = {"graphgrad": _graphgrad_mlp, "graphgrad-layers": _graphgrad_layers_mlp,
                "graphgrad-compiled": _graphgrad_compiled_mlp, "torch": _torch_mlp,
                "numpy": _numpy_mlp}
    if framework not in builders:
        raise ValueError(f"bench: unknown framework {framework!r}; use {sorted(builders)}")
    sizes, batch, act = MLPS[workload]
    return builders[framework](sizes, batch, act, seed)
