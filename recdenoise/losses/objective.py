"""Objectives turn a batch and the model's representations into one scalar loss.

:class:`PairwiseObjective` = per-example loss (BPR or BCE) -> reducer -> + L2.
The *reducer* is the hook for loss-level denoising: the default averages; T-CE truncates
the largest losses, R-CE reweights them (see :mod:`recdenoise.losses.denoising`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

import torch
from torch import nn

from ..errors import ConfigError
from ..types import TripletBatch
from ..scoring import LOSSES, l2_penalty, pair_scores

__all__ = ["embedding_l2", "LossOutput", "Reducer", "MeanReducer", "PairwiseObjective", "LOSSES"]



@dataclass
class LossOutput:
    """What an objective returns for one batch.

    Attributes:
        loss: scalar to back-propagate.
        per_example: ``[B]`` detached per-example losses (before reduction).
        weights: ``[B]`` detached weight each example received in the reduction
            (0 = dropped), or ``None`` when all were weighted equally.
        stats: extra scalars to log, as 0-d tensors (``float()`` them when logging; keeping tensors
            avoids a device sync per step).
    """

    loss: torch.Tensor
    per_example: torch.Tensor
    weights: Optional[torch.Tensor] = None
    stats: dict = field(default_factory=dict)


def embedding_l2(model, batch: TripletBatch) -> torch.Tensor:
    r"""LightGCN's L2 term on the batch's layer-0 embeddings,
    :math:`\frac{1}{2B}(\lVert e_u^{(0)} \rVert^2 + \lVert e_i^{(0)} \rVert^2 + \lVert e_j^{(0)} \rVert^2)`
    (``model.ego_embeddings`` gives the parameters behind the batch)."""
    eu, ei = model.ego_embeddings(batch.users, batch.pos_items)
    _, ej = model.ego_embeddings(batch.users[:0], batch.neg_items)
    return l2_penalty(eu, ei, ej, batch_size=len(batch))


class Reducer(Protocol):
    """Turns per-example losses ``[B]`` into a scalar and the weights ``[B]`` it used."""

    def __call__(
        self, losses: torch.Tensor, batch: TripletBatch, step: int, pos_scores: torch.Tensor
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]: ...


class MeanReducer:
    """Plain average (weighted by ``batch.weights`` when the sampler set them)."""

    def __call__(self, losses, batch, step, pos_scores):
        if batch.weights is None:
            return losses.mean(), None
        w = batch.weights
        return (w * losses).sum() / w.sum().clamp_min(1e-12), w.detach()

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class PairwiseObjective(nn.Module):
    r"""Per-example pairwise/pointwise loss, a reducer, and L2 on the layer-0 embeddings.

    .. math::
        \mathcal{L} = \operatorname{reduce}(\ell_{uij}) + \lambda \frac{1}{2B}
        \left(\lVert e_u^{(0)} \rVert^2 + \lVert e_i^{(0)} \rVert^2 + \lVert e_j^{(0)} \rVert^2\right)

    Args:
        loss: ``"bpr"`` or ``"bce"``.
        reg_weight: :math:`\lambda` (LightGCN's ``weight_decay``, 1e-4 by default).
        reducer: reduction over examples (default :class:`MeanReducer`).
    """

    def __init__(self, loss: str = "bpr", reg_weight: float = 1e-4, reducer: Optional[Reducer] = None):
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
        if reg_weight < 0:
            raise ConfigError(f"reg_weight must be >= 0, got {reg_weight}")
        self.loss_name = loss
        self.loss_fn = LOSSES[loss]
        self.reg_weight = reg_weight
        self.reducer = reducer if reducer is not None else MeanReducer()

    def scores(self, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pos [B], neg [B] or [B, n])`` dot-product scores."""
        pos = pair_scores(user_emb, item_emb, batch.users, batch.pos_items)
        neg = pair_scores(user_emb, item_emb, batch.users, batch.neg_items)
        return pos, neg

    def forward(
        self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None
    ) -> LossOutput:
        """Loss of one batch; ``graph`` (the step's graph) is accepted for a uniform call and unused."""
        pos, neg = self.scores(user_emb, item_emb, batch)
        per_example = self.loss_fn(pos, neg)
        loss, weights = self.reducer(per_example, batch, step, pos.detach())
        stats = {"loss": loss.detach()}  # tensors: no host sync per step
        if self.reg_weight > 0:
            reg = self.reg_weight * embedding_l2(model, batch)
            loss = loss + reg
            stats["reg"] = reg.detach()
        return LossOutput(loss, per_example.detach(), weights, stats)

    def state_dict_extra(self) -> dict:
        """The reducer's state (schedules, running targets) for checkpoints."""
        return self.reducer.state_dict() if hasattr(self.reducer, "state_dict") else {}

    def load_state_dict_extra(self, state: dict) -> None:
        """Restore :meth:`state_dict_extra` (so a resumed run continues the reducer exactly)."""
        if hasattr(self.reducer, "load_state_dict"):
            self.reducer.load_state_dict(state)
