r"""DeCA: denoising by cross-model agreement (Wang et al., "Learning Robust Recommenders through
Cross-Model Agreement", WWW 2022).

Checked against the authors' code (``wangyu-ustc/DeCA``, ``train.py``) and its copy in the
RecSys 2025 benchmark (``bachml/EvalDenoisingRec``, ``code/DeCA/train.py``); see
``docs/methods.md``. ``objective="reference"`` (the default) follows that code. The real
preference :math:`r_{ui}` is latent; the backbone gives the posterior :math:`q = \sigma(\hat y^f)`,
an auxiliary MF the prior :math:`p = \sigma(\hat y^g)` (trained *only* through the KL term), and
two more MFs the observation model, trained in alternation (``iterative``: DP on even steps,
DN on odd ones):

- *DP* (denoise positives): :math:`P(y = 1 \mid r = 1) = 1`, :math:`h_1 = P(y = 1 \mid r = 0)` learned,
  :math:`\log P(y = 0 \mid r = 1)` replaced by :math:`-C_1`;
- *DN* (denoise negatives): :math:`P(y = 1 \mid r = 0) = 0` (:math:`\log` replaced by :math:`-C_2`),
  :math:`h_2 = P(y = 1 \mid r = 1)` learned.

.. math::
    \ell^{+}_{DP} = \mathrm{KL} - (1 - q)\log h_1, \qquad
    \ell^{-}_{DP} = \mathrm{KL} - (1 - q)\log(1 - h_1) + C_1 q

.. math::
    \ell^{+}_{DN} = \mathrm{KL} - q \log h_2 + C_2 (1 - q), \qquad
    \ell^{-}_{DN} = \mathrm{KL} - q \log(1 - h_2)

with :math:`\mathrm{KL} = \alpha\,\mathrm{KL}(p \| q) + (1 - \alpha)\,\mathrm{KL}(q \| p)` and every
:math:`\log x` computed as :math:`\log(x + 10^{-5})` (as the code). The loss is
:math:`\operatorname{mean}_B \ell^{+} + n \operatorname{mean}_{Bn} \ell^{-}` (``n`` negatives per positive).

``objective="bound"`` is the library's earlier reading of the paper. It treats :math:`r_{ui} \in \{0, 1\}` as
latent and maximises a variational lower bound
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

__all__ = ["DeCAObjective", "DeCAOptions", "bernoulli_kl", "reference_kl"]


@dataclass(frozen=True)
class DeCAOptions:
    """Options of DeCA (``--method deca``): the one place their defaults live (the authors' ``main.py``, the benchmark's ``configs.py``).

    Attributes:
        objective: ``"reference"`` (the authors' code) or ``"bound"`` (the earlier reading).
        aux_dim: dimension of the auxiliary preference model and of the observation models (``emb_dim`` 32).
        alpha: weight of :math:`\\mathrm{KL}(p \\| q)` against :math:`\\mathrm{KL}(q \\| p)` (``alpha`` 1).
        c_1, c_2: the large numbers standing for :math:`-\\log 0` in DP and DN: 1000 and 1000, the
            benchmark's ML-100K GMF setting (``code/DeCA/configs.py``; its LightGCN setting is
            100 / 100 with ``alpha=0``). ``main.py``'s fallback ``C_2 = 10`` collapses an MF
            backbone: with :math:`C_1 \\gg C_2` the :math:`C_1 q` push on negatives drives every
            :math:`q` towards 0, where the positives' pull :math:`C_2 q(1-q)` vanishes (ML-100K,
            20 % noise: test Recall@20 0.139 against 0.279 with 1000 / 1000).
        iterative: alternate DP and DN every step (``iterative``); ``False``: DP only.
        true_positive_rate, symmetric, kl_weight, noise_model, noise_rate: ``objective="bound"`` only.
            ``noise_model="learned"`` is not identifiable there (the noise factorisation can learn
            the observed positives itself; on ML-100K MF it lost 35-42 % Recall@20 to BPR/BCE),
            so its default is ``fixed``.
        num_negatives: sampled negatives per positive (``NSR``).
    """

    objective: str = "reference"
    aux_dim: int = 32
    alpha: float = 1.0
    c_1: float = 1000.0
    c_2: float = 1000.0
    iterative: bool = True
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


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x + 1e-5)  # the code's log: finite at 0


def reference_kl(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathrm{KL}(\mathrm{Bern}(p_1) \| \mathrm{Bern}(p_2))` of probabilities, with the code's
    :math:`\log(x + 10^{-5})` (so it is :math:`\approx 0`, not exactly 0, when :math:`p_1 = p_2`)."""
    return p1 * _log(p1) - p1 * _log(p2) + (1 - p1) * _log(1 - p1) - (1 - p1) * _log(1 - p2)


def _bound(logit_q, logit_p, noise_logit, label: bool, log_eta1: float, log_not_eta1: float, kl_weight: float) -> torch.Tensor:
    q = torch.sigmoid(logit_q)
    if label:
        expected = q * log_eta1 + (1 - q) * F.logsigmoid(noise_logit)
    else:
        expected = q * log_not_eta1 + (1 - q) * F.logsigmoid(-noise_logit)
    return -expected + kl_weight * bernoulli_kl(logit_q, logit_p)


def _factorisation(num_users: int, num_items: int, dim: int, gen: torch.Generator, std: float) -> tuple[nn.Embedding, nn.Embedding]:
    user, item = nn.Embedding(num_users, dim), nn.Embedding(num_items, dim)
    with torch.no_grad():
        user.weight.copy_(std * torch.randn(num_users, dim, generator=gen))
        item.weight.copy_(std * torch.randn(num_items, dim, generator=gen))
    return user, item


class DeCAObjective(nn.Module):
    """DeCA over (user, positive, negatives); owns the auxiliary and observation factorisations.

    Args:
        num_users, num_items: ``U``, ``I``.
        objective, aux_dim, alpha, c_1, c_2, iterative, true_positive_rate, symmetric, kl_weight,
            noise_model, noise_rate: see :class:`DeCAOptions`.
        reg_weight: L2 weight on the batch's layer-0 embeddings (backbone, and the auxiliary
            factors for ``objective="bound"``; the code regularises only the backbone).
        seed: seeds the factorisations' initialisation.

    Shapes:
        forward(model, user_emb [U, D], item_emb [I, D], batch, step) -> :class:`LossOutput`
        with per_example ``[B]`` and weights ``[B]`` (posterior of a real positive).
    """

    def __init__(
        self, num_users: int, num_items: int, *, objective: str = DeCAOptions.objective, aux_dim: int = DeCAOptions.aux_dim,
        alpha: float = DeCAOptions.alpha, c_1: float = DeCAOptions.c_1, c_2: float = DeCAOptions.c_2,
        iterative: bool = DeCAOptions.iterative, true_positive_rate: float = DeCAOptions.true_positive_rate,
        symmetric: bool = DeCAOptions.symmetric, kl_weight: float = DeCAOptions.kl_weight,
        noise_model: str = DeCAOptions.noise_model, noise_rate: float = DeCAOptions.noise_rate,
        reg_weight: float = 1e-4, seed: int = 0,
    ):  # fmt: skip
        super().__init__()
        if objective not in ("reference", "bound"):
            raise ConfigError(f"deca: option objective must be 'reference' or 'bound', got {objective!r}")
        if not isinstance(aux_dim, int) or aux_dim < 1:
            raise ConfigError(f"deca: option aux_dim must be a positive integer, got {aux_dim!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"deca: option alpha must be in [0, 1], got {alpha!r}")
        if not (c_1 >= 0 and c_2 >= 0):
            raise ConfigError(f"deca: options c_1 and c_2 must be >= 0, got {c_1!r}, {c_2!r}")
        if not 0.5 < true_positive_rate < 1.0:
            raise ConfigError(f"deca: option true_positive_rate must be in (0.5, 1), got {true_positive_rate!r}")
        if not kl_weight >= 0:
            raise ConfigError(f"deca: option kl_weight must be >= 0, got {kl_weight!r}")
        if noise_model not in ("fixed", "learned"):
            raise ConfigError(f"deca: option noise_model must be 'fixed' or 'learned', got {noise_model!r}")
        if not 0.0 < noise_rate < true_positive_rate:
            raise ConfigError(f"deca: option noise_rate must be in (0, true_positive_rate), got {noise_rate!r}")
        self.objective, self.alpha, self.c_1, self.c_2, self.iterative = objective, float(alpha), float(c_1), float(c_2), bool(iterative)
        self.noise_model, self.noise_logit = noise_model, math.log(noise_rate) - math.log1p(-noise_rate)
        self.log_eta1, self.log_not_eta1 = math.log(true_positive_rate), math.log1p(-true_positive_rate)
        self.symmetric, self.kl_weight, self.reg_weight = bool(symmetric), float(kl_weight), float(reg_weight)
        gen = torch.Generator().manual_seed(seed)
        std = 0.01 if objective == "reference" else 0.1  # the code's MF: normal(0, 0.01)
        self.aux_user, self.aux_item = _factorisation(num_users, num_items, aux_dim, gen, std)
        if objective == "reference":  # h_1 (DP) and h_2 (DN)
            self.dp_user, self.dp_item = _factorisation(num_users, num_items, aux_dim, gen, std)
            self.dn_user, self.dn_item = _factorisation(num_users, num_items, aux_dim, gen, std)
        else:
            self.noise_user, self.noise_item = nn.Embedding(num_users, aux_dim), nn.Embedding(num_items, aux_dim)
            scale = 5.0 / math.sqrt(aux_dim)
            with torch.no_grad():
                self.noise_user.weight.copy_(scale * torch.rand(num_users, aux_dim, generator=gen))
                self.noise_item.weight.copy_(-scale * torch.rand(num_items, aux_dim, generator=gen))

    def _logits(self, user: nn.Embedding, item: nn.Embedding, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (user(users) * item(items)).sum(-1)

    def _reference_terms(self, f: torch.Tensor, g: torch.Tensor, h: torch.Tensor, label: bool, phase: str) -> torch.Tensor:
        """Per element :math:`\\mathrm{KL} - \\log`-likelihood of the module docstring; ``phase`` is ``"DP"`` or ``"DN"``."""
        q, p, h = torch.sigmoid(f), torch.sigmoid(g), torch.sigmoid(h)
        kl = self.alpha * reference_kl(p, q) + (1.0 - self.alpha) * reference_kl(q, p)
        if phase == "DP":
            ll = _log(h) * (1 - q) if label else _log(1 - h) * (1 - q) - self.c_1 * q
        else:
            ll = _log(h) * q - self.c_2 * (1 - q) if label else _log(1 - h) * q
        return kl - ll

    def _reference(self, users, pos_items, neg_items, f_pos, f_neg, step: int):
        g_pos = self._logits(self.aux_user, self.aux_item, users, pos_items)
        g_neg = self._logits(self.aux_user, self.aux_item, users.unsqueeze(1), neg_items)
        phase = "DN" if self.iterative and step % 2 == 1 else "DP"
        h_user, h_item = (self.dp_user, self.dp_item) if phase == "DP" else (self.dn_user, self.dn_item)
        h_pos, h_neg = self._logits(h_user, h_item, users, pos_items), self._logits(h_user, h_item, users.unsqueeze(1), neg_items)
        pos_terms, neg_terms = self._reference_terms(f_pos, g_pos, h_pos, True, phase), self._reference_terms(f_neg, g_neg, h_neg, False, phase)
        loss = pos_terms.mean() + neg_terms.shape[1] * neg_terms.mean()
        with torch.no_grad():  # P(r=1 | y=1) under DP's observation model: q / (q + (1 - q) h_1)
            q, h1 = torch.sigmoid(f_pos), torch.sigmoid(self._logits(self.dp_user, self.dp_item, users, pos_items))
            weights = q / (q + (1 - q) * h1)
        stats = {"phase_dn": torch.tensor(float(phase == "DN")), "noise_rate_pos": h1.mean()}
        return loss, pos_terms + neg_terms.mean(-1), weights, stats

    def _bound(self, users, pos_items, neg_items, f_pos, f_neg):
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
        with torch.no_grad():  # P(r=1 | y=1) under the backbone: the diagnostics' clean weight
            real = torch.sigmoid(f_pos) * math.exp(self.log_eta1)
            weights = real / (real + torch.sigmoid(-f_pos) * torch.sigmoid(n_pos))
        return per_example.mean(), per_example, weights, {"noise_rate_pos": torch.sigmoid(n_pos.detach()).mean()}

    def forward(self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        users, pos_items = batch.users, batch.pos_items
        neg_items = batch.neg_items.reshape(len(batch), -1)  # [B, n]
        f_pos, f_neg = pair_scores(user_emb, item_emb, users, pos_items), pair_scores(user_emb, item_emb, users, neg_items)
        if self.objective == "reference":
            loss, per_example, weights, extra = self._reference(users, pos_items, neg_items, f_pos, f_neg, step)
        else:
            loss, per_example, weights, extra = self._bound(users, pos_items, neg_items, f_pos, f_neg)
        stats = {"loss": loss.detach(), **extra}
        if self.reg_weight > 0:
            reg = self.reg_weight * embedding_l2(model, batch)
            if self.objective == "bound":
                reg = reg + self.reg_weight * l2_penalty(self.aux_user(users), self.aux_item(pos_items), self.aux_item(neg_items), batch_size=len(batch))
                if self.noise_model == "learned":
                    reg = reg + self.reg_weight * l2_penalty(self.noise_user(users), self.noise_item(pos_items), self.noise_item(neg_items), batch_size=len(batch))
            loss = loss + reg
            stats["reg"] = reg.detach()
        return LossOutput(loss, per_example.detach(), weights, stats)
