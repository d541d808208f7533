"""W6: one training step of a small transformer encoder, for graphgrad and PyTorch.

The model: ``TransformerEncoder`` of 2 post-norm ``TransformerEncoderLayer``
(d_model 64, 4 heads, dim_feedforward 128, ReLU, dropout 0, no mask; PyTorch's
defaults otherwise), then a linear read-out 64→10 at every position.  Input
(32, 32, 64) float32 (batch 32, sequence 32), targets one class in 0–9 per
position, loss the mean softmax cross-entropy over the 32·32 positions, one
SGD-momentum step (lr 0.01, momentum 0.9, as W1–W5).  Every framework starts
from the same weights (the graphgrad layers' initial weights, copied across
with ``graphgrad.interop.torch_state_dict``) and the same data.

Frameworks: ``graphgrad`` (the same maths written with plain ops — matmul,
reshape, transpose, softmax, mean — and the ``sgd_update`` kernel),
``graphgrad-layers`` (``gg.layers.TransformerEncoder`` + ``gg.optimizers.SGD``),
``graphgrad-compiled`` (that step under ``gg.compile``), ``torch``
(``torch.nn.TransformerEncoder``, eager) and ``torch-compile`` (the same
module's forward and loss under ``torch.compile``).
"""

from __future__ import annotations

import numpy as np

BATCH, SEQ, D_MODEL, HEADS, FEEDFORWARD, LAYERS, CLASSES = 32, 32, 64, 4, 128, 2, 10
LR, MOMENTUM = 0.01, 0.9
FRAMEWORKS = ("graphgrad", "graphgrad-layers", "graphgrad-compiled", "torch", "torch-compile")


def layers_model(seed=0):
    """The graphgrad model: ``Sequential(TransformerEncoder, Linear)`` with seeded weights;
    the two encoder layers get different weights (PyTorch's deep copies start equal)."""
    import graphgrad as gg

    rng = np.random.default_rng(seed)
    layer = gg.layers.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0, rng=rng)
    encoder = gg.layers.TransformerEncoder(layer, LAYERS)
    model = gg.Sequential(encoder, gg.layers.Linear(D_MODEL, CLASSES, rng=rng))
    with gg.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("0.layers.1.") and p.ndim == 2:
                p.data[...] = p.data + 0.02 * rng.standard_normal(p.shape).astype(p.dtype)
    return model


def data(seed=0):
    """Input (32, 32, 64) float32 and the (32·32,) int64 targets."""
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH * SEQ)
    return x, y


def loss_of(out, y):
    """Mean softmax cross-entropy of the (N, T, C) logits against the flat targets."""
    import graphgrad as gg

    return gg.softmax_cross_entropy(out.reshape((-1, CLASSES)), y).mean()


# ------------------------------------------------------------------ graphgrad
def graphgrad_ops(seed=0):
    """The step written with plain graphgrad ops on the layers model's weights."""
    import graphgrad as gg
    from graphgrad.kernels import K

    model = layers_model(seed)
    x, y = data(seed)
    params = [gg.tensor(p.data.copy(), requires_grad=True) for p in model.parameters()]
    velocity = [np.zeros_like(p.data) for p in params]
    start = [p.data.copy() for p in params]
    x = gg.tensor(x)
    n, t, e, h = BATCH, SEQ, D_MODEL, HEADS
    d = e // h

    def norm(z, g, b, eps=1e-5):
        zc = z - z.mean(axis=-1, keepdims=True)
        return zc / ((zc * zc).mean(axis=-1, keepdims=True) + eps).sqrt() * g + b

    def heads(z):  # (N, T, E) -> (N, H, T, d)
        return gg.transpose(z.reshape(n, t, h, d), (0, 2, 1, 3))

    def layer(z, w_in, b_in, w_out, b_out, w1, b1, w2, b2, g1, c1, g2, c2):
        qkv = z @ gg.transpose(w_in) + b_in                       # (N, T, 3E)
        q, k, v = (heads(qkv[..., i * e:(i + 1) * e]) for i in range(3))
        att = gg.softmax((q @ gg.swapaxes(k, -1, -2)) * (1.0 / np.sqrt(d)), axis=-1) @ v
        sa = gg.transpose(att, (0, 2, 1, 3)).reshape(n, t, e) @ w_out + b_out
        z = norm(z + sa, g1, c1)
        return norm(z + ((z @ w1 + b1).relu() @ w2 + b2), g2, c2)

    def reset():
        for p, u, p0 in zip(params, velocity, start):
            p.data[...] = p0
            p._bump_version()
            u[...] = 0

    def step():
        z = x
        for i in range(LAYERS):
            z = layer(z, *params[12 * i:12 * (i + 1)])
        loss = loss_of(z @ params[-2] + params[-1], y)
        loss.backward()
        for p, u in zip(params, velocity):
            K.sgd_update(p.data, p.grad.data, u, LR, MOMENTUM, False, 0.0, 0.0)
            p._bump_version()
            p.grad = None
        return loss.item()

    step.reset = reset
    return step


def _layers_reset(model, opt):
    start = [p.data.copy() for p in model.parameters()]

    def reset():
        for p, p0 in zip(model.parameters(), start):
            p.data[...] = p0
        for state in opt.state.values():
            state["momentum_buffer"][...] = 0

    return reset


def graphgrad_layers(seed=0, compiled=False):
    """The layers model with ``gg.optimizers.SGD``; ``compiled=True``: the step under
    ``gg.compile`` (``step.compiled`` is the CompiledStep)."""
    import graphgrad as gg

    model = layers_model(seed)
    x, y = data(seed)
    x = gg.tensor(x)
    opt = gg.optimizers.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def train_step(x, y):
        loss = loss_of(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = gg.compile(train_step) if compiled else train_step

    def step():
        return run(x, y).item()

    step.reset = _layers_reset(model, opt)
    step.compiled = run
    step.model = model
    return step


# ---------------------------------------------------------------------- torch
def torch_model(seed=0):
    """``torch.nn.TransformerEncoder`` + ``Linear`` with the graphgrad model's weights."""
    import torch

    from graphgrad.interop import torch_state_dict

    layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.0,
                                             batch_first=True)
    model = torch.nn.Sequential(torch.nn.TransformerEncoder(layer, LAYERS,
                                                            enable_nested_tensor=False),
                                torch.nn.Linear(D_MODEL, CLASSES))
    state = {k: torch.from_numpy(np.ascontiguousarray(v))
             for k, v in torch_state_dict(layers_model(seed)).items()}
    model.load_state_dict(state)
    return model


def torch_step(seed=0, compiled=False):
    """One eager PyTorch step (``compiled=True``: forward and loss under torch.compile)."""
    import torch

    model = torch_model(seed)
    x, y = (torch.from_numpy(a) for a in data(seed))
    start = [p.detach().clone() for p in model.parameters()]

    def loss_fn(x, y):
        return torch.nn.functional.cross_entropy(model(x).reshape(-1, CLASSES), y)

    loss_of_torch = torch.compile(loss_fn) if compiled else loss_fn
    opt = [None]

    def reset():
        with torch.no_grad():
            for p, p0 in zip(model.parameters(), start):
                p.copy_(p0)
        opt[0] = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        loss = loss_of_torch(x, y)
        opt[0].zero_grad()
        loss.backward()
        opt[0].step()
        return loss.item()

    reset()
    step.reset = reset
    return step


def build(framework: str, seed: int = 0):
    """A W6 step() callable with ``reset()`` for one framework (see the module docstring)."""
    builders = {"graphgrad": graphgrad_ops,
                "graphgrad-layers": graphgrad_layers,
                "graphgrad-compiled": lambda seed: graphgrad_layers(seed, compiled=True),
                "torch": torch_step,
                "torch-compile": lambda seed: torch_step(seed, compiled=True)}
    if framework not in builders:
        raise ValueError(f"bench: W6 has no {framework!r} variant; use {sorted(builders)}")
    return builders[framework](seed)
