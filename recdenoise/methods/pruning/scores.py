r"""Per-interaction pruning scores in closed form, the keep-set they choose, and how well they find noise.

Every score is *higher = more likely noisy / harder*; all work on whole tensors (chunked over
interactions only to bound memory), on the embeddings' device.

For an interaction :math:`(u, i)` paired with negatives :math:`j_1..j_n` and scores
:math:`\hat{y}_{uk} = e_u^\top e_k`, the per-example loss is BPR's
:math:`\ell = \frac{1}{n}\sum_j -\log\sigma(\hat{y}_{ui} - \hat{y}_{uj})` or BCE's
:math:`\ell = -\log\sigma(\hat{y}_{ui}) - \frac{1}{n}\sum_j \log(1 - \sigma(\hat{y}_{uj}))`.
"""

from __future__ import annotations

from typing import Optional

import torch

from ...errors import ConfigError

__all__ = [
    "PRUNE_ENDS",
    "check_choice",
    "SCORE_LOSSES",
    "positive_probability",
    "el2n_scores",
    "grand_scores",
    "score_gradients",
    "prune_keep_mask",
    "detection_auc",
]

PRUNE_ENDS = ("high", "low")
SCORE_LOSSES = ("bpr", "bce")
CHUNK = 65536


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"option {name} must be one of {list(allowed)}, got {value!r}")


def positive_probability(pos: torch.Tensor, neg: torch.Tensor, loss: str = "bpr") -> torch.Tensor:
    r"""The model's probability that the interaction is a true positive.

    BPR: :math:`p_{uij} = \sigma(\hat{y}_{ui} - \hat{y}_{uj})` (the positive ranks above the
    negative); BCE: :math:`p_{ui} = \sigma(\hat{y}_{ui})`.

    Shapes:
        pos ``[B]``, neg ``[B, n]`` -> ``[B, n]`` (BPR) or ``[B, 1]`` (BCE).
    """
    check_choice("loss", loss, SCORE_LOSSES)
    if loss == "bce":
        return torch.sigmoid(pos).unsqueeze(-1)
    return torch.sigmoid(pos.unsqueeze(-1) - neg)


def _chunks(n: int):
    for start in range(0, n, CHUNK):
        yield slice(start, min(start + CHUNK, n))


@torch.no_grad()
def el2n_scores(
    user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, items: torch.Tensor, negatives: torch.Tensor, loss: str = "bpr"
) -> torch.Tensor:
    r"""EL2N (Paul et al., NeurIPS 2021): the L2 norm of the error vector, here per comparison.

    .. math::
        \mathrm{EL2N}_{ui} = \Big(\frac{1}{m}\sum_{c=1}^{m} (1 - p_{c})^2\Big)^{1/2}

    over the interaction's ``m`` probabilities (``n`` pairwise ones for BPR, ``1`` for BCE):
    the RMS error, so scores do not grow with ``n``. In ``[0, 1]``.

    Shapes:
        user_emb ``[U, D]``, item_emb ``[I, D]``, users/items ``[N]``, negatives ``[N, n]`` -> ``[N]``.
    """
    out = torch.empty(users.numel(), device=user_emb.device)
    for s in _chunks(users.numel()):
        u, i, j = users[s], items[s], negatives[s]
        eu = user_emb[u]
        pos = (eu * item_emb[i]).sum(-1)
        neg = torch.bmm(item_emb[j], eu.unsqueeze(-1)).squeeze(-1)
        out[s] = (1 - positive_probability(pos, neg, loss)).pow(2).mean(-1).sqrt()
    return out


def score_gradients(pos: torch.Tensor, neg: torch.Tensor, loss: str = "bpr") -> torch.Tensor:
    r""":math:`c_k = \partial \ell / \partial \hat{y}_{uk}` for the items ``[i, j_1..j_n]``.

    BPR: with :math:`g_j = 1 - \sigma(\hat{y}_{ui} - \hat{y}_{uj})`,
    :math:`c_i = -\frac{1}{n}\sum_j g_j`, :math:`c_{j} = g_j / n`.
    BCE: :math:`c_i = -(1 - \sigma(\hat{y}_{ui}))`, :math:`c_j = \sigma(\hat{y}_{uj}) / n`.

    Shapes:
        pos ``[B]``, neg ``[B, n]`` -> ``[B, n + 1]``.
    """
    check_choice("loss", loss, SCORE_LOSSES)
    n = neg.shape[-1]
    if loss == "bpr":
        g = 1 - torch.sigmoid(pos.unsqueeze(-1) - neg)
        return torch.cat([-g.sum(-1, keepdim=True) / n, g / n], dim=-1)
    return torch.cat([-(1 - torch.sigmoid(pos)).unsqueeze(-1), torch.sigmoid(neg) / n], dim=-1)


@torch.no_grad()
def grand_scores(
    user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, items: torch.Tensor, negatives: torch.Tensor, loss: str = "bpr"
) -> torch.Tensor:
    r"""GraNd (Paul et al., NeurIPS 2021): the norm of the per-example loss gradient, in closed form.

    The gradient is taken with respect to the final embeddings the scores are dot products of
    (MF: its parameters; LightGCN: the propagated ``e_u, e_i``), rows ``u`` and the items
    :math:`k \in [i, j_1..j_n]` with :math:`c_k = \partial\ell/\partial\hat{y}_{uk}`
    (:func:`score_gradients`):

    .. math::
        \lVert \nabla \ell \rVert^2 = \Big\lVert \sum_k c_k e_k \Big\rVert^2
        + \lVert e_u \rVert^2 \, c^\top M c, \qquad M_{kl} = [\,k \text{ and } l \text{ are the same item}\,]

    (``M`` merges a negative drawn twice into one row, as autograd does).

    Shapes:
        user_emb ``[U, D]``, item_emb ``[I, D]``, users/items ``[N]``, negatives ``[N, n]`` -> ``[N]``.
    """
    out = torch.empty(users.numel(), device=user_emb.device)
    for s in _chunks(users.numel()):
        u = users[s]
        cand = torch.cat([items[s].unsqueeze(-1), negatives[s]], dim=-1)  # [B, n+1]
        eu, ek = user_emb[u], item_emb[cand]  # [B, D], [B, n+1, D]
        scores = torch.bmm(ek, eu.unsqueeze(-1)).squeeze(-1)
        c = score_gradients(scores[:, 0], scores[:, 1:], loss)  # [B, n+1]
        grad_u = (c.unsqueeze(-1) * ek).sum(1)
        same = (cand.unsqueeze(-1) == cand.unsqueeze(-2)).to(c.dtype)  # [B, n+1, n+1]
        item_sq = torch.einsum("bk,bkl,bl->b", c, same, c) * eu.pow(2).sum(-1)
        out[s] = (grad_u.pow(2).sum(-1) + item_sq).sqrt()
    return out


def prune_keep_mask(scores: torch.Tensor, users: torch.Tensor, num_users: int, fraction: float, prune: str = "high", min_per_user: int = 1) -> torch.Tensor:
    r"""``bool [N]``: keep exactly :math:`K = \operatorname{round}((1 - f) N)` interactions.

    The ``N - K`` with the highest (``prune="high"``) or lowest (``"low"``) score are pruned,
    except that each user keeps its ``min_per_user`` interactions least exposed to pruning
    (all of them if it has fewer): no user is emptied unless ``min_per_user=0``. Ties are
    broken by row order (deterministic).

    Raises:
        ConfigError: ``fraction`` outside ``[0, 1)``, or ``K`` smaller than the protected rows.

    Shapes:
        scores ``[N]``, users ``long [N]`` -> ``bool [N]``.
    """
    check_choice("prune", prune, PRUNE_ENDS)
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"option fraction must be in [0, 1), got {fraction!r}")
    if min_per_user < 0:
        raise ConfigError(f"option min_per_user must be >= 0, got {min_per_user!r}")
    n = scores.numel()
    num_keep = round((1.0 - fraction) * n)
    exposure = scores if prune == "high" else -scores  # the most exposed are pruned first
    order = torch.argsort(exposure, stable=True)
    order = order[torch.argsort(users[order], stable=True)]  # by user, then by exposure
    counts = torch.bincount(users, minlength=num_users)
    starts = torch.cumsum(counts, 0) - counts
    rank_in_user = torch.arange(n, device=scores.device) - starts[users[order]]
    protected = torch.zeros(n, dtype=torch.bool, device=scores.device)
    protected[order] = rank_in_user < min_per_user
    num_protected = int(protected.sum())
    if num_keep < num_protected:
        raise ConfigError(
            f"option fraction={fraction} keeps {num_keep} interactions but min_per_user={min_per_user} protects "
            f"{num_protected}; lower fraction or min_per_user"
        )
    keep = protected.clone()
    free = torch.nonzero(~protected).squeeze(-1)
    ranked = free[torch.argsort(exposure[free], stable=True)]  # least exposed first
    keep[ranked[: num_keep - num_protected]] = True
    return keep


def detection_auc(scores: torch.Tensor, is_noise: torch.Tensor) -> Optional[float]:
    r"""ROC AUC of ``scores`` for finding the noisy interactions (noisy = positive class).

    :math:`\mathrm{AUC} = (R_+ - n_+(n_+ + 1)/2) / (n_+ n_-)` with :math:`R_+` the sum of the
    noisy rows' average ranks (ties count one half). ``None`` when a class is empty.

    Shapes:
        scores ``[N]``, is_noise ``bool [N]`` -> float.
    """
    is_noise = is_noise.to(device=scores.device, dtype=torch.bool)
    n_pos = int(is_noise.sum())
    n_neg = is_noise.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    values, inverse, counts = torch.unique(scores.double(), return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg_rank = ends - (counts.double() - 1) / 2  # 1-based average rank of each distinct value
    rank_sum = float(avg_rank[inverse][is_noise].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
