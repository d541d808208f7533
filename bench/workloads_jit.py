"""W1-W3 for the compilers graphgrad's ``gg.compile`` is measured against.

* ``jax-jit``: the whole step (forward, ``jax.grad``, the momentum update) as one
  ``jax.jit`` function; parameters and velocities are passed in and returned,
  which is how a JAX user writes a training step (``donate_argnums`` lets XLA
  reuse their buffers in place).
* ``torch-compile``: the eager PyTorch step with its forward and loss under
  ``torch.compile`` (default mode, the inductor backend on the CPU) and
  ``torch.optim.SGD`` with ``foreach``; the loss's backward is compiled by
  AOTAutograd as part of the same graph.

Both start from the same weights and data as the other frameworks
(``workloads._mlp_data``/``_w3_data``) and return the loss as a Python float,
so every step waits for its result as the others do.
"""

from __future__ import annotations

from workloads import LR, MLPS, MOMENTUM, _mlp_data, _w3_data


def _jax():
    import jax

    jax.config.update("jax_platforms", "cpu")
    return jax


def jax_mlp(sizes, batch, act, seed):
    """W1/W2 as one jitted SGD-momentum step."""
    jax = _jax()
    import jax.numpy as jnp

    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    start = [jnp.asarray(a) for pair in zip(weights, biases) for a in pair]
    x, y = jnp.asarray(x), jnp.asarray(y)
    activation = jax.nn.relu if act == "relu" else jnp.tanh

    def loss_of(params):
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = activation(h)
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def update(params, velocity):
        loss, grads = jax.value_and_grad(loss_of)(params)
        velocity = [MOMENTUM * v + g for v, g in zip(velocity, grads)]  # torch's SGD momentum
        params = [p - LR * v for p, v in zip(params, velocity)]
        return params, velocity, loss

    state = {}

    def reset():
        state["params"] = list(start)
        state["velocity"] = [jnp.zeros_like(p) for p in start]

    def step():
        state["params"], state["velocity"], loss = update(state["params"], state["velocity"])
        return float(loss)

    reset()
    step.reset = reset
    return step


def jax_w3(seed):
    """W3: the elementwise chain's value and its gradient to all three inputs, jitted."""
    jax = _jax()
    import jax.numpy as jnp

    x, w, b = (jnp.asarray(a) for a in _w3_data(seed))

    def out(x, w, b):
        return jnp.sum(jnp.tanh(x * w + b) * jax.nn.sigmoid(x) + jax.nn.relu(x) ** 2)

    value_and_grads = jax.jit(jax.value_and_grad(out, argnums=(0, 1, 2)))

    def step():
        value, grads = value_and_grads(x, w, b)
        jax.block_until_ready(grads)
        return float(value)

    step.reset = lambda: None
    return step


def torch_compile_mlp(sizes, batch, act, seed):
    """W1/W2 with the forward and loss under torch.compile (its backward compiled too)."""
    import torch

    x, y, weights, biases = _mlp_data(sizes, batch, seed)
    params = []
    for w, b in zip(weights, biases):
        params += [torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)]
    start = [p.detach().clone() for p in params]
    x, y = torch.tensor(x), torch.tensor(y)
    activation = torch.relu if act == "relu" else torch.tanh

    @torch.compile
    def loss_of(x, y, *params):
        h = x
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = activation(h)
        return torch.nn.functional.cross_entropy(h, y)

    opt = [None]

    def reset():
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0)
        opt[0] = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)

    def step():
        loss = loss_of(x, y, *params)
        opt[0].zero_grad()
        loss.backward()
        opt[0].step()
        return loss.item()

    reset()
    step.reset = reset
    return step


def torch_compile_w3(seed):
    """W3 with the chain under torch.compile (forward and backward each one fused kernel)."""
    import torch

    x, w, b = (torch.tensor(a, requires_grad=True) for a in _w3_data(seed))

    @torch.compile
    def out(x, w, b):
        return (torch.tanh(x * w + b) * torch.sigmoid(x) + torch.relu(x) ** 2).sum()

    def step():
        value = out(x, w, b)
        for t in (x, w, b):
            t.grad = None
        value.backward()
        return value.item()

    step.reset = lambda: None
    return step


def build(framework: str, workload: str, seed: int = 0):
    """A step() for ``jax-jit`` or ``torch-compile`` on W1-W3."""
    if workload == "W3":
        builders = {"jax-jit": jax_w3, "torch-compile": torch_compile_w3}
        return builders[framework](seed)
    if workload not in MLPS:
        raise ValueError(f"bench: {framework} runs W1-W3 only, not {workload}")
    builders = {"jax-jit": jax_mlp, "torch-compile": torch_compile_mlp}
    sizes, batch, act = MLPS[workload]
    return builders[framework](sizes, batch, act, seed)


JIT_FRAMEWORKS = ("jax-jit", "torch-compile")
_MODULES = {"jax-jit": "jax", "torch-compile": "torch"}


def available(framework: str) -> str | None:
    """None when the framework can run here, else why not (for the benchmark's note)."""
    import importlib.util

    module = _MODULES[framework]
    if importlib.util.find_spec(module) is None:
        return f"{framework} skipped: {module} is not installed (pip install -e '.[bench]')"
    return None

