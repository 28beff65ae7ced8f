"""Losses: per-example BPR/BCE, objectives, and loss-level denoising wrappers."""

from .denoising import ReweightedReducer, TruncatedReducer, drop_rate_schedule
from .functional import bce_loss, bpr_loss, l2_penalty
from .nbpo import NBPOObjective, nbpo_log_likelihood
from .objective import LOSSES, LossOutput, MeanReducer, PairwiseObjective, Reducer

__all__ = [
    "bpr_loss", "bce_loss", "l2_penalty", "LossOutput", "Reducer", "MeanReducer", "PairwiseObjective", "LOSSES",
    "TruncatedReducer", "ReweightedReducer", "drop_rate_schedule", "NBPOObjective", "nbpo_log_likelihood"]
