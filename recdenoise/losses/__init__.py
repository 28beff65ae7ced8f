"""Losses: per-example BPR/BCE, objectives, and loss-level denoising wrappers."""

from .denoising import (
    ElementReweighting, ElementTruncation, ElementwiseObjective, RCEOptions, ReweightedReducer, TCEOptions,
    TruncatedReducer, drop_rate_schedule,
)  # fmt: skip
from .functional import bce_loss, bpr_loss, l2_penalty
from .nbpo import NBPOObjective, NBPOOptions, nbpo_log_likelihood
from .objective import LOSSES, LossOutput, MeanReducer, PairwiseObjective, Reducer, embedding_l2

__all__ = [
    "bpr_loss", "bce_loss", "l2_penalty", "LossOutput", "Reducer", "MeanReducer", "PairwiseObjective", "LOSSES",
    "TruncatedReducer", "ReweightedReducer", "drop_rate_schedule", "NBPOObjective", "nbpo_log_likelihood",
    "TCEOptions", "RCEOptions", "NBPOOptions", "embedding_l2", "ElementTruncation", "ElementReweighting",
    "ElementwiseObjective"]
