r"""DCF: Double Correction Framework (He et al., "Double Correction Framework for Denoising
Recommendation", KDD 2024).

Implemented from the paper's description as remembered, **not checked against the authors'
code** (no network access while writing it; see ``docs/results/honest.md``). Two corrections:

*Sample dropping, corrected for variance.* A single epoch's loss is a noisy signal of
whether an interaction is noisy. DCF keeps each interaction's loss over the last ``W``
epochs (:class:`~recdenoise.losses.memory.LossMemory`), damps extreme values, and drops an
interaction only when a *lower confidence bound* of its loss is among the batch's largest:

.. math::
    \tilde\mu_r = \frac{1}{n_r}\sum_{k=1}^{n_r} \psi(\ell_r^{(k)}), \qquad
    \psi(x) = \log\left(1 + x + \tfrac{x^2}{2}\right) \;\text{(damping, Catoni's influence function)}

.. math::
    \mathrm{LB}_r = \tilde\mu_r - \sqrt{\frac{2\, \hat v_r \log(2/\delta)}{n_r}}

with :math:`\hat v_r` the sample variance of the damped losses and :math:`n_r \le W` the losses
stored. The :math:`\lfloor \epsilon(t) B \rfloor` examples of the batch with the largest
:math:`\mathrm{LB}_r` are dropped, :math:`\epsilon(t)` ramping linearly like T-CE's.

*Progressive label correction.* Of the dropped examples, the
:math:`\lfloor \rho(t) B \rfloor` with the largest bound (the most confidently noisy) are not
just dropped but relabelled as negatives, :math:`\rho(t)` ramping to ``max_relabel_rate``:

.. math::
    \ell'_{ui} = -\log(1 - \sigma(\hat y_{ui})) - \tfrac{1}{n}\textstyle\sum_j \log(1-\sigma(\hat y_{uj}))
    \;\text{(BCE)}, \qquad \ell'_{uij} = -\log\sigma(\hat y_{ui} - \hat y_{uj}) \;\text{(BPR, the pair reversed)}

.. math::
    \mathcal{L} = \frac{\sum_{r \in K} \ell_r + \sum_{r \in R} \ell'_r}{|K| + |R|}

(``K`` kept, ``R`` relabelled). The ranking loss stored is the positive's BCE term
:math:`-\log\sigma(\hat y_{ui})` for ``loss="bce"`` (as T-CE) and the triple's BPR loss for ``"bpr"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..types import TripletBatch
from .denoising import drop_rate_schedule
from .memory import LossMemory
from .objective import LossOutput, PairwiseObjective

__all__ = ["DCFOptions", "DCFObjective", "damping", "confidence_lower_bound"]

_DAMPING = ("catoni", "none")


@dataclass(frozen=True)
class DCFOptions:
    """Options of DCF (``--method dcf``): the one place their defaults live.

    Attributes:
        loss: ``"bce"`` (the paper's pointwise setting) or ``"bpr"``.
        max_drop_rate: :math:`\\epsilon_{max}` of the drop ramp.
        gradual_epochs: epochs for the drop and relabel ramps to reach their maxima.
        window: epochs of loss memory :math:`W` per interaction.
        delta: :math:`\\delta` of the confidence bound (smaller: more conservative dropping).
        damping: ``"catoni"`` (:math:`\\psi` above) or ``"none"``.
        max_relabel_rate: :math:`\\rho_{max}`, share of the batch relabelled as negatives at
            the end of the ramp (at most ``max_drop_rate``; 0 = dropping only).
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    max_drop_rate: float = 0.2
    gradual_epochs: int = 10
    window: int = 5
    delta: float = 0.1
    damping: str = "catoni"
    max_relabel_rate: float = 0.05
    num_negatives: int = 1


def damping(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\psi(x) = \operatorname{sign}(x)\log(1 + |x| + x^2/2)`: grows like :math:`\log x`, so a few
    huge losses cannot dominate the mean."""
    return torch.sign(x) * torch.log1p(x.abs() + 0.5 * x * x)


def confidence_lower_bound(memory: LossMemory, rows: torch.Tensor, delta: float, damped: bool = True) -> torch.Tensor:
    r"""``[B]`` :math:`\mathrm{LB}_r = \tilde\mu_r - \sqrt{2 \hat v_r \log(2/\delta) / n_r}` of the stored losses."""
    transform = damping if damped else None
    n = memory.seen(rows).clamp_min(1).to(memory.values.dtype)
    mean = memory.mean(rows, transform)
    var = memory.variance(rows, transform)
    return mean - torch.sqrt(2.0 * var * math.log(2.0 / delta) / n)


class DCFObjective(PairwiseObjective):
    """DCF over (user, positive, negatives) triples; needs ``batch.rows`` (every built-in sampler sets them).

    Args:
        num_rows: training interactions ``N`` (the memory's rows).
        loss, max_drop_rate, window, delta, damping, max_relabel_rate: see :class:`DCFOptions`.
        num_gradual: optimiser steps of the drop / relabel ramps.
        reg_weight: L2 weight on the batch's layer-0 embeddings.
        device: where the loss memory lives.

    Shapes:
        forward(...) -> :class:`LossOutput` with per_example ``[B]`` and weights ``[B]`` (1 kept, 0 dropped or relabelled).
    """

    def __init__(
        self, num_rows: int, *, loss: str = DCFOptions.loss, max_drop_rate: float = DCFOptions.max_drop_rate,
        num_gradual: int = 1000, window: int = DCFOptions.window, delta: float = DCFOptions.delta,
        damping: str = DCFOptions.damping, max_relabel_rate: float = DCFOptions.max_relabel_rate,
        reg_weight: float = 1e-4, device: torch.device | str = "cpu",
    ):  # fmt: skip
        super().__init__(loss, reg_weight)
        if not 0.0 <= max_drop_rate < 1.0:
            raise ConfigError(f"dcf: option max_drop_rate must be in [0, 1), got {max_drop_rate!r}")
        if not 0.0 <= max_relabel_rate <= max_drop_rate:
            raise ConfigError(f"dcf: option max_relabel_rate must be in [0, max_drop_rate={max_drop_rate}], got {max_relabel_rate!r}")
        if not 0.0 < delta < 1.0:
            raise ConfigError(f"dcf: option delta must be in (0, 1), got {delta!r}")
        if damping not in _DAMPING:
            raise ConfigError(f"dcf: option damping must be one of {list(_DAMPING)}, got {damping!r}")
        if not isinstance(num_gradual, int) or num_gradual < 1:
            raise ConfigError(f"dcf: num_gradual must be a positive integer, got {num_gradual!r}")
        self.max_drop_rate, self.max_relabel_rate, self.num_gradual = float(max_drop_rate), float(max_relabel_rate), num_gradual
        self.delta, self.damping = float(delta), damping
        self.memory = LossMemory(num_rows, window, device)

    def forward(self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        if batch.rows is None:
            raise ConfigError("dcf needs batch.rows (the training row of each positive); use a built-in sampler")
        pos, neg = self.scores(user_emb, item_emb, batch)
        per_example = self.loss_fn(pos, neg)
        ranking = F.softplus(-pos.detach()) if self.loss_name == "bce" else per_example.detach()
        self.memory.update(batch.rows, ranking)
        bound = confidence_lower_bound(self.memory, batch.rows, self.delta, self.damping == "catoni")
        size = per_example.shape[0]
        num_drop = int(drop_rate_schedule(step, self.max_drop_rate, self.num_gradual) * size)
        num_relabel = min(num_drop, int(drop_rate_schedule(step, self.max_relabel_rate, self.num_gradual) * size))
        order = torch.argsort(bound, descending=True, stable=True)
        weights = torch.ones_like(per_example)
        weights[order[:num_drop]] = 0.0
        relabelled = torch.zeros_like(per_example)
        relabelled[order[:num_relabel]] = 1.0
        if self.loss_name == "bce":  # softplus(x) - softplus(-x) = x: the positive's term with label 0
            flipped = per_example + pos
        else:
            flipped = F.softplus(pos.unsqueeze(-1) - neg).mean(-1) if neg.dim() == 2 else F.softplus(pos - neg)
        total = (weights * per_example).sum() + (relabelled * flipped).sum()
        loss = total / (weights.sum() + relabelled.sum()).clamp_min(1.0)
        stats = {"loss": loss.detach(), "drop_rate": torch.tensor(num_drop / size), "relabel_rate": torch.tensor(num_relabel / size)}
        return LossOutput(self.regularised(loss, model, batch, stats), per_example.detach(), weights, stats)

    def state_dict_extra(self) -> dict:
        return self.memory.state_dict()

    def load_state_dict_extra(self, state: dict) -> None:
        self.memory.load_state_dict(state)
