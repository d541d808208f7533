"""Training: the Trainer loop, callbacks, History, metrics and checkpoints."""

from graphgrad.training.callbacks import (
    Callback,
    EarlyStopping,
    EpochLogger,
    PluginEvents,
    SaveCheckpoint,
)
from graphgrad.training.checkpoint import CheckpointError
from graphgrad.training.history import History
from graphgrad.training.trainer import NonFiniteLossError, Trainer

__all__ = ["Callback", "CheckpointError", "EarlyStopping", "EpochLogger", "History",
           "NonFiniteLossError", "PluginEvents", "SaveCheckpoint", "Trainer"]
