"""Built-in core layers, registered exactly as a third-party plugin would.

``linear``, ``rbf`` (radial-basis-function layer), ``dropout``, ``flatten``,
``embedding`` (index → vector) and ``lambda`` (a one-line function as a
layer); the merge layers are in merge.py.  Weights use graphgrad's layout: a linear layer holds W of
shape (in_features, out_features) and computes ``x @ W + b`` (no transpose).
"""

from __future__ import annotations

import numpy as np

import graphgrad as gg
from graphgrad.extend import K, Module, Parameter, resolve_rng


def _size(who: str, what: str, value) -> int:
    """A layer size: an integer >= 1 (as PyTorch, a float such as 4.5 or 4.0 is an
    error, never silently truncated)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {what} must be an integer >= 1, got {value!r} "
                        f"({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{who}: {what} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_features(layer: str, x, in_features: int) -> None:
    if x.ndim < 1 or x.shape[-1] != in_features:
        raise ValueError(
            f"{layer}: expected an input whose last axis has in_features={in_features} "
            f"values, got shape {tuple(x.shape)}; flatten or reshape the input, or build "
            f"the layer with in_features={x.shape[-1] if x.ndim else 1}"
        )


class Linear(Module):
    """Affine map y = act(x @ W + b).

    W has shape (in_features, out_features): graphgrad keeps the maths layout
    of ``x @ W`` (PyTorch stores the transpose).  x may have any leading axes
    (..., in_features).  ``init`` fills W (a registry name, an initializer, or
    a callable ``init(shape, rng)``); fan_in = in_features, fan_out =
    out_features.  ``bias_init`` fills b.  ``rng`` (Generator, seed, or None
    for the global generator) makes construction reproducible.

    ``activation`` (as Keras ``Dense``): None (identity), a layer registry
    name (``"relu"``), a Module, or a function of one Tensor (``gg.tanh``).

    ``in_features=None`` makes the layer lazy: W is filled on the first call,
    from the last axis of that input.  The Parameter object exists (empty,
    shape (0, out_features)) from construction and is filled in place, so an
    optimizer built before the first call trains it; ``state_dict``/``load``
    see the real shape only after the first call (``net.check(example)`` is
    one).
    """

    torch_transposed = ("weight",)  # graphgrad.interop: PyTorch stores W as (out, in)

    def __init__(self, in_features: int | None, out_features: int, bias: bool = True,
                 init="he_normal", bias_init="zeros", rng=None, dtype="float32",
                 activation=None):
        super().__init__()
        # in_features may be None: inferred on the first call
        self.out_features = _size("Linear", "out_features", out_features)
        self.in_features = (None if in_features is None
                            else _size("Linear", "in_features", in_features))
        rng = resolve_rng(rng)
        if self.in_features is None:
            self.weight = Parameter(np.empty((0, self.out_features), dtype=dtype))
            self._lazy = (init, rng, dtype)
        else:
            self.weight = Parameter.initialized((self.in_features, self.out_features), init,
                                                rng, dtype)
        self.bias = (Parameter.initialized((self.out_features,), bias_init, rng, dtype)
                     if bias else None)
        self.activation = _activation(activation)

    def _materialize(self, x) -> None:
        init, rng, dtype = self._lazy
        n_in = x.shape[-1] if x.ndim else 1
        filled = Parameter.initialized((n_in, self.out_features), init, rng, dtype)
        self.weight.data = filled.data  # in place: optimizers holding the Parameter keep it
        self.weight._bump_version()
        self.in_features, self._lazy = n_in, None

    def forward(self, x):
        if self.in_features is None:
            self._materialize(x)
        _check_features("Linear", x, self.in_features)
        y = x @ self.weight
        y = y if self.bias is None else y + self.bias
        return y if self.activation is None else self.activation(y)

    def extra_repr(self) -> str:
        act = self.activation  # a Module activation is listed as a child
        act = "" if act is None or isinstance(act, Module) else (
            f", activation={getattr(act, '__name__', type(act).__name__)}")
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}{act}")

    @classmethod
    def example(cls, rng=None):
        """A Linear(4, 3)."""
        return cls(4, 3, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (5, 4) float32 input."""
        return gg.randn(5, 4, rng=rng)


def _activation(activation):
    """None, a Module, or a function of one Tensor, from Linear's ``activation`` argument."""
    if activation is None or isinstance(activation, Module):
        return activation
    if isinstance(activation, str):
        return gg.layers[activation]()
    if isinstance(activation, type) and issubclass(activation, Module):
        return activation()
    if callable(activation):
        return activation
    raise TypeError(f"Linear: activation must be None, a layer name such as 'relu', a Module "
                    f"or a function of one Tensor, got {type(activation).__name__}")


class RBF(Module):
    """Radial-basis-function layer: out_k = Σ_j u_kj · exp(−β_j ‖x − w_j‖²).

    Trainable centres w (num_centres, in_features), widths β (num_centres,)
    and output weights u stored as ``weight`` of shape (num_centres,
    out_features) so out = φ @ weight with φ_j = exp(−β_j ‖x − w_j‖²).
    ``num_centres`` defaults to out_features; the widths start at ``beta``
    (default 1/in_features, so ‖x − w‖² of standard-normal data stays O(1)).
    ‖x − w‖² is expanded as ‖x‖² − 2x·w + ‖w‖² (one matrix product).
    """

    def __init__(self, in_features: int, out_features: int, num_centres: int | None = None,
                 init="xavier_uniform", centre_init="normal", beta: float | None = None,
                 rng=None, dtype="float32"):
        super().__init__()
        num_centres = out_features if num_centres is None else num_centres
        self.in_features = _size("RBF", "in_features", in_features)
        self.out_features = _size("RBF", "out_features", out_features)
        self.num_centres = _size("RBF", "num_centres", num_centres)
        beta = 1.0 / self.in_features if beta is None else float(beta)
        rng = resolve_rng(rng)
        self.centres = Parameter.initialized((self.num_centres, self.in_features), centre_init,
                                             rng, dtype)
        self.widths = Parameter(np.full(self.num_centres, beta, dtype=dtype))
        self.weight = Parameter.initialized((self.num_centres, self.out_features), init, rng,
                                            dtype)

    def basis(self, x):
        """φ_j(x) = exp(−β_j ‖x − w_j‖²), shape (..., num_centres)."""
        _check_features("RBF", x, self.in_features)
        c = self.centres
        sq_dist = ((x * x).sum(axis=-1, keepdims=True) - 2.0 * (x @ c.T)
                   + (c * c).sum(axis=-1))
        return gg.exp(-self.widths * sq_dist)

    def forward(self, x):
        return self.basis(x) @ self.weight

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"num_centres={self.num_centres}")

    @classmethod
    def example(cls, rng=None):
        """An RBF(3, 2, num_centres=4)."""
        return cls(3, 2, num_centres=4, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (5, 3) float32 input."""
        return gg.randn(5, 3, rng=rng)


class Dropout(Module):
    """Inverted dropout: in training y = x·m / (1 − p) with m_i ~ Bernoulli(1 − p); eval y = x.

    p is the probability of dropping a unit.  Dividing the kept units by
    1 − p in training keeps E[y] = x, so evaluation uses all units unscaled;
    this is equivalent to the classic rule of training without scaling and
    multiplying by the keep probability at test time.  ``rng``: a Generator or
    seed for the masks; None draws from the global generator at call time.
    """

    stochastic = True

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p is a drop probability in [0, 1], got {p}")
        self.p = float(p)
        self.rng = None if rng is None else resolve_rng(rng)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return x * 0.0
        return x * K.dropout_mask(resolve_rng(self.rng), x.shape, self.p, x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    @classmethod
    def example_input(cls, rng=None):
        """A (4, 5) float32 input."""
        return gg.randn(4, 5, rng=rng)


class Flatten(Module):
    """Collapse the axes from ``start_axis`` on: (N, C, H, W) → (N, C·H·W) by default."""

    def __init__(self, start_axis: int = 1):
        super().__init__()
        self.start_axis = int(start_axis)

    def forward(self, x):
        if not -x.ndim <= self.start_axis < max(x.ndim, 1):
            raise ValueError(f"Flatten: start_axis={self.start_axis} is out of range for an "
                             f"input of shape {tuple(x.shape)}")
        return x.reshape(tuple(x.shape[: self.start_axis % x.ndim]) + (-1,))

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}"

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 3, 2, 2) float32 input."""
        return gg.randn(2, 3, 2, 2, rng=rng)


class Embedding(Module):
    """A lookup table: y[..., :] = W[i, :] for each integer index i; W is (num_embeddings, dim).

    Input: integer indices of any shape (a Tensor or array); output: shape
    indices.shape + (embedding_dim,).  The gradient is a scatter-add:
    ∂L/∂W[k] = Σ over positions p with index[p] = k of ∂L/∂y[p] (a repeated
    index accumulates; rows never looked up get zero).  Equivalent to a
    one-hot vector times W, without building the one-hot matrix.  W starts as
    N(0, 1) (PyTorch's default) unless ``init`` says otherwise.

    ``padding_idx`` (negative values wrap, as PyTorch): that row starts at zero
    and never receives a gradient; the forward still returns the row's value.

    ``max_norm`` (PyTorch's semantics): before each lookup, every row looked up
    whose ``norm_type``-norm exceeds ``max_norm`` is rescaled in place, under
    ``no_grad``, to W[k] ← W[k]·max_norm/(‖W[k]‖ + 1e-7); the other rows stay.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, init="normal", rng=None,
                 dtype="float32", padding_idx: int | None = None, max_norm: float | None = None,
                 norm_type: float = 2.0):
        super().__init__()
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be >= 1, got "
                             f"({num_embeddings}, {embedding_dim})")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.weight = Parameter.initialized((self.num_embeddings, self.embedding_dim), init,
                                            resolve_rng(rng), dtype)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be in [-{self.num_embeddings}, "
                                 f"{self.num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % self.num_embeddings
            self.weight.data[padding_idx] = 0
        self.padding_idx = padding_idx
        for name, v in (("max_norm", max_norm), ("norm_type", norm_type)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not v > 0):
                raise ValueError(f"Embedding: {name} must be a number > 0"
                                 f"{' or None' if name == 'max_norm' else ''}, got {v!r}")
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type = float(norm_type)

    def forward(self, indices):
        index = np.asarray(indices.data if hasattr(indices, "data") else indices)
        if index.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {index.dtype} "
                            f"(shape {index.shape}); cast them, e.g. x.astype('int64')")
        if index.size and (index.min() < 0 or index.max() >= self.num_embeddings):
            raise IndexError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"values from {index.min()} to {index.max()} (shape "
                             f"{index.shape}); raise num_embeddings or re-index the data")
        if self.max_norm is not None and index.size:
            self._renorm(np.unique(index))
        y = self.weight[index]
        if self.padding_idx is None or not (index == self.padding_idx).any():
            return y
        keep = (index != self.padding_idx)[..., None].astype(y.dtype)
        return y * keep + y.detach() * (1 - keep)  # the padding row gets no gradient

    def _renorm(self, rows):
        """W[rows] ← W[rows]·max_norm/(‖W[rows]‖ + 1e-7) where that norm exceeds max_norm
        (torch.embedding_renorm_), in place and without a gradient."""
        with gg.no_grad():
            picked = self.weight[rows]
            norms = gg.norm(picked, ord=self.norm_type, axis=1, keepdims=True)
            scale = gg.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0)
            self.weight[rows] = picked * scale.astype(picked.dtype)

    def extra_repr(self) -> str:
        extra = f", max_norm={self.max_norm}" if self.max_norm is not None else ""
        return (f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}"
                + extra)

    @classmethod
    def example(cls, rng=None):
        """An Embedding(5, 3)."""
        return cls(5, 3, rng=rng)

    @classmethod
    def example_input(cls, rng=None):
        """A (2, 4) int64 array of indices in [0, 5), with repeats."""
        return np.array([[0, 2, 2, 4], [1, 0, 3, 2]], dtype=np.int64)


class Lambda(Module):
    """A one-line function as a layer: y = fn(x₁, …, xₙ).

    ``fn`` takes the layer's inputs (Tensors) and returns Tensor(s); write it
    with graphgrad ops so gradients flow (``Lambda(lambda x: x[:, :4])``,
    ``Lambda(lambda a, b: a * gg.sigmoid(b))``).  It holds no parameters:
    a function that closes over a Parameter would train it without the
    network knowing it exists, so write a Module for that.  ``name`` is shown
    in repr and pictures (default: the function's name).
    """

    def __init__(self, fn, name: str | None = None):
        super().__init__()
        if not callable(fn) or isinstance(fn, Module):
            raise TypeError(f"Lambda: fn must be a plain function, got {type(fn).__name__}"
                            " (a Module can be added to the network directly)")
        self.fn = fn
        self.label = name or getattr(fn, "__name__", type(fn).__name__)

    def forward(self, *xs):
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.label

    @classmethod
    def example(cls, rng=None):
        """Lambda(x ↦ x · tanh(x))."""
        return cls(lambda x: x * gg.tanh(x), name="x_tanh_x")

    @classmethod
    def example_input(cls, rng=None):
        """A (3, 4) float32 input."""
        return gg.randn(3, 4, rng=rng)


@gg.hookimpl
def graphgrad_register_layers():
    """The built-in core layers."""
    return [Linear, RBF, Dropout, Flatten, Embedding, Lambda]
