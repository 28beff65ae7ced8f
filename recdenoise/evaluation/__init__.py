"""Evaluation: top-k ranking metrics and the batched full-ranking evaluator."""

from __future__ import annotations

from .evaluator import EvalResult, Evaluator, Scorer, evaluate_embeddings
from .metrics import (
    METRICS,
    MetricAccumulator,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_user_metrics,
    precision_at_k,
    recall_at_k,
)

__all__ = [
    "Evaluator",
    "EvalResult",
    "Scorer",
    "evaluate_embeddings",
    "METRICS",
    "MetricAccumulator",
    "per_user_metrics",
    "recall_at_k",
    "precision_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "mrr_at_k",
]
