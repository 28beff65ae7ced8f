"""Training: one loop with callbacks."""

from .callbacks import Callback, Checkpoint, EarlyStopping, LogMetrics
from .trainer import FitResult, Trainer

__all__ = ["Trainer", "FitResult", "Callback", "EarlyStopping", "Checkpoint", "LogMetrics"]
