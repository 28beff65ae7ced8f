"""Trainer callbacks: early stopping, checkpointing, logging.

A callback sees the trainer after each batch and each epoch; it may set
``trainer.should_stop``. Callbacks hold their own state and expose ``state_dict`` /
``load_state_dict`` so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ..losses.objective import LossOutput
    from ..samplers.base import TripletBatch
    from .trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "Checkpoint", "LogMetrics"]

logger = logging.getLogger(__name__)


class Callback:
    """Base class: every hook is optional."""

    def on_fit_start(self, trainer: "Trainer") -> None: ...

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None: ...

    def on_batch_end(self, trainer: "Trainer", batch: "TripletBatch", output: "LossOutput") -> None: ...

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict) -> None: ...

    def on_fit_end(self, trainer: "Trainer") -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class EarlyStopping(Callback):
    """Stop when the validation metric has not improved for ``patience`` evaluations.

    Args:
        monitor: a key of the validation metrics, e.g. ``"recall@20"`` (higher is better).
        patience: evaluations without improvement before stopping.
        min_delta: smallest change counted as an improvement.
    """

    def __init__(self, monitor: str = "recall@20", patience: int = 10, min_delta: float = 0.0):
        if patience < 1:
            raise ConfigError(f"patience must be >= 1, got {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = -math.inf
        self.bad_evals = 0

    def on_epoch_end(self, trainer, epoch, logs):
        valid = logs.get("valid")
        if not valid:
            return
        if self.monitor not in valid:
            raise ConfigError(f"early-stopping metric {self.monitor!r} not among validation metrics {sorted(valid)}")
        if valid[self.monitor] > self.best + self.min_delta:
            self.best, self.bad_evals = valid[self.monitor], 0
        else:
            self.bad_evals += 1
            if self.bad_evals >= self.patience:
                logger.info("early stopping at epoch %d: %s did not improve for %d evaluations", epoch, self.monitor, self.patience)
                trainer.should_stop = True

    def state_dict(self):
        return {"best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state):
        self.best, self.bad_evals = state["best"], state["bad_evals"]


class Checkpoint(Callback):
    """Write a resumable checkpoint every ``every`` epochs (atomically) to ``path``."""

    def __init__(self, path: str | Path, every: int = 1):
        self.path, self.every = Path(path), every

    def on_epoch_end(self, trainer, epoch, logs):
        if (epoch + 1) % self.every == 0 or trainer.should_stop:
            trainer.save_checkpoint(self.path)


class LogMetrics(Callback):
    """Log one line per epoch through the module logger."""

    def on_epoch_end(self, trainer, epoch, logs):
        parts = [f"epoch {epoch + 1}", f"loss {logs['loss']:.4f}", f"{logs['time']:.2f}s"]
        for k, v in (logs.get("valid") or {}).items():
            parts.append(f"{k} {v:.4f}")
        logger.info(" | ".join(parts))
