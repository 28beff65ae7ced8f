"""PLD: resampling positives by the user's personal loss distribution.

Zhang et al., "Personalized Denoising Implicit Feedback for Robust Recommender System",
WWW 2025 (reference code: github.com/Kaike-Zhang/PLD, ``SelfDenoiseCFTrainer``).

Each step draws ``B`` users; for each user a *candidate pool* of ``k`` of the user's training
positives and one negative; the current model scores the pool, and the positive that is
optimised is drawn with probability

.. math::
    P(i \\mid u) = \\frac{\\exp(-\\ell_{ui} / \\tau)}{\\sum_{i' \\in \\mathcal{C}_u} \\exp(-\\ell_{ui'} / \\tau)},
    \\qquad \\ell_{ui} = \\operatorname{softplus}(\\hat{y}_{uj} - \\hat{y}_{ui}) \\text{ (BPR)}

so within each user, low-loss (normal) interactions are optimised more often than
high-loss (likely noisy) ones.

Behaviour taken from the reference code (and where it differs from a plain BPR epoch):

- users are drawn **uniformly** over users (``np.random.randint(0, n_users, B)``), not
  proportionally to their interaction counts (``user_sampling="interaction"`` gives that);
- an epoch has as many steps as a plain epoch (``ceil(N / B)``); the reference counts ``N``
  before noise injection, we count the training interactions we are given;
- the pool is drawn **without replacement** when the user has at least ``k`` positives and
  with replacement otherwise (``pool_replacement=True`` always uses replacement);
- one negative is shared by the whole pool (it cancels in the softmax for BCE);
- the first ``warmup`` epochs (reference ``begin_adv = 5``) use the same user draw with one
  uniform positive per user (no resampling).

Two training settings around the sampler differ from the reference, both kept so the published
cells hold:

- **optimiser**: Adam (default, ``optimizer="adam"``); the reference uses AdamW with decoupled
  weight decay 0.01 (``optimizer="adamw"``, ``adamw_weight_decay``), which decays *all*
  embedding rows every step, on top of the L2 term below;
- **L2 convention**: the objective's L2 is LightGCN's
  :math:`\\frac{\\lambda}{2B}\\sum_b (\\lVert e_u \\rVert^2 + \\lVert e_i \\rVert^2 + \\lVert e_j \\rVert^2)`
  with :math:`\\lambda` = ``train.weight_decay``; the reference computes
  :math:`\\lambda_{ref} \\cdot \\operatorname{mean}_b(\\ldots)`, twice ours for the same value, so the
  reference's :math:`\\lambda_{ref}` is ``train.weight_decay = 2 * lambda_ref`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from ..data.interactions import Interactions
from ..errors import ConfigError
from ..scoring import LOSSES as _CANDIDATE_LOSSES
from ..types import CandidateSelection, TripletBatch
from .base import PairScorer, Sampler

__all__ = ["PLDSampler", "PLDOptions", "PLDSelection"]

@dataclass(frozen=True)
class PLDOptions:
    """Options of PLD (``--method pld``): the one place their defaults live.

    Attributes:
        k: candidate pool size (reference ``item_num = 5``).
        tau: softmax temperature (reference ``temp = 0.1``).
        warmup: epochs of plain sampling before resampling starts (reference ``begin_adv = 5``).
        loss: ``"bpr"`` (reference) or ``"bce"``: scores the candidates and trains the model.
        user_sampling: ``"uniform"`` (reference) or ``"interaction"`` (proportional to count).
        pool_replacement: always draw the pool with replacement (reference: only when the
            user has fewer than ``k`` positives).
        num_negatives: negatives per user, shared by the pool (reference: 1).
        optimizer: ``"adam"`` (default; the published cells) or ``"adamw"`` (reference).
        adamw_weight_decay: AdamW's decoupled weight decay (reference 0.01); only with ``"adamw"``.
    """

    k: int = 5
    tau: float = 0.1
    warmup: int = 5
    loss: str = "bpr"
    user_sampling: str = "uniform"
    pool_replacement: bool = False
    num_negatives: int = 1
    optimizer: str = "adam"
    adamw_weight_decay: float = 0.01


PLDSelection = CandidateSelection
"""What :meth:`PLDSampler.select` saw and chose; carried on the batch as ``batch.selection``."""


class PLDSampler(Sampler):
    """PLD's score-aware positive resampler (see the module docstring).

    Args:
        train: training interactions (noisy positives included).
        batch_size: users (= triples) per step ``B``.
        device: where batches are built (the model's device).
        seed: seeds the sampler's generator (users, pools, negatives, the selection draw).
        num_negatives, k, tau, warmup, loss, user_sampling, pool_replacement: see
            :class:`PLDOptions` (defaults live there); use the same ``loss`` in the objective.

    Shapes:
        ``batches``: users ``[B]``, pos_items ``[B, k]`` (``[B]`` during warm-up), neg_items
        ``[B]`` or ``[B, n]``, rows like pos_items; ``select`` returns pos_items/rows ``[B]``.
    """

    needs_scores = True

    def __init__(
        self,
        train: Interactions,
        batch_size: int = 2048,
        num_negatives: int = PLDOptions.num_negatives,
        device: torch.device | str = "cpu",
        seed: int = 0,
        *,
        k: int = PLDOptions.k,
        tau: float = PLDOptions.tau,
        warmup: int = PLDOptions.warmup,
        loss: str = PLDOptions.loss,
        user_sampling: str = PLDOptions.user_sampling,
        pool_replacement: bool = PLDOptions.pool_replacement,
    ):
        super().__init__(train, batch_size, num_negatives, device, seed)
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"PLD pool size k must be a positive integer, got {k!r}")
        if not tau > 0:
            raise ConfigError(f"PLD temperature tau must be > 0, got {tau!r}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f"PLD warmup must be a non-negative integer (epochs), got {warmup!r}")
        if loss not in _CANDIDATE_LOSSES:
            raise ConfigError(f"PLD loss must be one of {sorted(_CANDIDATE_LOSSES)}, got {loss!r}")
        if user_sampling not in ("uniform", "interaction"):
            raise ConfigError(f"user_sampling must be 'uniform' or 'interaction', got {user_sampling!r}")
        self.k, self.tau, self.warmup, self.loss = k, float(tau), warmup, loss
        self.user_sampling, self.pool_replacement = user_sampling, pool_replacement
        counts = torch.from_numpy(train.user_counts).to(self.device)
        self.indptr = torch.zeros(train.num_users + 1, dtype=torch.long, device=self.device)
        self.indptr[1:] = torch.cumsum(counts, 0)
        self.degree = counts
        self.active_users = torch.nonzero(counts > 0).squeeze(1)

    # ------------------------------------------------------------------ drawing
    def sample_users(self, n: int) -> torch.Tensor:
        """``[n]`` users: uniform over users with training data, or proportional to their counts."""
        if self.user_sampling == "interaction":
            return self.users[torch.randint(self.num_interactions, (n,), device=self.device, generator=self.generator)]
        pick = torch.randint(self.active_users.numel(), (n,), device=self.device, generator=self.generator)
        return self.active_users[pick]

    def sample_pool(self, users: torch.Tensor, k: int) -> torch.Tensor:
        """``[B, k]`` training-row indices of ``k`` positives per user.

        Without replacement (Floyd's algorithm, vectorised over users: ``k`` rounds of tensor
        ops) for users with at least ``k`` positives unless ``pool_replacement``; with
        replacement otherwise.
        """
        deg = self.degree[users]
        rand = torch.rand((users.numel(), k), device=self.device, generator=self.generator)
        offsets = (rand * deg.unsqueeze(1)).long()  # with replacement
        if not self.pool_replacement and k > 1:
            floyd = torch.empty_like(offsets)
            for s in range(k):
                top = (deg - k + s).clamp_min(0)  # draw t in [0, top]
                t = (rand[:, s] * (top + 1)).long()
                dup = (floyd[:, :s] == t.unsqueeze(1)).any(1) if s else torch.zeros_like(t, dtype=torch.bool)
                floyd[:, s] = torch.where(dup, top, t)
            offsets = torch.where((deg >= k).unsqueeze(1), floyd, offsets)
        offsets = torch.minimum(offsets, (deg - 1).unsqueeze(1))  # guards rand == 1.0 rounding
        return self.indptr[users].unsqueeze(1) + offsets

    def batches(self, epoch: int) -> Iterator[TripletBatch]:
        resample = epoch >= self.warmup
        for start in range(0, self.num_interactions, self.batch_size):
            size = min(self.batch_size, self.num_interactions - start)
            users = self.sample_users(size)
            rows = self.sample_pool(users, self.k if resample else 1)
            if not resample:
                rows = rows.squeeze(1)
            yield TripletBatch(users, self.items[rows], self.sample_negatives(users), rows=rows)

    # ---------------------------------------------------------------- selection
    def candidate_losses(self, batch: TripletBatch, scorer: PairScorer) -> torch.Tensor:
        """``[B, k]`` loss of each candidate with the user's shared negative(s) (no grad)."""
        k = batch.pos_items.shape[1]
        items = torch.cat([batch.pos_items, batch.neg_items.reshape(len(batch), -1)], dim=1)  # [B, k + n]
        with torch.no_grad():
            scores = scorer.pairs(batch.users, items)
            pos, neg = scores[:, :k], scores[:, k:]
            return _CANDIDATE_LOSSES[self.loss](pos, neg.unsqueeze(1).expand(-1, k, -1))

    def selection_probs(self, losses: torch.Tensor) -> torch.Tensor:
        """``softmax(-losses / tau)`` over the pool (last dimension)."""
        return torch.softmax(-losses / self.tau, dim=-1)

    def draw(self, losses: torch.Tensor) -> torch.Tensor:
        """``[B]`` one candidate per row with probability ``softmax(-losses / tau)``.

        Inverse-CDF sampling on the unnormalised weights (exact; cheaper on CPU than
        ``softmax`` + ``torch.multinomial`` for tiny pools).
        """
        logits = -losses / self.tau
        weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
        cdf = torch.cumsum(weights, dim=1)
        u = torch.rand((losses.shape[0], 1), device=losses.device, generator=self.generator, dtype=cdf.dtype)
        return (cdf < u * cdf[:, -1:]).sum(1).clamp_(max=losses.shape[1] - 1)

    def select(self, batch: TripletBatch, scorer: PairScorer, epoch: int) -> TripletBatch:
        if batch.pos_items.dim() == 1:  # warm-up batch: nothing to choose
            return batch
        losses = self.candidate_losses(batch, scorer)
        chosen = self.draw(losses)
        pick = chosen.unsqueeze(1)
        return batch.replace(
            pos_items=batch.pos_items.gather(1, pick).squeeze(1),
            rows=batch.rows.gather(1, pick).squeeze(1),
            selection=CandidateSelection(batch.rows, losses, chosen, self.tau),
        )

