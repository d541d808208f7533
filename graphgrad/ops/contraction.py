"""einsum and the contractions built on it: tensordot, dot, inner, outer, kron.

`einsum` is one Function.  A two-operand contraction without repeated or
single-operand-summed letters (every matmul-, bmm- or tensordot-shaped one)
runs as one ``np.matmul`` on transposed/reshaped views (BLAS); anything else
runs ``np.einsum(optimize=True)``.  Backward is einsum again: operand i gets
``einsum(out, others -> s_i)(g, others)``, with letters only operand i had
broadcast back and repeated letters (diagonals) embedded with identity matrices.
"""

from __future__ import annotations

import functools
import math
import string

import numpy as np

from graphgrad.autograd.function import Function
from graphgrad.autograd.tensor import Tensor
from graphgrad.kernels import K
from graphgrad.ops._util import as_tensor
from graphgrad.ops.broadcast import broadcast_to
from graphgrad.ops.shape import reshape


def _parse(subscripts, operands):
    """(per-operand letters, output letters, letter sizes), cached by subscripts and shapes."""
    return _parse_shapes(subscripts, tuple(np.shape(op) for op in operands))


@functools.lru_cache(maxsize=512)
def _parse_shapes(subscripts, shapes):
    """Explicit subscripts: a list of per-operand letter strings and the output letters.

    An ellipsis becomes capital letters (one per broadcast axis); the implicit
    output (no "->") is every letter used once, in alphabetical order.
    """
    subs = subscripts.replace(" ", "")
    ins, arrow, out = subs.partition("->")
    ins = ins.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(ins)} operands, "
                         f"got {len(shapes)}")
    if not arrow:
        letters = "".join(s.replace("...", "") for s in ins)
        out = ("..." if any("..." in s for s in ins) else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    n_ell = max((len(shape) - len(s.replace("...", "")) for s, shape in zip(ins, shapes)
                 if "..." in s), default=0)
    spare = [c for c in string.ascii_uppercase if c not in subs][:n_ell]
    parsed = []
    for s, shape in zip(ins, shapes):
        if "..." in s:
            k = len(shape) - len(s.replace("...", ""))
            s = s.replace("...", "".join(spare[n_ell - k:]) if k else "")
        if len(s) != len(shape) or not all(c in string.ascii_letters for c in s):
            raise ValueError(f"einsum: subscript {s!r} does not fit an operand of shape "
                             f"{shape} (subscripts {subscripts!r})")
        parsed.append(s)
    out = out.replace("...", "".join(spare))
    sizes = {}
    for s, shape in zip(parsed, shapes):
        for c, n in zip(s, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: letter {c!r} has sizes {sizes[c]} and {n} in "
                                 f"{subscripts!r} (shapes {list(shapes)}); "
                                 "broadcast the operands to equal sizes first")
    if any(c not in sizes for c in out) or len(set(out)) != len(out):
        raise ValueError(f"einsum: output subscript {out!r} must use distinct letters of the "
                         f"inputs (subscripts {subscripts!r})")
    return tuple(parsed), out, sizes


@functools.lru_cache(maxsize=512)
def _matmul_plan(sa, sb, out):
    """Letters grouped as (batch, free_a, contracted, free_b) when a @ b computes the
    contraction; None when it does not (repeats, or a letter summed within one operand)."""
    if len(set(sa)) != len(sa) or len(set(sb)) != len(sb):
        return None
    batch = tuple(c for c in out if c in sa and c in sb)
    free_a = tuple(c for c in out if c in sa and c not in sb)
    free_b = tuple(c for c in out if c in sb and c not in sa)
    contracted = tuple(c for c in sa if c in sb and c not in out)
    if len(batch) + len(free_a) + len(contracted) != len(sa) or \
            len(batch) + len(free_b) + len(contracted) != len(sb):
        return None
    return batch, free_a, contracted, free_b


def _contract_matmul(a, b, sa, sb, out, plan, sizes):
    batch, free_a, contracted, free_b = plan
    perm_a = [sa.index(c) for c in batch + free_a + contracted]
    perm_b = [sb.index(c) for c in batch + contracted + free_b]
    if perm_a != sorted(perm_a):
        a = np.transpose(a, perm_a)
    if perm_b != sorted(perm_b):
        b = np.transpose(b, perm_b)
    nb = [sizes[c] for c in batch]
    na = math.prod(sizes[c] for c in free_a)
    nc = math.prod(sizes[c] for c in contracted)
    nfb = math.prod(sizes[c] for c in free_b)
    # a transposed operand is copied by a kernel (not by reshape) so gg.compile replays it
    a, b = K.contiguous(a).reshape(nb + [na, nc]), K.contiguous(b).reshape(nb + [nc, nfb])
    y = K.matmul(a, b)
    order = batch + free_a + free_b
    y = y.reshape([sizes[c] for c in order])
    perm = [order.index(c) for c in out]
    return y if perm == sorted(perm) else np.transpose(y, perm)


class Einsum(Function):
    """Σ over the letters missing from the output of the product of the operands;
    ∂/∂operand_i = einsum(out, others → s_i)(g, others) (see the module docstring)."""

    @staticmethod
    def forward(ctx, subs, out, sizes, *operands):
        ctx.subs, ctx.out, ctx.sizes = subs, out, sizes
        ctx.save_for_backward(*operands)
        if len(operands) == 2:
            plan = _matmul_plan(subs[0], subs[1], out)
            if plan is not None:
                return _contract_matmul(*operands, subs[0], subs[1], out, plan, sizes)
        return K.einsum(",".join(subs) + "->" + out, *operands)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        subs, out, sizes = ctx.subs, ctx.out, ctx.sizes
        grads = [None, None, None]
        for i, (s, needed) in enumerate(zip(subs, ctx.needs_input_grad[3:])):
            if not needed:
                grads.append(None)
                continue
            others = [o for j, o in enumerate(operands) if j != i]
            other_subs = [t for j, t in enumerate(subs) if j != i]
            available = set(out).union(*other_subs)
            unique = "".join(dict.fromkeys(s))
            kept = "".join(c for c in unique if c in available)
            gi = _einsum([out] + other_subs, kept, sizes, [g] + others)
            if kept != unique:  # letters summed inside operand i alone: broadcast back
                gi = reshape(gi, [sizes[c] if c in kept else 1 for c in unique])
                gi = broadcast_to(gi, tuple(sizes[c] for c in unique))
            if unique != s:     # repeated letters: put the gradient on the diagonal
                gi = _embed_diagonal(gi, unique, s, sizes)
            grads.append(gi)
        return tuple(grads)


def _embed_diagonal(t, unique, s, sizes):
    """t (letters `unique`) placed on the diagonals that the repeated letters of s name."""
    spare = iter(c for c in string.ascii_letters if c not in s)
    target, eyes, eye_subs, seen = [], [], [], set()
    for c in s:
        if c in seen:
            new = next(spare)
            eye_subs.append(c + new)
            eyes.append(Tensor._wrap(np.eye(sizes[c], dtype=t.dtype)))
            target.append(new)
        else:
            seen.add(c)
            target.append(c)
    local = dict(sizes, **{e[1]: sizes[e[0]] for e in eye_subs})
    return _einsum([unique] + eye_subs, "".join(target), local, [t] + eyes)


def _einsum(subs, out, sizes, operands):
    return Einsum.apply(tuple(subs), out, sizes, *operands)


def einsum(subscripts, *operands) -> Tensor:
    """Einstein summation as np.einsum / torch.einsum: "ij,jk->ik", "bij,bjk->bik",
    "ii->i", "...ij->...ji", implicit output; operands may also be given as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [as_tensor(o) for o in operands]
    subs, out, sizes = _parse(subscripts, [o.data for o in operands])
    return _einsum(subs, out, sizes, operands)


def tensordot(a, b, axes=2) -> Tensor:
    """Σ over the last `axes` axes of a and the first of b, or over the listed
    pairs ``axes=([a axes], [b axes])`` (np.tensordot / torch.tensordot)."""
    a, b = as_tensor(a), as_tensor(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    if len(ax_a) != len(ax_b):
        raise ValueError(f"tensordot: axes {axes} pair {len(ax_a)} axes of a with "
                         f"{len(ax_b)} of b")
    ax_a = [x % max(a.ndim, 1) for x in ax_a]
    ax_b = [x % max(b.ndim, 1) for x in ax_b]
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(ax_a, ax_b):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: axis {i} of a (shape {a.shape}) and axis {j} of b "
                             f"(shape {b.shape}) differ in length")
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in ax_a] + \
          [c for k, c in enumerate(sb) if k not in ax_b]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def dot(a, b) -> Tensor:
    """np.dot: a product for 0-d, the inner product of vectors, the matrix product of
    matrices, and for N-d Σ over a's last and b's second-to-last axis."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([a.ndim - 1], [max(b.ndim - 2, 0)]))


def inner(a, b) -> Tensor:
    """Σ over the last axes of a and b (np.inner / torch.inner)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, ([a.ndim - 1], [b.ndim - 1]))


def outer(a, b) -> Tensor:
    """out[i, j] = a_i·b_j of the flattened inputs (np.outer / torch.outer)."""
    return einsum("i,j->ij", reshape(as_tensor(a), (-1,)), reshape(as_tensor(b), (-1,)))


def kron(a, b) -> Tensor:
    """Kronecker product: blocks a_ij·b (np.kron / torch.kron), any rank."""
    a, b = as_tensor(a), as_tensor(b)
    n = max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (n - a.ndim) + a.shape)
    b = reshape(b, (1,) * (n - b.ndim) + b.shape)
    la, lb = string.ascii_lowercase[:n], string.ascii_uppercase[:n]
    interleaved = "".join(x + y for x, y in zip(la, lb))
    out = einsum(f"{la},{lb}->{interleaved}", a, b)
    return reshape(out, tuple(p * q for p, q in zip(a.shape, b.shape)))

