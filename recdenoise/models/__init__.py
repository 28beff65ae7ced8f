"""Models: MF and LightGCN; each takes the graph as an argument and never stores it."""

from __future__ import annotations

from .base import EmbeddingScorer, Recommender
from .lightgcn import LightGCN, propagate_layers
from .mf import MF

__all__ = ["Recommender", "EmbeddingScorer", "MF", "LightGCN", "propagate_layers", "build_model"]

MODELS = {"mf": MF, "lightgcn": LightGCN}


def build_model(name: str, num_users: int, num_items: int, **kwargs) -> Recommender:
    """Instantiate a model by name (``"mf"`` or ``"lightgcn"``); ``num_layers`` is ignored by MF."""
    from ..errors import ConfigError

    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if name == "mf":
        kwargs.pop("num_layers", None)
        kwargs.pop("alpha", None)
    return MODELS[name](num_users, num_items, **kwargs)
