r"""UDT: user-level denoising with per-user temperatures, as run by the RecSys 2025 benchmark
(``bachml/EvalDenoisingRec``, ``code/main.py``, method ``UDT``; see ``docs/methods.md``).

Checked against that code; ``weighting="reference"`` (the default) follows it. The benchmark's
loss is pointwise BCE over the ``B(1 + n)`` elements of a batch. During epoch :math:`e` it
accumulates each user's summed element loss :math:`L_u` and each positive's last loss
:math:`\ell_{ui}`; at the end of the epoch the users are sorted by :math:`L_u / n_u`
(:math:`n_u` = the user's training positives), and the user of rank :math:`k` (0 = smallest)
among :math:`U` gets a temperature and a factor, both linear in the rank:

.. math::
    \tau_u = \tau_{lo} + (\tau_{hi} - \tau_{lo}) \frac{k}{U - 1}, \qquad
    f_u = f_{lo} + (f_{hi} - f_{lo}) \frac{k}{U - 1}

In epoch :math:`e + 1` (from epoch ``warmup`` on; before it every weight is 1) a positive and a
negative of user :math:`u` are weighted

.. math::
    \omega_{ui} = f_u\, n_u \frac{\exp(-\ell_{ui} / \tau_u)}{\sum_{j \in u} \exp(-\ell_{uj} / \tau_u)}, \qquad
    \omega_{uj}^- = f_u

and the loss is :math:`\frac{1}{N}\bigl(\sum \omega_{ui} \ell_{ui} + \sum \omega^-_{uj} \ell^-_{uj}\bigr)`
(not normalised by the weights). With the defaults (:math:`f` from 0.5 to 0) the users with the
largest mean loss are switched off entirely and a user's large-loss positives are down-weighted
within the user. For ``loss="bpr"`` the positive's weight multiplies the triple's loss.

``weighting="rank"`` is the library's earlier reconstruction (before the code could be read):
an EMA of each row's loss, ranked within its user, weighted :math:`\exp(-q/\tau)` and normalised
to mean 1 per user (:func:`user_rank_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..types import TripletBatch
from .objective import LossOutput, PairwiseObjective

__all__ = ["UDTObjective", "UDTOptions", "user_rank_weights", "user_temperature_weights"]


@dataclass(frozen=True)
class UDTOptions:
    """Options of UDT (``--method udt``): the one place their defaults live (the benchmark's ML-100K configs).

    Attributes:
        loss: ``"bce"`` (the benchmark: pointwise elements) or ``"bpr"``.
        weighting: ``"reference"`` (the benchmark's code) or ``"rank"`` (the earlier reconstruction).
        min_temperature, max_temperature: :math:`\\tau` of the user with the smallest / largest
            mean loss (``temp1`` 0.1 for LightGCN, 0.2 for NeuMF; ``temp2`` 0.5).
        low_loss_factor, high_loss_factor: :math:`f` of those two users (``userfact1`` 0.5, ``userfact2`` 0).
        warmup: epochs of unweighted training before weighting starts (the code: 2).
        tau, momentum: temperature and EMA of ``weighting="rank"``.
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    weighting: str = "reference"
    min_temperature: float = 0.1
    max_temperature: float = 0.5
    low_loss_factor: float = 0.5
    high_loss_factor: float = 0.0
    warmup: int = 2
    tau: float = 0.5
    momentum: float = 0.9
    num_negatives: int = 1


def user_rank_weights(users: torch.Tensor, losses: torch.Tensor, tau: float, num_users: int) -> torch.Tensor:
    r"""``weighting="rank"``: :math:`\exp(-q_r/\tau)` of each row's within-user loss rank
    :math:`q_r \in [0, 1]`, normalised to mean 1 per user; vectorised (two stable sorts, no user loop).

    Shapes:
        users ``[N]`` (long), losses ``[N]`` -> weights ``[N]`` (mean 1 within every user).
    """
    order = torch.argsort(losses, stable=True)
    order = order[torch.argsort(users[order], stable=True)]  # by user, then by loss
    counts = torch.bincount(users, minlength=num_users)
    starts = torch.cumsum(counts, 0) - counts
    sorted_users = users[order]
    rank = torch.arange(users.shape[0], device=users.device) - starts[sorted_users]
    q = rank.to(losses.dtype) / (counts[sorted_users] - 1).clamp_min(1).to(losses.dtype)
    raw = torch.exp(-q / tau)
    user_mean = torch.zeros(num_users, dtype=losses.dtype, device=losses.device).index_add_(0, sorted_users, raw)
    user_mean = user_mean / counts.clamp_min(1).to(losses.dtype)
    weights = torch.empty_like(raw)
    weights[order] = raw / user_mean[sorted_users]
    return weights


def user_temperature_weights(
    users: torch.Tensor, row_losses: torch.Tensor, user_losses: torch.Tensor, num_users: int,
    temperatures: tuple[float, float], factors: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    r"""``weighting="reference"``: the positives' :math:`\omega_{ui}` and the users' :math:`f_u` (module docstring).

    Args:
        users: ``long [N]`` user of every training row; row_losses: ``[N]`` each positive's last loss.
        user_losses: ``[U]`` each user's summed element loss over the epoch.
        temperatures, factors: :math:`(\tau_{lo}, \tau_{hi})`, :math:`(f_{lo}, f_{hi})`.

    Shapes:
        -> (row weights ``[N]``, user factors ``[U]``).
    """
    counts = torch.bincount(users, minlength=num_users).to(row_losses.dtype)
    ranked = torch.argsort(user_losses / counts, stable=True)  # smallest mean loss first
    tau, factor = torch.empty_like(user_losses), torch.empty_like(user_losses)
    tau[ranked] = torch.linspace(*temperatures, num_users, device=user_losses.device, dtype=user_losses.dtype)
    factor[ranked] = torch.linspace(*factors, num_users, device=user_losses.device, dtype=user_losses.dtype)
    logits = -row_losses / tau[users]
    peak = torch.full_like(user_losses, -torch.inf).scatter_reduce(0, users, logits, "amax")
    raw = torch.exp(logits - peak[users])
    total = torch.zeros_like(user_losses).index_add_(0, users, raw)
    return factor[users] * counts[users] * raw / total[users], factor


class UDTObjective(PairwiseObjective):
    """UDT over (user, positive, negatives) triples; needs ``batch.rows``.

    Args:
        users: ``long [N]`` user of every training row.
        num_users: ``U``.
        steps_per_epoch: optimiser steps per epoch (the weights are recomputed at each epoch start).
        loss, weighting, min_temperature, max_temperature, low_loss_factor, high_loss_factor,
            warmup, tau, momentum: see :class:`UDTOptions`.
        reg_weight: L2 weight on the batch's layer-0 embeddings.

    Shapes:
        forward(...) -> :class:`LossOutput` with per_example ``[B]`` and weights ``[B]`` (the positives').
    """

    def __init__(
        self, users: torch.Tensor, num_users: int, steps_per_epoch: int, *, loss: str = UDTOptions.loss,
        weighting: str = UDTOptions.weighting, min_temperature: float = UDTOptions.min_temperature,
        max_temperature: float = UDTOptions.max_temperature, low_loss_factor: float = UDTOptions.low_loss_factor,
        high_loss_factor: float = UDTOptions.high_loss_factor, tau: float = UDTOptions.tau,
        momentum: float = UDTOptions.momentum, warmup: int = UDTOptions.warmup, reg_weight: float = 1e-4,
    ):  # fmt: skip
        super().__init__(loss, reg_weight)
        if weighting not in ("reference", "rank"):
            raise ConfigError(f"udt: option weighting must be 'reference' or 'rank', got {weighting!r}")
        if not tau > 0:
            raise ConfigError(f"udt: option tau must be > 0, got {tau!r}")
        if not (min_temperature > 0 and max_temperature > 0):
            raise ConfigError(f"udt: options min_temperature and max_temperature must be > 0, got {min_temperature!r}, {max_temperature!r}")
        if not (low_loss_factor >= 0 and high_loss_factor >= 0):
            raise ConfigError(f"udt: options low_loss_factor and high_loss_factor must be >= 0, got {low_loss_factor!r}, {high_loss_factor!r}")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"udt: option momentum must be in [0, 1), got {momentum!r}")
        if not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f"udt: option warmup must be an integer >= 0, got {warmup!r}")
        self.weighting, self.tau, self.momentum, self.warmup = weighting, float(tau), float(momentum), warmup
        self.temperatures, self.factors = (float(min_temperature), float(max_temperature)), (float(low_loss_factor), float(high_loss_factor))
        self.steps_per_epoch, self.num_users = max(1, int(steps_per_epoch)), num_users
        self.users = users
        self.ema = torch.zeros(users.shape[0], device=users.device)  # rank: EMA; reference: last loss
        self.seen = torch.zeros(users.shape[0], dtype=torch.bool, device=users.device)
        self.row_weights = torch.ones(users.shape[0], device=users.device)
        self.user_loss = torch.zeros(num_users, device=users.device)
        self.user_factor = torch.ones(num_users, device=users.device)

    def _new_epoch(self, epoch: int) -> None:
        if self.weighting == "rank":
            if epoch >= self.warmup:
                self.row_weights = user_rank_weights(self.users, self.ema, self.tau, self.num_users)
            return
        if epoch >= 1:  # the code computes the factors at every epoch end and uses them from epoch `warmup` on
            self.row_weights, self.user_factor = user_temperature_weights(
                self.users, self.ema, self.user_loss, self.num_users, self.temperatures, self.factors
            )
        self.user_loss = torch.zeros_like(self.user_loss)

    def forward(self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        if batch.rows is None:
            raise ConfigError("udt needs batch.rows (the training row of each positive); use a built-in sampler")
        epoch = step // self.steps_per_epoch
        if step % self.steps_per_epoch == 0:
            self._new_epoch(epoch)
        pos, neg = self.scores(user_emb, item_emb, batch)
        per_example = self.loss_fn(pos, neg)
        rows, weighted = batch.rows, epoch >= self.warmup
        weights = self.row_weights[rows] if weighted else torch.ones_like(pos.detach())
        if self.weighting == "rank":
            current, old = per_example.detach(), self.ema[rows]
            self.ema[rows] = torch.where(self.seen[rows], self.momentum * old + (1 - self.momentum) * current, current)
            self.seen[rows] = True
            loss = (weights * per_example).mean()
        elif self.loss_name == "bce":
            neg = neg.reshape(len(batch), -1)
            pos_terms, neg_terms = F.softplus(-pos), F.softplus(neg)
            neg_weights = self.user_factor[batch.users].unsqueeze(1) if weighted else torch.ones_like(neg_terms)
            self.ema[rows] = pos_terms.detach()
            self.user_loss.index_add_(0, batch.users, pos_terms.detach() + neg_terms.detach().sum(-1))
            loss = ((weights * pos_terms).sum() + (neg_weights * neg_terms).sum()) / (pos.numel() + neg.numel())
        else:
            self.ema[rows] = per_example.detach()
            self.user_loss.index_add_(0, batch.users, per_example.detach())
            loss = (weights * per_example).mean()
        stats = {"loss": loss.detach()}
        return LossOutput(self.regularised(loss, model, batch, stats), per_example.detach(), weights.detach(), stats)

    def state_dict_extra(self) -> dict:
        keys = ("ema", "seen", "row_weights", "user_loss", "user_factor")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict_extra(self, state: dict) -> None:
        for k in ("ema", "seen", "row_weights", "user_loss", "user_factor"):
            if k in state:
                setattr(self, k, state[k].to(self.users.device))
