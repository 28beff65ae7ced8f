"""Losses: per-example BPR/BCE, objectives, and loss-level denoising wrappers."""

from .functional import bce_loss, bpr_loss, l2_penalty
from .objective import LOSSES, LossOutput, MeanReducer, PairwiseObjective, Reducer

__all__ = ["bpr_loss", "bce_loss", "l2_penalty", "LossOutput", "Reducer", "MeanReducer", "PairwiseObjective", "LOSSES"]
