"""Dot-product scores and the per-example losses over them: the one implementation.

Everything that turns embeddings into preference scores (full ranking, a PLD pool, a
training batch) and scores into BPR/BCE losses calls these, so the formula lives once.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["EmbeddingScorer", "pair_scores", "pool_scores", "bpr_loss", "bce_loss", "l2_penalty", "LOSSES"]


def pair_scores(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    r""":math:`\hat{y}_{ui} = e_u^\top e_i`, differentiable, for index tensors that broadcast.

    Shapes:
        user_emb ``[U, D]``, item_emb ``[I, D]``; ``users [B]`` with ``items [B]`` -> ``[B]``;
        ``users [B]`` with ``items [B, m]`` -> ``[B, m]``; ``users [B, 1]`` with ``items [B, m]``
        -> ``[B, m]``.
    """
    # index_select, not advanced indexing: the same values and gradients, and its backward
    # (index_add) is ~2x faster on CPU than index_put with accumulation
    u = user_emb.index_select(0, users.reshape(-1)).view(*users.shape, user_emb.shape[-1])
    if items.dim() == users.dim() + 1:
        u = u.unsqueeze(-2)
    return (u * item_emb.index_select(0, items.reshape(-1)).view(*items.shape, item_emb.shape[-1])).sum(-1)


def pool_scores(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``[B, m]`` scores of ``items [B, m]`` for ``users [B]``: one ``index_select`` and one
    ``bmm`` (several times faster on CPU than broadcasting ``[B, 1, D] * [B, m, D]``)."""
    b, m = items.shape
    cand = item_emb.index_select(0, items.reshape(-1)).view(b, m, -1)  # [B, m, D]
    return torch.bmm(cand, user_emb.index_select(0, users).unsqueeze(2)).squeeze(2)


class EmbeddingScorer:
    """Scores from fixed (detached) embeddings; implements :class:`recdenoise.types.Scorer`.

    Shapes:
        user_emb: ``[U, D]``; item_emb: ``[I, D]``; ``scorer(users [B]) -> [B, I]``;
        ``scorer(users, items)`` = :meth:`pairs`.
    """

    #: ``scorer(users)`` returns a new tensor on every call, so the evaluator may mask it in place.
    fresh_scores = True

    def __init__(self, user_emb: torch.Tensor, item_emb: torch.Tensor):
        self.user_emb = user_emb.detach()
        self.item_emb = item_emb.detach()

    @property
    def num_items(self) -> int:
        return self.item_emb.shape[0]

    def __call__(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        if items is not None:
            return self.pairs(users, items)
        return self.user_emb[users.to(self.user_emb.device)] @ self.item_emb.T

    def pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of given (user, item) pairs: ``users [B]`` x ``items [B]`` -> ``[B]``;
        ``users [B]`` x ``items [B, m]`` -> ``[B, m]`` (the batched-matmul pool path);
        ``users [B, 1]`` broadcasts against ``items [B, m]`` too."""
        if users.dim() == 1 and items.dim() == 2:
            return pool_scores(self.user_emb, self.item_emb, users, items)
        return pair_scores(self.user_emb, self.item_emb, users, items)


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


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"bpr": bpr_loss, "bce": bce_loss}
"""Per-example pairwise losses by name."""
