r"""DCF: Double Correction Framework (He et al., "Double Correction Framework for Denoising
Recommendation", KDD 2024).

Checked against the authors' code (``bruno686/DCF``, ``loss.py::PLC_uncertain_discard`` and
``main.py``) and its copy in the RecSys 2025 benchmark (``bachml/EvalDenoisingRec``,
``code/loss.py``); see ``docs/methods.md``. The defaults follow that code.

*Pointwise elements.* As in T-CE's reference, a batch of ``B`` triples with ``n`` negatives is
``N = B(1 + n)`` BCE elements ranked by ``loss * label`` (a negative ranks 0 and is never dropped).

*Sample dropping, corrected over time* (``bound="reference"``). Each positive row keeps a running
mean of its damped loss, :math:`\psi(x) = \log(1 + x + x^2/2)`, reset every ``time_step`` epochs:

.. math::
    \bar\ell_r^{(e)} = \frac{s\, \bar\ell_r^{(e-1)} + \psi(\ell_r)}{s + 1}, \qquad s = e + 1, \qquad
    \bar\ell_r^{(e-1)} = 0 \text{ at a reset epoch}

and is ranked by the lower bound

.. math::
    \mathrm{LB}_r = \max\Bigl(0,\ \bar\ell_r - \frac{\lambda_e\,(s + \lambda_e \log(2s) / s^2)}{(n_r + 1) - \lambda_e}\Bigr),
    \qquad \lambda_e = \lambda \Bigl(1 - \frac{e}{E - 1}\Bigr)

(:math:`\lambda` = ``co_lambda``, decaying linearly to 0 over ``co_lambda_epochs`` = :math:`E`;
:math:`n_r` = 1 + the epochs since the reset in which the row was *not* in the top slice).
``bound="variance"`` is the library's earlier reading of the paper: the damped mean of the last
``window`` epochs minus :math:`\sqrt{2 \hat v_r \log(2/\delta) / n_r}` (:func:`confidence_lower_bound`).

The :math:`N - \lfloor (1 - \epsilon(t)) N \rfloor` elements with the largest bound are dropped
(:math:`\epsilon(t)` ramps as T-CE's, :func:`~recdenoise.losses.denoising.drop_rate_schedule`).

*Progressive label correction.* Of the dropped, the :math:`N - \lfloor (1 - r\,\epsilon(t)) N \rfloor`
with the largest bound (``relabel_ratio`` = :math:`r`, a share *of the dropped*) come back:
``relabel="keep"`` (the authors' code) trains them with their observed label 1 -- the code reads
the labels again from the unchanged training matrix, so the paper's relabelling is a no-op
there; ``relabel="negative"`` (the paper's text) trains them with label 0,
:math:`-\log(1 - \sigma(\hat y_{ui}))`. The loss is the mean over the elements trained.

``granularity="triple"`` (the only one for ``loss="bpr"``) ranks and drops whole triples and,
with ``max_relabel_rate`` set, relabels a ramped share of the batch as before this check.
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

__all__ = ["DCFObjective", "DCFOptions", "confidence_lower_bound", "damping", "reference_lower_bound"]

_CHOICES = {"damping": ("catoni", "none"), "bound": ("reference", "variance"), "relabel": ("keep", "negative"), "granularity": ("element", "triple")}


@dataclass(frozen=True)
class DCFOptions:
    """Options of DCF (``--method dcf``): the one place their defaults live (the authors' ``main.py``).

    Attributes:
        loss: ``"bce"`` (the paper's pointwise setting) or ``"bpr"`` (needs ``granularity="triple"``).
        granularity: ``"element"`` (the authors' code: BCE elements, a negative is never dropped)
            or ``"triple"``.
        max_drop_rate: :math:`\\epsilon_{max}` of the drop ramp (``drop_rate`` 0.2).
        gradual_epochs: epochs for the drop ramp to reach its maximum (the code counts
            ``num_gradual`` steps: 30000 by default, 3500 in the benchmark's ML-100K configs).
        bound: ``"reference"`` (the code's running mean and :math:`\\lambda` bound) or ``"variance"``.
        co_lambda: :math:`\\lambda` (``co_lambda``, 1e-4; the benchmark uses 0 or 1e-4 on ML-100K).
        co_lambda_epochs: epochs over which :math:`\\lambda` decays linearly to 0 (the code: the run's epochs, 10).
        time_step: epochs between resets of the running mean (``time_step``, 3; benchmark: 1).
        window, delta: memory length and :math:`\\delta` of ``bound="variance"``.
        damping: ``"catoni"`` (:math:`\\psi`) or ``"none"``.
        relabel_ratio: share of the dropped elements with the largest bound that are relabelled (0.05).
        relabel: ``"keep"`` (the code: trained with the observed label) or ``"negative"`` (the paper).
        max_relabel_rate: ``granularity="triple"`` only: a share of the *batch* relabelled at the
            end of a ramp (the library's earlier reading; ``None``: ``relabel_ratio`` of the dropped).
        num_negatives: negatives per positive.
    """

    loss: str = "bce"
    granularity: str = "element"
    max_drop_rate: float = 0.2
    gradual_epochs: int = 10
    bound: str = "reference"
    co_lambda: float = 1e-4
    co_lambda_epochs: int = 10
    time_step: int = 3
    window: int = 5
    delta: float = 0.1
    damping: str = "catoni"
    relabel_ratio: float = 0.05
    relabel: str = "keep"
    max_relabel_rate: float | None = None
    num_negatives: int = 1


def damping(x: torch.Tensor) -> torch.Tensor:
    r""":math:`\psi(x) = \operatorname{sign}(x)\log(1 + |x| + x^2/2)`: grows like :math:`\log x`, so a few
    huge losses cannot dominate the mean (the code's ``soft_process`` on losses :math:`\ge 0`)."""
    return torch.sign(x) * torch.log1p(x.abs() + 0.5 * x * x)


def confidence_lower_bound(memory: LossMemory, rows: torch.Tensor, delta: float, damped: bool = True) -> torch.Tensor:
    r"""``[B]`` :math:`\mathrm{LB}_r = \tilde\mu_r - \sqrt{2 \hat v_r \log(2/\delta) / n_r}` of the stored losses."""
    transform = damping if damped else None
    n = memory.seen(rows).clamp_min(1).to(memory.values.dtype)
    mean = memory.mean(rows, transform)
    var = memory.variance(rows, transform)
    return mean - torch.sqrt(2.0 * var * math.log(2.0 / delta) / n)


def reference_lower_bound(mean: torch.Tensor, count: torch.Tensor, epoch: int, co_lambda: float) -> torch.Tensor:
    r"""``[B]`` :math:`\max(0, \bar\ell - \lambda (s + \lambda \log(2s)/s^2) / ((n + 1) - \lambda))`, :math:`s = e + 1`
    (the code's ``confidence_bound``; ``co_lambda`` is :math:`\lambda_e`, already decayed)."""
    s = float(epoch + 1)
    bound = co_lambda * (s + co_lambda * math.log(2.0 * s) / (s * s)) / ((count.to(mean.dtype) + 1.0) - co_lambda)
    return F.relu(mean - bound)


class DCFObjective(PairwiseObjective):
    """DCF over (user, positive, negatives) triples; needs ``batch.rows`` (every built-in sampler sets them).

    Args:
        num_rows: training interactions ``N`` (the memory's rows).
        num_gradual: optimiser steps of the drop ramp.
        steps_per_epoch: optimiser steps per epoch (the running mean is updated per epoch).
        loss, granularity, max_drop_rate, bound, co_lambda, co_lambda_epochs, time_step, window,
            delta, damping, relabel_ratio, relabel, max_relabel_rate: see :class:`DCFOptions`.
        reg_weight: L2 weight on the batch's layer-0 embeddings.
        device: where the loss memory lives.

    Shapes:
        forward(...) -> :class:`LossOutput` with per_example ``[B]`` and weights ``[B]``
        (1 trained as a positive, 0 dropped or relabelled as a negative).
    """

    def __init__(
        self, num_rows: int, *, loss: str = DCFOptions.loss, granularity: str = DCFOptions.granularity,
        max_drop_rate: float = DCFOptions.max_drop_rate, num_gradual: int = 1000, steps_per_epoch: int = 1,
        bound: str = DCFOptions.bound, co_lambda: float = DCFOptions.co_lambda, co_lambda_epochs: int = DCFOptions.co_lambda_epochs,
        time_step: int = DCFOptions.time_step, window: int = DCFOptions.window, delta: float = DCFOptions.delta,
        damping: str = DCFOptions.damping, relabel_ratio: float = DCFOptions.relabel_ratio, relabel: str = DCFOptions.relabel,
        max_relabel_rate: float | None = DCFOptions.max_relabel_rate, reg_weight: float = 1e-4, device: torch.device | str = "cpu",
    ):  # fmt: skip
        super().__init__(loss, reg_weight)
        for name, value in (("damping", damping), ("bound", bound), ("relabel", relabel), ("granularity", granularity)):
            if value not in _CHOICES[name]:
                raise ConfigError(f"dcf: option {name} must be one of {list(_CHOICES[name])}, got {value!r}")
        if loss == "bpr" and granularity == "element":
            raise ConfigError("dcf: loss='bpr' has no elements; set granularity='triple'")
        if not 0.0 <= max_drop_rate < 1.0:
            raise ConfigError(f"dcf: option max_drop_rate must be in [0, 1), got {max_drop_rate!r}")
        if not 0.0 <= relabel_ratio <= 1.0:
            raise ConfigError(f"dcf: option relabel_ratio must be in [0, 1], got {relabel_ratio!r}")
        if max_relabel_rate is not None and (granularity != "triple" or not 0.0 <= max_relabel_rate <= max_drop_rate):
            raise ConfigError(f"dcf: option max_relabel_rate needs granularity='triple' and a value in [0, max_drop_rate={max_drop_rate}], got {max_relabel_rate!r}")
        if not 0.0 < delta < 1.0:
            raise ConfigError(f"dcf: option delta must be in (0, 1), got {delta!r}")
        if not co_lambda >= 0.0:
            raise ConfigError(f"dcf: option co_lambda must be >= 0, got {co_lambda!r}")
        for name, value in (("time_step", time_step), ("co_lambda_epochs", co_lambda_epochs), ("num_gradual", num_gradual)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"dcf: option {name} must be a positive integer, got {value!r}")
        self.granularity, self.bound, self.relabel, self.damping = granularity, bound, relabel, damping
        self.max_drop_rate, self.num_gradual, self.steps_per_epoch = float(max_drop_rate), num_gradual, max(1, int(steps_per_epoch))
        self.relabel_ratio, self.max_relabel_rate = float(relabel_ratio), max_relabel_rate
        self.co_lambda, self.co_lambda_epochs, self.time_step, self.delta = float(co_lambda), co_lambda_epochs, time_step, float(delta)
        self.memory = LossMemory(num_rows, window, device)
        # bound="reference": last epoch's running mean, this epoch's, n_r, and "not in the top slice this epoch"
        self.previous, self.current = torch.zeros(num_rows, device=device), torch.zeros(num_rows, device=device)
        self.count, self.below = torch.ones(num_rows, device=device), torch.zeros(num_rows, dtype=torch.bool, device=device)
        self.epoch = -1

    def _start_epoch(self, epoch: int) -> None:
        """The code's end-of-epoch bookkeeping, then its reset every ``time_step`` epochs."""
        if self.epoch >= 0:
            self.previous, self.count = self.current.clone(), self.count + self.below.to(self.count.dtype)
        if epoch % self.time_step == 0:
            self.previous.zero_()
            self.count.fill_(1.0)
        self.below.zero_()
        self.epoch = epoch

    def lower_bound(self, rows: torch.Tensor, losses: torch.Tensor, step: int) -> torch.Tensor:
        """``[B]`` the bound each positive is ranked by, after storing this step's ``losses [B]``."""
        if self.bound == "variance":
            self.memory.update(rows, losses)
            return confidence_lower_bound(self.memory, rows, self.delta, self.damping == "catoni")
        epoch = step // self.steps_per_epoch
        if epoch != self.epoch:
            self._start_epoch(epoch)
        s = float(epoch + 1)
        damped = damping(losses) if self.damping == "catoni" else losses
        mean = (self.previous[rows] * s + damped) / (s + 1.0)
        self.current[rows] = mean
        decay = 1.0 - epoch / (self.co_lambda_epochs - 1) if self.co_lambda_epochs > 1 else 1.0
        return reference_lower_bound(mean, self.count[rows], epoch, self.co_lambda * max(decay, 0.0))

    def forward(self, model, user_emb: torch.Tensor, item_emb: torch.Tensor, batch: TripletBatch, step: int, graph=None) -> LossOutput:
        if batch.rows is None:
            raise ConfigError("dcf needs batch.rows (the training row of each positive); use a built-in sampler")
        pos, neg = self.scores(user_emb, item_emb, batch)
        per_example = self.loss_fn(pos, neg)
        ranking = F.softplus(-pos.detach()) if self.loss_name == "bce" else per_example.detach()
        bound = self.lower_bound(batch.rows, ranking, step)
        order = torch.argsort(bound, descending=True, stable=True)
        eps, size = drop_rate_schedule(step, self.max_drop_rate, self.num_gradual), per_example.shape[0]
        if self.granularity == "element":
            neg = neg.reshape(size, -1)
            pos_terms, neg_terms, elements = F.softplus(-pos), F.softplus(neg), size + neg.numel()
            num_drop = min(elements - int((1.0 - eps) * elements), size - 1)
            num_relabel = min(elements - int((1.0 - self.relabel_ratio * eps) * elements), num_drop)
        else:
            pos_terms, neg_terms = per_example, per_example.new_zeros(0)
            num_drop = size - int((1.0 - eps) * size)
            rate = self.relabel_ratio * eps if self.max_relabel_rate is None else drop_rate_schedule(step, self.max_relabel_rate, self.num_gradual)
            num_relabel = min(num_drop, size - int((1.0 - rate) * size))
        weights = torch.ones_like(per_example)
        weights[order[:num_drop]] = 0.0
        back = torch.zeros_like(per_example)
        back[order[:num_relabel]] = 1.0
        if self.relabel == "keep":
            returned = pos_terms
        elif self.granularity == "element" or self.loss_name == "bce":  # softplus(x) - softplus(-x) = x: label 0
            returned = pos_terms + pos
        else:
            returned = F.softplus(pos.unsqueeze(-1) - neg).mean(-1) if neg.dim() == 2 else F.softplus(pos - neg)
        self.below[batch.rows] = back == 0
        total = (weights * pos_terms).sum() + neg_terms.sum() + (back * returned).sum()
        loss = total / (weights.sum() + neg_terms.numel() + back.sum()).clamp_min(1.0)
        if self.relabel == "keep":
            weights = weights + back  # trained with their observed label
        stats = {"loss": loss.detach(), "drop_rate": torch.tensor(num_drop / size), "relabel_rate": torch.tensor(num_relabel / size)}
        return LossOutput(self.regularised(loss, model, batch, stats), per_example.detach(), weights, stats)

    def state_dict_extra(self) -> dict:
        state = self.memory.state_dict()
        state.update(previous=self.previous, current=self.current, sn=self.count, below=self.below, epoch=torch.tensor(self.epoch))
        return state

    def load_state_dict_extra(self, state: dict) -> None:
        self.memory.load_state_dict(state)
        if "previous" in state:
            device = self.previous.device
            self.previous, self.current, self.count, self.below = (state[k].to(device) for k in ("previous", "current", "sn", "below"))
            self.epoch = int(state["epoch"])
