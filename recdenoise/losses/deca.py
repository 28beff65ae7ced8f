r"""DeCA: denoising by cross-model agreement (Wang et al., "Learning Robust Recommenders through
Cross-Model Agreement", WWW 2022).

Implemented from the paper's idea as remembered, **not checked against the authors' code**
(no network access while writing it; see ``docs/results/honest.md``). The observation: two
different models agree on clean interactions and disagree on noisy ones. DeCA treats the
real preference :math:`r_{ui} \in \{0, 1\}` as latent and maximises a variational lower bound
of the likelihood of the observed label :math:`y_{ui}` in which one model's preference is the
posterior and the other's the prior, so minimising the bound pulls the two together (the
cross-model agreement) while explaining the observations:

.. math::
    -\log P(y_{ui}) \le -\mathbb{E}_{r \sim q_{ui}}\left[\log P(y_{ui} \mid r)\right]
    + \mathrm{KL}\left(\mathrm{Bern}(q_{ui}) \,\|\, \mathrm{Bern}(p_{ui})\right)

with :math:`q = \sigma(\hat y^{f})` the backbone's preference (what is evaluated) and
:math:`p = \sigma(\hat y^{g})` an auxiliary matrix factorisation's; ``symmetric=True`` adds the
same bound with the roles swapped. The observation model:
:math:`P(y = 1 \mid r = 1) = \eta_1` (fixed, ``true_positive_rate``) and
:math:`P(y = 1 \mid r = 0) = \eta^0_{ui} = \sigma(a_u^\top b_i)` from a second small factorisation
(a learned per-pair noise rate; initialised near 0 like NBPO's flip factors). For an observed
positive :math:`y = 1`; for each sampled negative :math:`y = 0`:

.. math::
    \ell^{+} = -\left[q \log \eta_1 + (1 - q)\log \eta^0\right] + \mathrm{KL}(q \| p), \quad
    \ell^{-} = -\left[q \log(1 - \eta_1) + (1 - q)\log(1 - \eta^0)\right] + \mathrm{KL}(q \| p)

per triple :math:`\ell = \ell^{+} + \frac{1}{n}\sum_j \ell^{-}_j`. The weight reported to the
diagnostics is the posterior that an observed positive is real,
:math:`P(r = 1 \mid y = 1) = \frac{q \eta_1}{q \eta_1 + (1-q)\eta^0}`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..scoring import l2_penalty, pair_scores
from ..types import TripletBatch
from .objective import LossOutput, embedding_l2

__all__ = ["DeCAOptions", "DeCAObjective", "bernoulli_kl"]


@dataclass(frozen=True)
class DeCAOptions:
    """Options of DeCA (``--method deca``): the one place their defaults live.

    Attributes:
        aux_dim: dimension of the auxiliary preference model and of the noise-rate factors.
        true_positive_rate: :math:`\\eta_1 = P(y = 1 \\mid r = 1)`.
        symmetric: add the bound with the backbone and the auxiliary model swapped.
        kl_weight: weight of the KL (agreement) term.
        noise_model: ``"fixed"`` (:math:`\eta^0 = ` ``noise_rate`` for every pair) or ``"learned"``
            (a factorisation :math:`\sigma(a_u^\top b_i)`). ``learned`` is not identifiable: the
            noise factorisation can itself learn the observed positives, which then carry no
            signal to the backbone (on ML-100K MF it lost 35-42 % Recall@20 to BPR/BCE), so the
            default is ``fixed``.
        noise_rate: :math:`\eta^0` of ``noise_model="fixed"``.
        num_negatives: sampled negatives per positive.
    """

    aux_dim: int = 32
    true_positive_rate: float = 0.99
    symmetric: bool = True
    kl_weight: float = 1.0
    noise_model: str = "fixed"
    noise_rate: float = 0.1
    num_negatives: int = 1


def bernoulli_kl(logit_q: torch.Tensor, logit_p: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathrm{Bern}(\sigma(a)) \| \mathrm{Bern}(\sigma(b)))`, elementwise, in log space."""
    q = torch.sigmoid(logit_q)
    return q * (F.logsigmoid(logit_q) - F.logsigmoid(logit_p)) + (1 - q) * (F.logsigmoid(-logit_q) - F.logsigmoid(-logit_p))


def _bound(logit_q, logit_p, noise_logit, label: bool, log_eta1: float, log_not_eta1: float, kl_weight: float) -> torch.Tensor:
    q = torch.sigmoid(logit_q)
    if label:
        expected = q * log_eta1 + (1 - q) * F.logsigmoid(noise_logit)
    else:
        expected = q * log_not_eta1 + (1 - q) * F.logsigmoid(-noise_logit)
    return -expected + kl_weight * bernoulli_kl(logit_q, logit_p)


class DeCAObjective(nn.Module):
    """DeCA over (user, positive, negatives); owns the auxiliary and noise factorisations.

    Args:
        num_users, num_items: ``U``, ``I``.
        aux_dim, true_positive_rate, symmetric, kl_weight: see :class:`DeCAOptions`.
        reg_weight: L2 weight on the batch's layer-0 embeddings (backbone and auxiliary factors).
        seed: seeds the auxiliary factors' initialisation.

    Shapes:
        forward(model, user_emb [U, D], item_emb [I, D], batch, step) -> :class:`LossOutput`
        with per_example ``[B]`` and weights ``[B]`` (posterior of a real positive).
    """

    def __init__(
        self, num_users: int, num_items: int, *, aux_dim: int = DeCAOptions.aux_dim,
        true_positive_rate: float = DeCAOptions.true_positive_rate, symmetric: bool = DeCAOptions.symmetric,
        kl_weight: float = DeCAOptions.kl_weight, noise_model: str = DeCAOptions.noise_model,
        noise_rate: float = DeCAOptions.noise_rate, reg_weight: float = 1e-4, seed: int = 0,
    ):  # fmt: skip
        super().__init__()
        if not isinstance(aux_dim, int) or aux_dim < 1:
            raise ConfigError(f"deca: option aux_dim must be a positive integer, got {aux_dim!r}")
        if not 0.5 < true_positive_rate < 1.0:
            raise ConfigError(f"deca: option true_positive_rate must be in (0.5, 1), got {true_positive_rate!r}")
        if not kl_weight >= 0:
            raise ConfigError(f"deca: option kl_weight must be >= 0, got {kl_weight!r}")
        if noise_model not in ("fixed", "learned"):
            raise ConfigError(f"deca: option noise_model must be 'fixed' or 'learned', got {noise_model!r}")
        if not 0.0 < noise_rate < true_positive_rate:
            raise ConfigError(f"deca: option noise_rate must be in (0, true_positive_rate), got {noise_rate!r}")
        self.noise_model, self.noise_logit = noise_model, math.log(noise_rate) - math.log1p(-noise_rate)
        self.log_eta1, self.log_not_eta1 = math.log(true_positive_rate), math.log1p(-true_positive_rate)
        self.symmetric, self.kl_weight, self.reg_weight = bool(symmetric), float(kl_weight), float(reg_weight)
        self.aux_user, self.aux_item = nn.Embedding(num_users, aux_dim), nn.Embedding(num_items, aux_dim)
        self.noise_user, self.noise_item = nn.Embedding(num_users, aux_dim), nn.Embedding(num_items, aux_dim)
        gen = torch.Generator().manual_seed(seed)
        scale = 5.0 / math.sqrt(aux_dim)
        with torch.no_grad():
            self.aux_user.weight.copy_(0.1 * torch.randn(num_users, aux_dim, generator=gen))
            self.aux_item.weight.copy_(0.1 * torch.randn(num_items, aux_dim, generator=gen))
            self.noise_user.weight.copy_(scale * torch.rand(num_users, aux_dim, generator=gen))
            self.noise_item.weight.copy_(-scale * torch.rand(num_items, aux_dim, generator=gen))

    def _logits(self, user: nn.Embedding, item: nn.Embedding, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (user(users) * item(items)).sum(-1)

    def forward(self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        users, pos_items = batch.users, batch.pos_items
        neg_items = batch.neg_items.reshape(len(batch), -1)  # [B, n]
        f_pos, f_neg = pair_scores(user_emb, item_emb, users, pos_items), pair_scores(user_emb, item_emb, users, neg_items)
        g_pos = self._logits(self.aux_user, self.aux_item, users, pos_items)
        g_neg = self._logits(self.aux_user, self.aux_item, users.unsqueeze(1), neg_items)
        if self.noise_model == "learned":
            n_pos = self._logits(self.noise_user, self.noise_item, users, pos_items)
            n_neg = self._logits(self.noise_user, self.noise_item, users.unsqueeze(1), neg_items)
        else:
            n_pos, n_neg = torch.full_like(f_pos, self.noise_logit), torch.full_like(f_neg, self.noise_logit)
        consts = (self.log_eta1, self.log_not_eta1, self.kl_weight)
        per_example = _bound(f_pos, g_pos, n_pos, True, *consts) + _bound(f_neg, g_neg, n_neg, False, *consts).mean(-1)
        if self.symmetric:
            per_example = per_example + _bound(g_pos, f_pos, n_pos, True, *consts) + _bound(g_neg, f_neg, n_neg, False, *consts).mean(-1)
        loss = per_example.mean()
        with torch.no_grad():  # P(r=1 | y=1) under the backbone: the diagnostics' clean weight
            real = torch.sigmoid(f_pos) * math.exp(self.log_eta1)
            weights = real / (real + torch.sigmoid(-f_pos) * torch.sigmoid(n_pos))
        stats = {"loss": loss.detach(), "noise_rate_pos": torch.sigmoid(n_pos.detach()).mean()}
        if self.reg_weight > 0:
            reg = self.reg_weight * (
                embedding_l2(model, batch)
                + l2_penalty(self.aux_user(users), self.aux_item(pos_items), self.aux_item(neg_items), batch_size=len(batch))
            )
            if self.noise_model == "learned":
                reg = reg + self.reg_weight * l2_penalty(self.noise_user(users), self.noise_item(pos_items), self.noise_item(neg_items), batch_size=len(batch))
            loss = loss + reg
            stats["reg"] = reg.detach()
        return LossOutput(loss, per_example.detach(), weights, stats)
