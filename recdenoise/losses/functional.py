"""Per-example losses as pure functions (no reduction), so denoising wrappers can reweight
or truncate them before averaging."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["bpr_loss", "bce_loss", "l2_penalty"]


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    r"""Bayesian Personalised Ranking loss per triple (Rendle et al., UAI 2009).

    .. math::
        \ell_{uij} = -\log \sigma(\hat{y}_{ui} - \hat{y}_{uj}) = \operatorname{softplus}(\hat{y}_{uj} - \hat{y}_{ui})

    With several negatives per positive the losses are averaged over negatives.

    Shapes:
        pos_scores: ``[B]``; neg_scores: ``[B]`` or ``[B, n]``; returns ``[B]``.
    """
    if neg_scores.dim() == pos_scores.dim() + 1:
        return F.softplus(neg_scores - pos_scores.unsqueeze(-1)).mean(-1)
    return F.softplus(neg_scores - pos_scores)


def bce_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    r"""Pointwise binary cross-entropy per triple: the positive labelled 1, negatives 0.

    .. math::
        \ell_{uij} = -\log \sigma(\hat{y}_{ui}) - \frac{1}{n}\sum_{j} \log(1 - \sigma(\hat{y}_{uj}))

    Shapes:
        pos_scores: ``[B]``; neg_scores: ``[B]`` or ``[B, n]``; returns ``[B]``.
    """
    neg_term = F.softplus(neg_scores)
    if neg_term.dim() == pos_scores.dim() + 1:
        neg_term = neg_term.mean(-1)
    return F.softplus(-pos_scores) + neg_term


def l2_penalty(*tensors: torch.Tensor, batch_size: int) -> torch.Tensor:
    r"""LightGCN's regulariser on the layer-0 embeddings of a batch:
    :math:`\frac{1}{2B} \sum \lVert e \rVert_2^2`."""
    return sum(t.pow(2).sum() for t in tensors) / (2.0 * batch_size)
