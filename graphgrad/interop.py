"""PyTorch weights in and out: ``load_torch_state_dict(model, sd)`` and ``torch_state_dict(model)``.

Interop is by data (DESIGN rule 15): a PyTorch ``state_dict`` is a mapping of
names to arrays.  Its values may be torch tensors (recognised by duck typing,
``.detach().cpu().numpy()``; torch is never imported here) or NumPy arrays.

Each module of the graphgrad model says how its state is named and laid out in
PyTorch, by three rules, most specific first:

1. ``module.torch_state_mapping()``: a list of
   ``(torch_names, graphgrad_names, to_graphgrad, to_torch)``; names are
   relative to the module, each side a tuple of names, ``to_graphgrad(*torch
   arrays) -> tuple of graphgrad arrays`` and ``to_torch`` the inverse (a
   layer whose PyTorch twin packs several parameters into one, such as
   attention's ``in_proj_weight``, says so here);
2. ``module.torch_transposed``: a class attribute naming the parameters stored
   transposed (``Linear`` keeps W as (in, out) for ``x @ W``; PyTorch keeps
   (out, in));
3. every other parameter and buffer: the same name, the same layout (conv
   weights, biases, norms, embeddings, BatchNorm's running statistics and
   ``num_batches_tracked``, the recurrent layers' ``weight_ih_l0``...).

Loading is strict, as ``torch.nn.Module.load_state_dict``: one error names
every PyTorch key with no graphgrad partner, every graphgrad parameter nothing
in the state dict fills, and every shape that differs; nothing is changed
unless every check passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

__all__ = ["TorchMapping", "load_torch_state_dict", "torch_mappings", "torch_state_dict"]


class TorchMapping(NamedTuple):
    """How some PyTorch keys correspond to some graphgrad parameters/buffers (full dotted names).

    ``to_graphgrad(*torch_arrays)`` returns the graphgrad arrays in the order of
    ``graphgrad``; ``to_torch(*graphgrad_arrays)`` the PyTorch ones.
    """

    torch: tuple[str, ...]
    graphgrad: tuple[str, ...]
    to_graphgrad: Callable
    to_torch: Callable


def _same(*arrays):
    return arrays


def _transpose(*arrays):
    return tuple(np.ascontiguousarray(np.swapaxes(a, -1, -2)) for a in arrays)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _names(x) -> tuple[str, ...]:
    return (x,) if isinstance(x, str) else tuple(x)


def _own_state(module) -> list[str]:
    """Names of the module's own parameters, then its own non-None buffers."""
    names = [name for name, _ in module._direct_parameters()]
    names += [n for n in vars(module).get("_buffer_names", ()) if getattr(module, n) is not None]
    return names


def torch_mappings(model) -> list[TorchMapping]:
    """Every ``TorchMapping`` of `model`: the PyTorch layout of each parameter and buffer.

    A module shared under several names (tied weights) is listed under each,
    as PyTorch lists it in its ``state_dict``.
    """
    out = []
    for prefix, module in model.named_modules(remove_duplicate=False):
        own = _own_state(module)
        covered = set()
        custom = getattr(module, "torch_state_mapping", None)
        for torch_names, gg_names, to_gg, to_torch in (custom() if custom else ()):
            torch_names, gg_names = _names(torch_names), _names(gg_names)
            covered.update(gg_names)
            out.append(TorchMapping(tuple(_join(prefix, n) for n in torch_names),
                                    tuple(_join(prefix, n) for n in gg_names), to_gg, to_torch))
        transposed = set(getattr(module, "torch_transposed", ()))
        for name in own:
            if name in covered:
                continue
            fn = _transpose if name in transposed else _same
            full = (_join(prefix, name),)
            out.append(TorchMapping(full, full, fn, fn))
    return out


def _as_array(value) -> np.ndarray:
    """A NumPy array from an ndarray, a torch tensor (duck-typed) or anything array-like."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _targets(model) -> dict:
    """graphgrad dotted name -> ("parameter", Parameter) | ("buffer", module, attr), every alias."""
    targets = {}
    for prefix, module in model.named_modules(remove_duplicate=False):
        for name, p in module._direct_parameters():
            targets[_join(prefix, name)] = ("parameter", p)
        for name in vars(module).get("_buffer_names", ()):
            if getattr(module, name) is not None:
                targets[_join(prefix, name)] = ("buffer", module, name)
    return targets


def _current(target) -> np.ndarray:
    return target[1].data if target[0] == "parameter" else getattr(*target[1:])


def load_torch_state_dict(model, state_dict: Mapping, strict: bool = True):
    """Load a PyTorch ``state_dict`` into the equivalent graphgrad `model`, in place.

    Values are torch tensors or NumPy arrays (no torch needed for arrays).
    Names and layouts are mapped per layer (see the module docstring):
    ``Linear`` weights are transposed, attention's packed projections split by
    the layer's own mapping, the recurrent layers' keys and gate orders (i, f,
    g, o; r, z, n) are PyTorch's already.  ``_metadata`` is ignored.  With
    ``strict=True`` (PyTorch's default) a PyTorch key with no graphgrad partner
    or a graphgrad parameter left unfilled is an error; a shape that differs
    always is; the error lists them all and nothing is loaded.  Returns
    ``(missing_keys, unexpected_keys)`` (PyTorch key names).
    """
    arrays = {k: v for k, v in state_dict.items() if k != "_metadata"}
    mappings = torch_mappings(model)
    targets = _targets(model)
    known = {k for m in mappings for k in m.torch}
    missing = list(dict.fromkeys(k for m in mappings for k in m.torch if k not in arrays))
    unexpected = [k for k in arrays if k not in known]
    shapes, values = [], {}
    for m in mappings:
        if any(k not in arrays for k in m.torch):
            continue
        got = m.to_graphgrad(*(_as_array(arrays[k]) for k in m.torch))
        for name, value in zip(m.graphgrad, got, strict=True):
            want = _current(targets[name]).shape
            if tuple(np.shape(value)) != tuple(want):
                src = ", ".join(f"{k} {tuple(np.shape(_as_array(arrays[k])))}" for k in m.torch)
                shapes.append(f"{src} -> graphgrad {name} needs {tuple(want)}, got "
                              f"{tuple(np.shape(value))}")
            values[name] = value
    problems = []
    if strict and missing:
        problems.append(f"missing keys (the graphgrad model needs them, the state dict lacks "
                        f"them): {missing}")
    if strict and unexpected:
        problems.append(f"unexpected keys (in the state dict, no graphgrad partner): "
                        f"{unexpected}")
    if shapes:
        problems.append("shape mismatch: " + "; ".join(shapes))
    if problems:
        hint = (" Check that the two models are built with the same sizes, or pass "
                "strict=False to load only the keys that match."
                if strict and (missing or unexpected) else "")
        raise ValueError(f"load_torch_state_dict({type(model).__name__}): "
                         + "; ".join(problems) + "." + hint)
    for name, value in values.items():
        target = targets[name]
        value = np.asarray(value)
        if target[0] == "parameter":
            p = target[1]
            np.copyto(p.data, value, casting="unsafe")
            p._bump_version()
        else:
            _, module, attr = target
            setattr(module, attr, value.astype(getattr(module, attr).dtype, copy=True))
    return missing, unexpected


def torch_state_dict(model) -> dict[str, np.ndarray]:
    """The PyTorch ``state_dict`` of `model` (names and layouts of its PyTorch twin), as NumPy.

    Load it into the PyTorch model with
    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.
    """
    targets = _targets(model)
    out = {}
    for m in torch_mappings(model):
        got = m.to_torch(*(np.array(_current(targets[n]), copy=True) for n in m.graphgrad))
        for key, value in zip(m.torch, got, strict=True):
            out[key] = np.asarray(value)
    return out
