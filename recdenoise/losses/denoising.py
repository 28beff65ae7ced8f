r"""Loss-level denoising: truncated (T-CE) and reweighted (R-CE) losses.

Wang et al., "Denoising Implicit Feedback for Recommendation", WSDM 2021 (reference code:
github.com/WenjieWWJ/DenoisingRec, ``T_CE/loss.py``, ``R_CE/loss.py``).

Two granularities, chosen by the options' ``granularity``:

- ``"element"`` (default, the reference): a batch of ``B`` (user, positive, ``n`` negatives)
  triples is ``N = B(1 + n)`` labelled *elements* (each positive with label 1, each negative
  with label 0), and the loss is the mean BCE over the elements
  (:class:`ElementwiseObjective`). T-CE (:class:`ElementTruncation`) sorts the elements by
  ``loss * label`` (negatives rank 0, so **a negative is never dropped**) and removes
  ``N - int((1 - eps) N)`` of them, all positives; R-CE (:class:`ElementReweighting`) weights
  each positive by :math:`\sigma(\hat{y}_{ui})^\beta` and each negative by
  :math:`(1 - \sigma(\hat{y}_{uj}))^\beta`.
- ``"triple"`` (the library's earlier behaviour, and the only one for BPR): a *reducer* for
  :class:`~recdenoise.losses.PairwiseObjective` over per-triple losses ``[B]``; a dropped or
  reweighted triple drops/reweights its negative term too, and BCE sums the positive and the
  (mean) negative term per triple (:class:`TruncatedReducer`, :class:`ReweightedReducer`).

**The drop rate** :math:`\epsilon` means different things in the two: ``"element"`` drops
``int(eps * B(1 + n))`` *positives* (a share :math:`\epsilon(1 + n)` of the batch's positives,
0.4 at :math:`\epsilon = 0.2` with one negative; B = 1000: 400 positives, 0 negatives),
``"triple"`` drops ``B - int((1 - eps) B)`` triples (a share :math:`\epsilon` of the positives
*and* their negatives; B = 1000: 200 positives, 200 negatives). To drop the same share
:math:`\rho` of positives, set ``max_drop_rate = rho / (1 + n)`` for ``"element"``. Should
``eps * N`` exceed ``B`` (:math:`\epsilon > 1/(1 + n)`), all positives but one are dropped and no
negative (the reference would then drop arbitrary negatives among its zero-ranked ties).

Both return the weight each *positive* received (``[B]``), which
:class:`~recdenoise.training.diagnostics.NoiseDiagnostics` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..scoring import bce_loss, pair_scores
from ..types import TripletBatch
from .objective import LossOutput, embedding_l2

__all__ = [
    "TCEOptions", "RCEOptions", "GRANULARITIES", "TruncatedReducer", "ReweightedReducer", "drop_rate_schedule",
    "ElementTruncation", "ElementReweighting", "ElementwiseObjective",
]

GRANULARITIES = ("element", "triple")


@dataclass(frozen=True)
class TCEOptions:
    """Options of T-CE (``--method tce``): the one place their defaults live.

    Attributes:
        loss: ``"bce"`` (the paper's T-CE) or ``"bpr"`` (needs ``granularity="triple"``).
        granularity: ``"element"`` (reference: drop positive elements, never a negative) or
            ``"triple"`` (drop whole triples; the earlier default). See the module docstring
            for what ``max_drop_rate`` means in each.
        max_drop_rate: :math:`\\epsilon_{max}`, the drop rate the ramp reaches (reference 0.2).
        num_gradual: optimiser steps of the ramp (reference 30000); ``None`` = ``gradual_epochs``
            epochs of the training set.
        gradual_epochs: the ramp's length in epochs when ``num_gradual`` is ``None``.
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    granularity: str = "element"
    max_drop_rate: float = 0.2
    num_gradual: Optional[int] = None
    gradual_epochs: int = 10
    num_negatives: int = 1


@dataclass(frozen=True)
class RCEOptions:
    """Options of R-CE (``--method rce``): the one place their defaults live.

    Attributes:
        loss: ``"bce"`` (the paper's R-CE) or ``"bpr"`` (needs ``granularity="triple"``).
        granularity: ``"element"`` (reference: :math:`\\sigma(\\hat{y}_{ui})^\\beta` on each positive,
            :math:`(1 - \\sigma(\\hat{y}_{uj}))^\\beta` on each negative, mean over elements) or
            ``"triple"`` (one weight per triple on both terms; the earlier default).
        beta: exponent of the detached predicted probability used as weight (reference
            ``alpha = 0.2``; the earlier default was 0.25).
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    granularity: str = "element"
    beta: float = 0.2
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


class ElementTruncation:
    r"""Element-wise T-CE (the reference ``T_CE/loss.py``): drop the largest-loss *positive* elements.

    The ``N = B(1 + n)`` elements are ranked by ``loss * label`` (negatives rank 0) and the
    last ``N - int((1 - eps(t)) N)`` are removed, i.e. the largest-loss positives; the loss is
    the mean over the kept elements:

    .. math::
        \mathcal{L} = \frac{\sum_{i \in \mathcal{K}_t} \ell^+_{ui} + \sum_{j} \ell^-_{uj}}{|\mathcal{K}_t| + Bn},
        \qquad B - |\mathcal{K}_t| = \min\bigl(N - \lfloor (1 - \epsilon(t)) N \rfloor,\ B - 1\bigr)

    with :math:`\ell^+ = -\log\sigma(\hat{y}_{ui})`, :math:`\ell^- = -\log(1 - \sigma(\hat{y}_{uj}))`
    and :math:`\epsilon(t)` from :func:`drop_rate_schedule`.

    Args:
        max_drop_rate: :math:`\epsilon_{max}` (reference 0.2).
        num_gradual: :math:`T`, optimiser steps of the ramp (reference 30000).

    Shapes:
        pos_terms ``[B]``, neg_terms ``[B, n]`` -> (scalar, positive weights ``[B]`` in {0, 1},
        negative weights ``[B, n]``, all 1).
    """

    def __init__(self, max_drop_rate: float = TCEOptions.max_drop_rate, num_gradual: int = 30000):
        TruncatedReducer(max_drop_rate, num_gradual)  # one place validates the two options
        self.max_drop_rate, self.num_gradual = float(max_drop_rate), num_gradual

    def drop_rate(self, step: int) -> float:
        return drop_rate_schedule(step, self.max_drop_rate, self.num_gradual)

    def num_dropped(self, num_positives: int, num_elements: int, step: int) -> int:
        """Positives dropped at ``step``: ``N - int((1 - eps) N)``, at most ``B - 1``."""
        return min(num_elements - int((1.0 - self.drop_rate(step)) * num_elements), num_positives - 1)

    def __call__(self, pos_terms: torch.Tensor, neg_terms: torch.Tensor, pos_scores: torch.Tensor,
                 neg_scores: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        drop = self.num_dropped(pos_terms.shape[0], pos_terms.shape[0] + neg_terms.numel(), step)
        pos_weights = torch.ones_like(pos_terms).detach()
        if drop > 0:
            pos_weights[torch.topk(pos_terms.detach(), drop).indices] = 0.0
        neg_weights = torch.ones_like(neg_terms).detach()
        return _weighted_mean(pos_terms, neg_terms, pos_weights, neg_weights), pos_weights, neg_weights

    def state_dict(self) -> dict:
        return {}  # the schedule depends only on the trainer's step

    def load_state_dict(self, state: dict) -> None:
        pass


class ElementReweighting:
    r"""Element-wise R-CE (the reference ``R_CE/loss.py``): each element weighted by the
    model's detached probability of its own label, to the power :math:`\beta`; mean over elements.

    .. math::
        \mathcal{L} = \frac{1}{N} \Bigl(\sum_{(u,i)} \sigma(\hat{y}_{ui})^\beta \ell^+_{ui}
        + \sum_{(u,j)} (1 - \sigma(\hat{y}_{uj}))^\beta \ell^-_{uj}\Bigr), \qquad N = B(1 + n)

    Args:
        beta: :math:`\beta` (the reference's ``alpha``, 0.2).

    Shapes:
        pos_terms ``[B]``, neg_terms ``[B, n]`` -> (scalar, weights ``[B]``, weights ``[B, n]``).
    """

    def __init__(self, beta: float = RCEOptions.beta):
        ReweightedReducer(beta)
        self.beta = float(beta)

    def __call__(self, pos_terms: torch.Tensor, neg_terms: torch.Tensor, pos_scores: torch.Tensor,
                 neg_scores: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
        pos_weights = torch.sigmoid(pos_scores.detach()).pow(self.beta)
        neg_weights = torch.sigmoid(-neg_scores.detach()).pow(self.beta)  # 1 - sigma(y) = sigma(-y)
        total = (pos_weights * pos_terms).sum() + (neg_weights * neg_terms).sum()
        return total / (pos_terms.numel() + neg_terms.numel()), pos_weights, neg_weights

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _weighted_mean(pos_terms, neg_terms, pos_weights, neg_weights) -> torch.Tensor:
    total = (pos_weights * pos_terms).sum() + (neg_weights * neg_terms).sum()
    return total / (pos_weights.sum() + neg_weights.sum()).clamp_min(1e-12)


class ElementwiseObjective(nn.Module):
    r"""Pointwise BCE over the ``B(1 + n)`` elements of a batch, an element reducer, and L2.

    .. math::
        \mathcal{L} = \operatorname{reduce}(\ell^+_{ui}, \ell^-_{uj}) + \lambda \frac{1}{2B}
        \left(\lVert e_u^{(0)} \rVert^2 + \lVert e_i^{(0)} \rVert^2 + \sum_j \lVert e_j^{(0)} \rVert^2\right)

    The reference averages BCE over elements, so with one negative the data term is half the
    per-triple BCE of :class:`~recdenoise.losses.PairwiseObjective` (which sums the two terms)
    against the same L2 term. Sampler weights (``batch.weights``, per triple) multiply both
    the positive's and its negatives' element weights.

    Args:
        reducer: :class:`ElementTruncation` or :class:`ElementReweighting` (``None``: plain mean).
        reg_weight: :math:`\lambda`.

    Shapes:
        -> :class:`~recdenoise.losses.LossOutput` with ``per_example [B]`` (the per-triple BCE,
        for diagnostics) and ``weights [B]`` (the positives' weights).
    """

    def __init__(self, reducer=None, reg_weight: float = 1e-4):
        super().__init__()
        if reg_weight < 0:
            raise ConfigError(f"reg_weight must be >= 0, got {reg_weight}")
        self.reducer, self.reg_weight = reducer, float(reg_weight)

    def forward(self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        pos = pair_scores(user_emb, item_emb, batch.users, batch.pos_items)
        neg = pair_scores(user_emb, item_emb, batch.users, batch.neg_items).reshape(len(batch), -1)  # [B, n]
        pos_terms, neg_terms = F.softplus(-pos), F.softplus(neg)
        if self.reducer is None:
            loss, pos_w, neg_w = (pos_terms.sum() + neg_terms.sum()) / (pos.numel() + neg.numel()), None, None
        else:
            loss, pos_w, neg_w = self.reducer(pos_terms, neg_terms, pos, neg, step)
        if batch.weights is not None:
            w = batch.weights.detach().to(pos_terms.dtype)
            pos_w = w if pos_w is None else pos_w * w
            neg_w = w.unsqueeze(1).expand_as(neg_terms) if neg_w is None else neg_w * w.unsqueeze(1)
            loss = _weighted_mean(pos_terms, neg_terms, pos_w, neg_w)
        stats = {"loss": loss.detach()}
        if self.reg_weight > 0:
            reg = self.reg_weight * embedding_l2(model, batch)
            loss = loss + reg
            stats["reg"] = reg.detach()
        per_example = bce_loss(pos.detach(), neg.detach())
        return LossOutput(loss, per_example, None if pos_w is None else pos_w.detach(), stats)

    def state_dict_extra(self) -> dict:
        return self.reducer.state_dict() if self.reducer is not None else {}

    def load_state_dict_extra(self, state: dict) -> None:
        if self.reducer is not None:
            self.reducer.load_state_dict(state)
