"""Loss-level denoising: truncated (T-CE) and reweighted (R-CE) reductions.

Wang et al., "Denoising Implicit Feedback for Recommendation", WSDM 2021 (reference code:
github.com/WenjieWWJ/DenoisingRec, ``T_CE/loss.py``, ``R_CE/loss.py``). Both are *reducers*
for :class:`~recdenoise.losses.PairwiseObjective`: they see the per-example losses ``[B]`` and
the detached positive scores and return the scalar to optimise plus the weight each example
received (which :class:`~recdenoise.diagnostics.NoiseDiagnostics` reads).

Mapping the pointwise reference onto (user, positive, negative) triples:

- the reference scores *elements* (each positive and each negative is a row with label
  ``t``); here one example is a triple, and a dropped/reweighted example drops/reweights
  its negative term too;
- T-CE ranks by the positive's own loss (reference: ``loss * t``, negatives never dropped):
  ``rank_by="positive"`` ranks by :math:`-\\log\\sigma(\\hat{y}_{ui})`, ``rank_by="loss"`` by
  the whole per-example loss (the only choice for BPR, where the loss is one pairwise term);
- the reference computes ``num_remember = int((1 - drop_rate) * len)`` over positives *and*
  negatives, so with one negative per positive it drops about ``2 * drop_rate`` of the
  positives; here ``len`` is the number of triples, so exactly ``drop_rate`` of them go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..types import TripletBatch

__all__ = ["TCEOptions", "RCEOptions", "TruncatedReducer", "ReweightedReducer", "drop_rate_schedule"]


@dataclass(frozen=True)
class TCEOptions:
    """Options of T-CE (``--method tce``): the one place their defaults live.

    Attributes:
        loss: ``"bce"`` (the paper's T-CE) or ``"bpr"``.
        max_drop_rate: :math:`\\epsilon_{max}`, the drop rate the ramp reaches.
        num_gradual: optimiser steps of the ramp (reference 30000); ``None`` = ``gradual_epochs``
            epochs of the training set.
        gradual_epochs: the ramp's length in epochs when ``num_gradual`` is ``None``.
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    max_drop_rate: float = 0.2
    num_gradual: Optional[int] = None
    gradual_epochs: int = 10
    num_negatives: int = 1


@dataclass(frozen=True)
class RCEOptions:
    """Options of R-CE (``--method rce``): the one place their defaults live.

    Attributes:
        loss: ``"bce"`` (the paper's R-CE) or ``"bpr"``.
        beta: exponent of the detached predicted probability used as weight.
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    beta: float = 0.25
    num_negatives: int = 1

_RANK_BY = ("loss", "positive")


def drop_rate_schedule(step: int, max_drop_rate: float, num_gradual: int) -> float:
    r"""T-CE's drop rate at optimiser step ``step`` (reference ``drop_rate_schedule``).

    .. math::
        \epsilon(t) = \epsilon_{max} \cdot \frac{t}{T - 1} \text{ for } t < T, \qquad \epsilon(t) = \epsilon_{max} \text{ otherwise}

    (the reference indexes ``np.linspace(0, max_drop_rate, num_gradual)``, so the ramp reaches
    the maximum at ``t = T - 1``; the paper writes :math:`\min(\alpha t, \epsilon_{max})`.)
    """
    if step >= num_gradual or num_gradual <= 1:
        return float(max_drop_rate)
    return float(max_drop_rate) * step / (num_gradual - 1)


def _ranking_losses(losses: torch.Tensor, pos_scores: torch.Tensor, rank_by: str) -> torch.Tensor:
    return losses.detach() if rank_by == "loss" else F.softplus(-pos_scores.detach())


class TruncatedReducer:
    r"""T-CE: drop the largest-loss examples of each batch, with a drop rate that grows linearly.

    .. math::
        \mathcal{L} = \frac{1}{|\mathcal{K}_t|} \sum_{(u,i) \in \mathcal{K}_t} \ell_{ui}, \qquad
        |\mathcal{K}_t| = \lfloor (1 - \epsilon(t)) B \rfloor

    where :math:`\mathcal{K}_t` holds the :math:`|\mathcal{K}_t|` smallest ranking losses and
    :math:`\epsilon(t)` is :func:`drop_rate_schedule` at the trainer's optimiser step.

    Args:
        max_drop_rate: :math:`\epsilon_{max}` (reference default 0.2).
        num_gradual: :math:`T`, optimiser steps to reach the maximum (reference 30000).
        rank_by: ``"positive"`` (rank by the positive's BCE term, as the reference; for BCE)
            or ``"loss"`` (rank by the per-example loss; for BPR).

    Shapes:
        losses ``[B]``, pos_scores ``[B]`` -> (scalar, weights ``[B]`` in {0, 1}).
    """

    def __init__(self, max_drop_rate: float = TCEOptions.max_drop_rate, num_gradual: int = 30000, rank_by: str = "loss"):
        if not 0.0 <= max_drop_rate < 1.0:
            raise ConfigError(f"max_drop_rate must be in [0, 1), got {max_drop_rate!r}")
        if not isinstance(num_gradual, int) or num_gradual < 1:
            raise ConfigError(f"num_gradual must be a positive integer (optimiser steps), got {num_gradual!r}")
        if rank_by not in _RANK_BY:
            raise ConfigError(f"rank_by must be one of {list(_RANK_BY)}, got {rank_by!r}")
        self.max_drop_rate, self.num_gradual, self.rank_by = float(max_drop_rate), num_gradual, rank_by

    def drop_rate(self, step: int) -> float:
        return drop_rate_schedule(step, self.max_drop_rate, self.num_gradual)

    def num_remember(self, batch_size: int, step: int) -> int:
        """Examples kept at ``step``: ``int((1 - drop_rate) * B)`` (at least one)."""
        return max(1, int((1.0 - self.drop_rate(step)) * batch_size))

    def __call__(
        self, losses: torch.Tensor, batch: TripletBatch, step: int, pos_scores: torch.Tensor
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        keep = self.num_remember(losses.shape[0], step)
        order = torch.argsort(_ranking_losses(losses, pos_scores, self.rank_by), stable=True)
        weights = torch.zeros_like(losses, dtype=losses.dtype).detach()
        weights[order[:keep]] = 1.0
        if batch.weights is not None:
            weights = weights * batch.weights.detach()
        return (weights * losses).sum() / weights.sum().clamp_min(1e-12), weights

    def state_dict(self) -> dict:
        return {}  # the schedule depends only on the trainer's step, which the trainer saves

    def load_state_dict(self, state: dict) -> None:
        pass


class ReweightedReducer:
    r"""R-CE: weight each example by the model's (detached) belief in its label, to the power :math:`\beta`.

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_{(u,i)} \omega_{ui}\, \ell_{ui}, \qquad
        \omega_{ui} = \exp(-\beta\, \tilde{\ell}_{ui})

    With ``score_by="positive"`` (BCE; the reference) :math:`\tilde{\ell} = -\log\sigma(\hat{y}_{ui})`,
    so :math:`\omega = \sigma(\hat{y}_{ui})^\beta` exactly as the reference's positive weight.
    With ``score_by="loss"`` (BPR) :math:`\tilde{\ell}` is the BPR loss, so
    :math:`\omega = \sigma(\hat{y}_{ui} - \hat{y}_{uj})^\beta`: the pairwise analogue, the
    model's probability that the observed preference holds. (The reference also down-weights
    each *negative* by :math:`(1 - \sigma(\hat{y}_{uj}))^\beta`; a triple-level reducer weights
    the triple once.) The mean is over all ``B`` examples, not normalised by the weights,
    as in the reference.

    Args:
        beta: :math:`\beta` (the reference's ``alpha``; 0.25 in its NeuMF runs, 0.2 for GMF).
        score_by: ``"positive"`` or ``"loss"`` (see above).

    Shapes:
        losses ``[B]``, pos_scores ``[B]`` -> (scalar, weights ``[B]`` in (0, 1]).
    """

    def __init__(self, beta: float = RCEOptions.beta, score_by: str = "loss"):
        if not beta >= 0:
            raise ConfigError(f"beta must be >= 0, got {beta!r}")
        if score_by not in _RANK_BY:
            raise ConfigError(f"score_by must be one of {list(_RANK_BY)}, got {score_by!r}")
        self.beta, self.score_by = float(beta), score_by

    def weights(self, losses: torch.Tensor, pos_scores: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.beta * _ranking_losses(losses, pos_scores, self.score_by))

    def __call__(
        self, losses: torch.Tensor, batch: TripletBatch, step: int, pos_scores: torch.Tensor
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        weights = self.weights(losses, pos_scores)
        if batch.weights is not None:
            weights = weights * batch.weights.detach()
        return (weights * losses).mean(), weights

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
