"""Optimizer and Schedule: the base classes of the optimizer and schedule plugins."""

from graphgrad.optim.optimizer import Optimizer
from graphgrad.optim.schedule import Schedule

__all__ = ["Optimizer", "Schedule"]
