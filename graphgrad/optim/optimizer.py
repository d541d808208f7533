"""Optimizer and Schedule: the base classes of every optimizer and learning-rate schedule.

An optimizer owns *param groups*: dicts ``{"params": [Tensor, ...], "lr": ..., ...}``
whose hyperparameters apply to their parameters, and a per-parameter ``state``
(momentum buffers, running averages).  ``step()`` changes ``p.data`` in place,
outside the graph.  A schedule owns nothing but a step counter: each
``step()`` writes a new ``"lr"`` into every group of the optimizer it wraps.

Both follow PyTorch (``torch.optim.Optimizer``, ``torch.optim.lr_scheduler``):
the same names, the same ``state_dict()`` layout — but with plain values only
(numbers, strings, lists, dicts and ndarrays), so a checkpoint never needs pickle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from graphgrad.autograd.grad_mode import enable_grad, no_grad
from graphgrad.autograd.tensor import Tensor

__all__ = ["Optimizer"]


def plain_value(value):
    """A state_dict value as plain data: tuples become lists, arrays are copied."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _counted(step):
    """Wrap a subclass's ``step`` so the optimizer knows it has stepped (see Schedule)."""

    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        self._step_count += 1
        return step(self, *args, **kwargs)

    wrapper._counted = True
    return wrapper


class Optimizer:
    """Base class of optimizers:  θ ← update(θ, ∇L, state)  for every parameter θ.

    ``Optimizer(params, defaults)``: `params` is an iterable of Tensors, or of
    dicts (param groups) ``{"params": [...], "lr": 0.1, ...}`` whose missing
    hyperparameters are taken from `defaults`.  Parameters must be leaf Tensors
    with ``requires_grad=True`` and may appear in one group only.

    A first-order optimizer only implements ``update(param, grad, group, state)``:
    change the ndarray `param` in place from `grad` (an ndarray of the same
    dtype), the group's hyperparameters and the parameter's `state` dict.  The
    base ``step()`` runs it under ``no_grad`` for every parameter whose
    ``.grad`` is not None and bumps the parameter's version.  Optimizers that
    need the whole problem at once (L-BFGS, Newton) override ``step`` instead.

    ``state_dict()`` is ``{"state": {index: {name: value}}, "param_groups":
    [{hyper: value, "params": [index, ...]}]}`` with parameters numbered in
    group order; values are numbers, lists and ndarrays only.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        step = vars(cls).get("step")
        if step is not None and not getattr(step, "_counted", False):
            cls.step = _counted(step)

    def __init__(self, params, defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._step_count = 0
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._who}: params must be an iterable of Tensors or of param-group "
                f"dicts, got one Tensor of shape {params.shape}; pass [tensor] or "
                "model.parameters()"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._who}: got an empty parameter list; nothing to optimize")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _who(self) -> str:
        return type(self).__name__

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a param group (a dict with ``"params"``); unset hyperparameters get the defaults."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(
                f"{self._who}: a param group must be a dict with a 'params' entry, got "
                f"{type(group).__name__}"
            )
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{self._who}: parameter {i} of group {len(self.param_groups)} is a "
                    f"{type(p).__name__}, not a Tensor"
                )
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(
                    f"{self._who}: parameter {i} (shape {p.shape}) must be a leaf Tensor "
                    "with requires_grad=True; use gg.Parameter or tensor(..., "
                    "requires_grad=True), not the output of an op"
                )
            if id(p) in seen:
                raise ValueError(
                    f"{self._who}: parameter {i} (shape {p.shape}) appears in more than one "
                    "param group (or twice in one); give each parameter to one group"
                )
            seen.add(id(p))
        unknown = sorted(set(group) - set(self.defaults) - {"params", "initial_lr"})
        if unknown:
            raise ValueError(
                f"{self._who}: unknown hyperparameter(s) {unknown} in a param group; "
                f"known: {sorted(self.defaults)}"
            )
        new = {**self.defaults, **group, "params": params}
        self._check_group(new)
        self.param_groups.append(new)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyperparameters (subclasses extend this)."""
        lr = group.get("lr")
        number = isinstance(lr, (int, float, np.integer, np.floating)) and not isinstance(lr, bool)
        if not number or not np.isfinite(lr) or lr < 0:
            raise ValueError(f"{self._who}: lr must be a finite number >= 0, got {lr!r}")

    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    # -------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (or fill them with zeros)."""
        for p in self._params():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = Tensor._wrap(np.zeros_like(p.data))

    def _evaluate(self, closure: Callable[[], Any] | None):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    @_counted
    def step(self, closure: Callable[[], Any] | None = None):
        """Update every parameter that has a gradient; returns closure() if one is given.

        The closure (optional for first-order optimizers) re-evaluates the
        model: zero the grads, compute the loss, call ``loss.backward()`` and
        return the loss.  It runs before the update, with grad mode on.
        """
        loss = self._evaluate(closure)
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = np.ascontiguousarray(p.grad.data, dtype=p.data.dtype)
                    if grad.shape != p.data.shape:
                        raise ValueError(
                            f"{self._who}: the gradient of a parameter has shape {grad.shape} "
                            f"but the parameter has shape {p.data.shape}"
                        )
                    self.update(p.data, grad, group, self.state.setdefault(p, {}))
                    p._bump_version()
        return loss

    def update(self, param: np.ndarray, grad: np.ndarray, group: dict, state: dict) -> None:
        """Change `param` in place from `grad`, the group's hyperparameters and `state`."""
        raise NotImplementedError(
            f"{self._who} must implement update(param, grad, group, state) or override step()"
        )

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data (copies): ``{"state": ..., "param_groups": ...}``."""
        index = {id(p): i for i, p in enumerate(self._params())}
        groups = []
        for group in self.param_groups:
            saved = {k: plain_value(v) for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {index[id(p)]: plain_value(s) for p, s in self.state.items() if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by ``state_dict()`` (keys may be int or str).

        The optimizer must have been built over parameters of the same shapes,
        in the same groups; arrays are copied and cast to each parameter's dtype.
        """
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{self._who}.load_state_dict: the saved state has {len(groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{self._who}.load_state_dict: param group {i} has "
                    f"{len(group['params'])} parameters, the saved one has "
                    f"{len(saved['params'])}"
                )
        params = self._params()
        saved_state = {int(k): v for k, v in state_dict["state"].items()}
        new_state: dict[Tensor, dict[str, Any]] = {}
        for k, s in saved_state.items():
            if not 0 <= k < len(params):
                raise ValueError(
                    f"{self._who}.load_state_dict: state for parameter {k}, but there are "
                    f"only {len(params)} parameters"
                )
            new_state[params[k]] = self._restore_state(params[k], s)
        for saved, group in zip(groups, self.param_groups, strict=True):
            for key, value in saved.items():
                if key == "params":
                    continue
                old = group.get(key)
                group[key] = tuple(value) if isinstance(old, tuple) else value
        self.state = new_state

    def _restore_state(self, param: Tensor, saved: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in saved.items():
            if isinstance(value, np.ndarray) and value.shape == param.shape:
                value = value.astype(param.dtype, copy=True)
            elif isinstance(value, np.ndarray):
                value = value.copy()
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        return out

    def __repr__(self) -> str:
        lines = [f"{self._who} ("]
        for i, group in enumerate(self.param_groups):
            hyper = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} params, {hyper}")
        return "\n".join(lines + [")"])
