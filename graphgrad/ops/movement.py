"""Moving data around: pad, flip, roll, tile/repeat, repeat_interleave, split /
chunk / array_split, hstack / vstack, squeeze / unsqueeze / expand / permute /
movedim / flatten / unflatten, meshgrid, clone, and linspace / logspace.

Nearly all are compositions of reshape, transpose, broadcast_to, getitem (with
index arrays) and concatenate, so their gradients come from those ops: a
gather-shaped move scatter-adds the gradient back.  Names follow PyTorch, with
NumPy's (``axis``) where the two agree.
"""

from __future__ import annotations

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor, dim_alias, normalize_axis, normalize_dim, wrap
from graphgrad.ops.broadcast import broadcast_to
from graphgrad.ops.elementwise import where
from graphgrad.ops.shape import IndexBackward, concatenate, getitem, reshape, transpose

_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "edge": "edge", "circular": "wrap", "wrap": "wrap"}


def _along(axis, index):
    return (slice(None),) * axis + (index,)


def pad(x, pad, mode="constant", value=0.0) -> Tensor:  # noqa: F811 - torch's argument name
    """Pad with torch.nn.functional.pad's `pad` = (left, right) of the last axis, then
    of the one before ... (or NumPy's per-axis ((before, after), ...)).

    mode: "constant" (with `value`), "reflect" (mirror without the edge),
    "replicate" (repeat the edge; NumPy "edge"), "circular" (NumPy "wrap").
    """
    x = as_tensor(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    widths = _pad_widths(x, pad)
    if mode == "constant":
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths))
        crop = [slice(max(lo, 0), n - max(hi, 0)) for n, (lo, hi) in zip(shape, widths)]
        # negative widths crop, as in PyTorch
        x = getitem(x, tuple(slice(max(-lo, 0), n - max(-hi, 0))
                             for n, (lo, hi) in zip(x.shape, widths)))
        out = IndexBackward.apply(x, tuple(crop), shape)
        if value != 0:
            inside = np.zeros(shape, dtype=bool)
            inside[tuple(crop)] = True
            out = where(inside, out, float(value))
        return out
    for axis, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        n = x.shape[axis]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the "
                             f"axis {axis} of length {n} (shape {x.shape})")
        if n == 0:
            raise ValueError(f"pad: cannot {mode}-pad the empty axis {axis} (shape {x.shape})")
        source = np.pad(np.arange(n), (lo, hi), mode=_PAD_MODES[mode])
        x = getitem(x, _along(axis, source))
    return x


def _pad_widths(x, pad):
    """Per-axis (before, after) from torch's flat tuple or NumPy's nested form."""
    if len(pad) and isinstance(pad[0], (tuple, list)):
        widths = [tuple(int(v) for v in p) for p in pad]
        if len(widths) != x.ndim:
            raise ValueError(f"pad: {len(widths)} (before, after) pairs for a tensor of "
                             f"{x.ndim} dims (shape {x.shape})")
        return widths
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: pad {tuple(pad)} must hold (left, right) pairs for at most "
                         f"{x.ndim} trailing axes (shape {x.shape})")
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[x.ndim - 1 - k] = (int(pad[2 * k]), int(pad[2 * k + 1]))
    return widths


def flip(x, axis=None, dims=None) -> Tensor:
    """Reverse the order along the given axes (all when None)."""
    x = as_tensor(x)
    axes = normalize_axis("flip", dim_alias("flip", axis, dims), x.ndim)
    return getitem(x, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(x.ndim)))


def roll(x, shifts, axis=None, dims=None) -> Tensor:
    """Shift entries along axis cyclically (None: the flattened tensor, then reshaped)."""
    x = as_tensor(x)
    axis = dim_alias("roll", axis, dims)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shifts, 0), x.shape)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(shifts) != len(axes):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(axes)} axes")
    for s, a in zip(shifts, axes):
        a = normalize_dim("roll", a, x.ndim)
        x = getitem(x, _along(a, np.roll(np.arange(x.shape[a]), s)))
    return x


def tile(x, reps) -> Tensor:
    """Repeat the whole tensor reps[i] times along axis i (np.tile; torch's repeat)."""
    x = as_tensor(x)
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    n = max(len(reps), x.ndim)
    reps = (1,) * (n - len(reps)) + reps
    x = reshape(x, (1,) * (n - x.ndim) + x.shape)
    expanded = reshape(x, sum(((1, s) for s in x.shape), ()))
    expanded = broadcast_to(expanded, sum(((r, s) for r, s in zip(reps, x.shape)), ()))
    return reshape(expanded, tuple(r * s for r, s in zip(reps, x.shape)))


def repeat(x, *sizes) -> Tensor:
    """torch.Tensor.repeat: tile by sizes (at least x.ndim of them)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    x = as_tensor(x)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor of {x.ndim} dims; give "
                         "at least one per dimension")
    return tile(x, sizes)


def repeat_interleave(x, repeats, axis=None, dim=None) -> Tensor:
    """Repeat each entry repeats times along axis (None: flattened), as np.repeat."""
    x = as_tensor(x)
    axis = dim_alias("repeat_interleave", axis, dim)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = normalize_dim("repeat_interleave", axis, x.ndim)
    repeats = repeats.data if isinstance(repeats, Tensor) else repeats
    index = np.repeat(np.arange(x.shape[axis]), repeats)
    return getitem(x, _along(axis, index))


def _pieces(x, axis, bounds):
    return tuple(getitem(x, _along(axis, slice(lo, hi))) for lo, hi in zip(bounds, bounds[1:]))


def split(x, split_size_or_sections, axis=0, dim=None) -> tuple[Tensor, ...]:
    """torch.split: pieces of split_size along axis (the last may be shorter), or of
    the listed sizes (which must add up to the axis length)."""
    x = as_tensor(x)
    axis = normalize_dim("split", dim_alias("split", axis, dim, 0), x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        bounds = list(range(0, n, size)) + [n]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} add up to {sum(sizes)}, not to the "
                             f"length {n} of axis {axis}")
        bounds = list(np.cumsum([0] + sizes))
    return _pieces(x, axis, bounds)


def chunk(x, chunks, axis=0, dim=None) -> tuple[Tensor, ...]:
    """torch.chunk: at most `chunks` pieces of ceil(n / chunks) along axis."""
    x = as_tensor(x)
    axis = normalize_dim("chunk", dim_alias("chunk", axis, dim, 0), x.ndim)
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    size = -(-x.shape[axis] // chunks)
    return split(x, max(size, 1), axis)


def array_split(x, indices_or_sections, axis=0) -> tuple[Tensor, ...]:
    """np.array_split: n nearly equal pieces (the first n % len get one more), or
    pieces cut at the listed indices."""
    x = as_tensor(x)
    axis = normalize_dim("array_split", axis, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError(f"array_split: sections must be positive, got {k}")
        sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        bounds = list(np.cumsum([0] + sizes))
    else:
        bounds = [0] + [min(int(i), n) for i in indices_or_sections] + [n]
    return _pieces(x, axis, bounds)


def hstack(tensors) -> Tensor:
    """Join along axis 1 (axis 0 for 1-D inputs), as np.hstack."""
    tensors = [as_tensor(t) for t in tensors]
    tensors = [reshape(t, (1,)) if t.ndim == 0 else t for t in tensors]
    return concatenate(tensors, axis=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Join along axis 0, 1-D inputs becoming rows, as np.vstack."""
    tensors = [as_tensor(t) for t in tensors]
    tensors = [reshape(t, (1, -1)) if t.ndim < 2 else t for t in tensors]
    return concatenate(tensors, axis=0)


def squeeze(x, axis=None, dim=None) -> Tensor:
    """Remove length-1 axes (all, or the given ones; PyTorch's dim, which skips a
    given axis whose length is not 1)."""
    x = as_tensor(x)
    if dim is not None:
        axes = normalize_axis("squeeze", dim, x.ndim)
        axes = tuple(a for a in axes if x.shape[a] == 1)
    elif axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axis("squeeze", axis, x.ndim)
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} has length {x.shape[bad[0]]}, not 1 "
                             f"(shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis=None, dim=None) -> Tensor:
    """Insert a length-1 axis at position axis (np.expand_dims; torch's dim)."""
    x = as_tensor(x)
    axis = dim_alias("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: give the position of the new axis (axis or dim)")
    axis = normalize_dim("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


expand_dims = unsqueeze


def expand(x, *sizes) -> Tensor:
    """torch.Tensor.expand: broadcast to sizes, -1 keeping an axis's length."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    x = as_tensor(x)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes for a tensor of {x.ndim} dims")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def permute(x, *dims) -> Tensor:
    """torch.permute: the axes in the given order."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return transpose(x, dims)


def movedim(x, source, destination) -> Tensor:
    """Move axes from source to destination positions (np.moveaxis / torch.movedim)."""
    x = as_tensor(x)
    def axes(a):
        a = (a,) if isinstance(a, (int, np.integer)) else a
        return [normalize_dim("movedim", i, x.ndim) for i in a]

    src, dst = axes(source), axes(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: {len(src)} sources for {len(dst)} destinations")
    rest = [i for i in range(x.ndim) if i not in src]
    perm = [None] * x.ndim
    for s, d in zip(src, dst):
        perm[d] = s
    it = iter(rest)
    perm = [p if p is not None else next(it) for p in perm]
    return transpose(x, tuple(perm))


moveaxis = movedim


def flatten(x, start_dim=0, end_dim=-1) -> Tensor:
    """Merge the axes start_dim..end_dim into one (torch.flatten)."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = normalize_dim("flatten", start_dim, x.ndim)
    e = normalize_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])


def unflatten(x, dim, sizes) -> Tensor:
    """Split axis dim into the given sizes (one may be -1), as torch.unflatten."""
    x = as_tensor(x)
    d = normalize_dim("unflatten", dim, x.ndim)
    sizes = tuple(sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1 or (sizes.count(-1) == 0 and known != x.shape[d]) or \
            (known and x.shape[d] % known):
        raise ValueError(f"unflatten: sizes {sizes} do not multiply to the length "
                         f"{x.shape[d]} of axis {d} (shape {x.shape})")
    sizes = tuple(x.shape[d] // known if s == -1 else s for s in sizes)
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])


def meshgrid(*tensors, indexing="ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors; indexing "ij" (matrix, PyTorch's default) or
    "xy" (Cartesian, NumPy's default: the first two axes swap)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [reshape(as_tensor(t), (-1,)) for t in tensors]
    shape = [t.shape[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, t in enumerate(ts):
        pos = (1 - i if i < 2 else i) if indexing == "xy" and len(ts) >= 2 else i
        view = [1] * len(ts)
        view[pos] = t.shape[0]
        out.append(broadcast_to(reshape(t, tuple(view)), tuple(shape)))
    return tuple(out)


class Clone(Function):
    """A copy of x (new memory);  ∂/∂x = g."""

    @staticmethod
    def forward(ctx, x):
        return K.cast(x, x.dtype)

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x) -> Tensor:
    """A copy of x with its own memory that stays in the graph (torch.clone)."""
    return Clone.apply(as_tensor(x))


def linspace(start, stop, num=50, dtype="float32") -> Tensor:
    """num evenly spaced values from start to stop inclusive (a constant)"""
    return wrap(np.linspace(start, stop, int(num), dtype=dtype))


def logspace(start, stop, num=50, base=10.0, dtype="float32") -> Tensor:
    """base^t for num evenly spaced t from start to stop inclusive (a constant)"""
    return wrap(np.logspace(start, stop, int(num), base=base).astype(dtype))
