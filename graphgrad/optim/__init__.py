"""Optimizer and Schedule: the base classes of the optimizer and schedule plugins; gradient
clipping (``clip_grad_norm_``, ``clip_grad_value_``)."""

from graphgrad.optim.grad_clipping import clip_grad_norm_, clip_grad_value_
from graphgrad.optim.optimizer import Optimizer
from graphgrad.optim.schedule import Schedule

__all__ = ["Optimizer", "Schedule", "clip_grad_norm_", "clip_grad_value_"]
