r"""Early-learning regularisation (Liu et al., "Early-Learning Regularization Prevents
Memorization of Noisy Labels", NeurIPS 2020) for implicit feedback.

Each training interaction keeps a running average :math:`t` of the probability the model gives
it (a temporal ensemble of its early predictions); the ELR term pulls the current probability
:math:`p` towards the side of 1/2 the target is on, so interactions the model found
implausible early (likely noise) are not memorised later:

.. math::
    t_r \leftarrow \beta t_r + (1 - \beta)\, p_r, \qquad
    \mathcal{L} = \frac{1}{B}\sum_r \ell_r + \frac{\lambda}{B} \sum_r \log\big(1 - \langle \mathbf{p}_r, \mathbf{t}_r\rangle\big),
    \qquad \langle \mathbf{p}, \mathbf{t}\rangle = p t + (1 - p)(1 - t)

with the binary "class" vectors :math:`\mathbf{p} = (p, 1-p)` and :math:`p_r = e^{-\ell_r}` the
model's likelihood of the row's labels (:math:`\sigma(\hat y_{ui} - \hat y_{uj})` for BPR with one negative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError
from ...losses.objective import PairwiseObjective
from ...samplers import UniformSampler
from ..registry import MethodContext, MethodParts, register_method
from .scores import detection_auc

__all__ = ["ELROptions", "ELRReducer", "ELRObjective"]

EPS = 1e-4  # the reference code clamps probabilities to [1e-4, 1 - 1e-4]


@dataclass(frozen=True)
class ELROptions:
    """Options of ``elr``.

    Attributes:
        lam: :math:`\\lambda`, weight of the ELR term (3 in the paper's CIFAR-10 setting).
        beta: :math:`\\beta`, momentum of the target's running average (0.7 in the paper).
        loss: ``"bpr"`` or ``"bce"``.
        num_negatives: negatives per positive.
    """

    lam: float = 3.0
    beta: float = 0.7
    loss: str = "bpr"
    num_negatives: int = 1


class ELRReducer(nn.Module):
    r"""Mean loss + the ELR term over per-interaction targets (a reducer of :class:`PairwiseObjective`).

    The probability of a row is the model's likelihood of the example's labels,
    :math:`p_r = e^{-\ell_r}`: :math:`\sigma(\hat y_{ui} - \hat y_{uj})` for BPR with one negative
    (the geometric mean over negatives with several), :math:`\sigma(\hat y_{ui})\prod_j(1 - \sigma(\hat y_{uj}))^{1/n}`
    for BCE. Targets ``[N]`` and which rows were seen are buffers, so they are checkpointed with
    the objective. A target starts at the row's first probability (the paper starts at 0, which in
    the binary case would push every positive down on its first visit).

    Args:
        num_interactions: ``N``, the rows ``batch.rows`` index into.
        lam, beta: see :class:`ELROptions`.
        is_noise: optional ``bool [N]`` labels, only for :meth:`summary`.

    Shapes:
        losses ``[B]``, batch.rows ``[B]`` (required) -> scalar.
    """

    def __init__(self, num_interactions: int, lam: float = 3.0, beta: float = 0.7, is_noise: Optional[np.ndarray] = None):
        super().__init__()
        if lam < 0:
            raise ConfigError(f"option lam must be >= 0, got {lam!r}")
        if not 0.0 <= beta < 1.0:
            raise ConfigError(f"option beta must be in [0, 1), got {beta!r}")
        self.lam, self.beta = lam, beta
        self.is_noise = is_noise
        self.register_buffer("targets", torch.zeros(num_interactions))
        self.register_buffer("seen", torch.zeros(num_interactions, dtype=torch.bool))

    def forward(self, losses: torch.Tensor, batch, step: int, pos_scores: torch.Tensor):
        if batch.rows is None:
            raise ConfigError("ELR needs batch.rows (the training row of each positive): use a sampler that sets them")
        p = torch.exp(-losses).clamp(EPS, 1 - EPS)
        with torch.no_grad():
            rows, fresh = batch.rows, p.detach()
            target = torch.where(self.seen[rows], self.beta * self.targets[rows] + (1 - self.beta) * fresh, fresh)
            self.targets[rows] = target
            self.seen[rows] = True
        agreement = p * target + (1 - p) * (1 - target)
        return losses.mean() + self.lam * torch.log((1 - agreement).clamp_min(EPS * EPS)).mean(), None

    def summary(self) -> dict:
        """``lam``, ``beta``, rows seen and, with labels, ``detection_auc`` of ``1 - target``."""
        out = {"method": "elr", "lam": self.lam, "beta": self.beta, "num_seen": int(self.seen.sum())}
        if self.is_noise is not None and bool(self.seen.any()):
            noisy = torch.from_numpy(self.is_noise).to(self.seen.device)[self.seen]
            out["detection_auc"] = detection_auc(1 - self.targets[self.seen], noisy)
        return out


class ELRObjective(PairwiseObjective):
    """:class:`PairwiseObjective` with an :class:`ELRReducer`; ``summary()`` is the reducer's."""

    def __init__(self, num_interactions: int, loss: str = "bpr", reg_weight: float = 1e-4, lam: float = 3.0, beta: float = 0.7, is_noise: Optional[np.ndarray] = None):
        super().__init__(loss, reg_weight, reducer=ELRReducer(num_interactions, lam, beta, is_noise))

    def summary(self) -> dict:
        return self.reducer.summary()


@register_method("elr", ELROptions)
def build_elr(options: ELROptions, ctx: MethodContext) -> MethodParts:
    """ELR (Liu et al., NeurIPS 2020): keep each interaction's probability near its early running average."""
    sampler = UniformSampler(ctx.train, batch_size=ctx.batch_size, num_negatives=options.num_negatives, device=ctx.device, seed=ctx.seed)
    objective = ELRObjective(len(ctx.train), options.loss, ctx.reg_weight, options.lam, options.beta, ctx.train.is_noise)
    return MethodParts(sampler, objective)
