"""Model selection: which epoch a run reports, under several criteria at once.

The denoising benchmark of Zhang et al. ("Are We Really Making Recommendations Robust?
Revisiting Model Evaluation for Denoising Recommendation", RecSys 2025) shows that the
criterion that picks the epoch matters as much as the denoiser: validation is as noisy as
training for a user with real data. :class:`ModelSelection` tracks, at every evaluation,

- ``metric``: the validation ranking metric (``monitor``, e.g. ``recall@20``; higher is better),
  what the :class:`~recdenoise.training.Trainer` selects on;
- ``loss``: the mean validation loss :math:`\\frac{1}{N}\\sum_{(u,i)} \\ell_{ui}` (lower is better);
- ``trimmed_loss`` (the benchmark's ERM_RE): the mean validation loss after the
  :math:`\\lfloor \\rho N \\rfloor` largest per-positive losses are trimmed (:func:`trimmed_mean`),

where :math:`\\ell_{ui}` is the BPR (or BCE) loss of validation positive ``(u, i)`` against a fixed,
seeded set of ``n`` sampled negatives (never a training or validation positive of ``u``), drawn
once so every epoch is scored on the same pairs. Per criterion it keeps the best epoch and a
copy of the weights; the experiment then evaluates test once per criterion, so one run answers
"what would each criterion have picked". The criterion named ``primary`` is loaded into the
model at the end of training (the trainer itself restores the ``metric`` choice).

Given an ``evaluator``, the callback ranks on its *own* validation set instead of reading the
trainer's: a second, *shadow* instance on the noisy validation set of the same run answers
"what would each criterion have picked under the noisy protocol" without training twice (the
two protocols train on identical data with identical seeds, so their trajectories coincide).
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

import torch

from ..data.interactions import Interactions
from ..errors import ConfigError
from ..samplers.negative import NegativeSampler
from ..scoring import LOSSES, pair_scores
from .callbacks import Callback, EarlyStopping

__all__ = ["CRITERIA", "ModelSelection", "SelectionEarlyStopping", "trimmed_mean", "validation_losses", "criterion_score", "select_epochs"]

CRITERIA = ("metric", "loss", "trimmed_loss")


def trimmed_mean(losses: torch.Tensor, trim: float) -> torch.Tensor:
    r"""ERM_RE's trimmed mean: drop the :math:`\lfloor \rho N \rfloor` largest losses, average the rest.

    .. math::
        \bar\ell_\rho = \frac{1}{N - \lfloor \rho N \rfloor} \sum_{k=1}^{N - \lfloor \rho N \rfloor} \ell_{(k)}

    with :math:`\ell_{(1)} \le \dots \le \ell_{(N)}` the sorted losses (at least one is kept).

    Shapes:
        losses ``[N]`` -> scalar.
    """
    if not 0 <= trim < 1:
        raise ConfigError(f"trim must be in [0, 1), got {trim!r}")
    n = losses.numel()
    if n == 0:
        return losses.new_tensor(float("nan"))
    keep = max(1, n - int(trim * n))
    return torch.topk(losses.reshape(-1), keep, largest=False, sorted=False).values.mean()


@torch.no_grad()
def validation_losses(
    user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, pos_items: torch.Tensor, neg_items: torch.Tensor,
    loss: str = "bpr", chunk: int = 65536,
) -> torch.Tensor:  # fmt: skip
    r"""Per-positive validation loss :math:`\ell_{ui}` (BPR or BCE against the fixed negatives).

    Shapes:
        user_emb ``[U, D]``, item_emb ``[I, D]``, users ``[N]``, pos_items ``[N]``, neg_items
        ``[N, n]`` -> ``[N]`` (computed in chunks of ``chunk`` positives).
    """
    fn = LOSSES[loss]
    out = []
    for start in range(0, users.shape[0], chunk):
        u, p, n = users[start : start + chunk], pos_items[start : start + chunk], neg_items[start : start + chunk]
        out.append(fn(pair_scores(user_emb, item_emb, u, p), pair_scores(user_emb, item_emb, u, n)))
    return torch.cat(out) if out else user_emb.new_zeros(0)


def criterion_score(logs: Mapping, criterion: str, monitor: str) -> Optional[float]:
    """The higher-is-better score of ``criterion`` in one epoch's logs (``None``: not evaluated)."""
    if criterion == "metric":
        valid = logs.get("valid") or {}
        return valid.get(monitor)
    losses = logs.get("selection") or {}
    return None if criterion not in losses else -float(losses[criterion])


def select_epochs(history: Sequence[Mapping], monitor: str = "recall@20", criteria: Sequence[str] = CRITERIA) -> dict[str, Optional[int]]:
    """Epoch (1-based) each criterion picks from a run's history: the first epoch with the best score."""
    picked: dict[str, Optional[int]] = {}
    for criterion in criteria:
        best, epoch = -math.inf, None
        for logs in history:
            score = criterion_score(logs, criterion, monitor)
            if score is not None and score > best:
                best, epoch = score, int(logs["epoch"])
        picked[criterion] = epoch
    return picked


class ModelSelection(Callback):
    """Track every criterion's best epoch and weights at each validation (see the module docstring).

    Args:
        valid: validation interactions (clean or noisy, as the protocol gives them).
        train: training interactions (never drawn as validation negatives).
        monitor: the ranking metric of the ``metric`` criterion.
        primary: the criterion whose weights the model holds after training.
        loss: ``"bpr"`` or ``"bce"``.
        trim: :math:`\\rho`, share of the largest losses ``trimmed_loss`` drops (ERM_RE: 0.2).
        num_negatives: fixed sampled negatives per validation positive.
        seed: seeds the negatives.
        evaluator: rank ``valid`` with this evaluator (a shadow protocol) instead of reading the
            trainer's validation metrics; a shadow never changes the model.
        log_key: where the epoch's view goes in the logs (``"selection"``: the losses; a shadow's
            key gets ``{"valid": metrics, "selection": losses}``).
    """

    def __init__(
        self, valid: Interactions, train: Interactions, *, monitor: str = "recall@20", primary: str = "metric",
        loss: str = "bpr", trim: float = 0.2, num_negatives: int = 1, seed: int = 0, evaluator=None,
        log_key: str = "selection",
    ):  # fmt: skip
        if primary not in CRITERIA:
            raise ConfigError(f"select must be one of {list(CRITERIA)}, got {primary!r}")
        if loss not in LOSSES:
            raise ConfigError(f"select loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if not 0 <= trim < 1:
            raise ConfigError(f"select trim must be in [0, 1), got {trim!r}")
        if not isinstance(num_negatives, int) or num_negatives < 1:
            raise ConfigError(f"select negatives must be a positive integer, got {num_negatives!r}")
        self.valid, self.train = valid, train
        self.monitor, self.primary, self.loss, self.trim = monitor, primary, loss, float(trim)
        self.num_negatives, self.seed = num_negatives, seed
        self.evaluator, self.log_key = evaluator, log_key
        self.shadow: Optional["ModelSelection"] = None  # the noisy protocol's shadow (noise.valid = "both")
        self.pairs: Optional[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None
        self.best: dict[str, dict] = {}

    def _fixed_pairs(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.pairs is None or self.pairs[0].device != device:
            users = torch.from_numpy(self.valid.users).to(device)
            items = torch.from_numpy(self.valid.items).to(device)
            gen = torch.Generator(device=device).manual_seed(self.seed)
            negatives = NegativeSampler(self.train.concat(self.valid), device=device).sample(users, self.num_negatives, gen)
            self.pairs = (users, items, negatives)
        return self.pairs

    @torch.no_grad()
    def losses(self, model, graph) -> dict[str, float]:
        """``{"loss": mean, "trimmed_loss": trimmed mean}`` of the validation losses now."""
        scorer = model.scorer(graph)
        users, items, negatives = self._fixed_pairs(scorer.user_emb.device)
        per_positive = validation_losses(scorer.user_emb, scorer.item_emb, users, items, negatives, self.loss)
        return {"loss": float(per_positive.mean()), "trimmed_loss": float(trimmed_mean(per_positive, self.trim))}

    def on_epoch_end(self, trainer, epoch, logs):
        if not logs.get("valid"):
            return
        losses = self.losses(trainer.model, trainer.graph)
        if self.evaluator is None:
            logs[self.log_key] = losses
            view = {"valid": logs["valid"], "selection": losses}
        else:
            metrics = self.evaluator.evaluate(trainer.model.scorer(trainer.graph), self.valid, exclude=[self.train]).metrics
            view = logs[self.log_key] = {"valid": metrics, "selection": losses}
        for criterion in CRITERIA:
            score = criterion_score(view, criterion, self.monitor)
            if score is None or not math.isfinite(score):
                continue
            if criterion not in self.best or score > self.best[criterion]["score"]:
                state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
                self.best[criterion] = {"epoch": epoch + 1, "score": score, "state": state}

    def view(self, logs: Mapping) -> Mapping:
        """This instance's ``{"valid", "selection"}`` of one epoch's logs."""
        if self.evaluator is None:
            return {"valid": logs.get("valid", {}), "selection": logs.get(self.log_key, {})}
        return logs.get(self.log_key, {})

    def on_fit_end(self, trainer):
        if self.evaluator is None and self.primary != "metric" and self.primary in self.best:
            trainer.model.load_state_dict(self.best[self.primary]["state"])

    def chosen(self) -> dict[str, dict]:
        """Per criterion: ``{"epoch", "score"}`` (no weights), JSON-ready."""
        return {c: {"epoch": b["epoch"], "score": b["score"]} for c, b in self.best.items()}

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = dict(state["best"])


class SelectionEarlyStopping(EarlyStopping):
    """Early stopping on a loss criterion (``loss`` / ``trimmed_loss``) of :class:`ModelSelection`,
    which must run before it (it reads ``logs["selection"]``)."""

    def __init__(self, criterion: str, patience: int = 10, min_delta: float = 0.0):
        if criterion not in CRITERIA[1:]:
            raise ConfigError(f"SelectionEarlyStopping needs a loss criterion {list(CRITERIA[1:])}, got {criterion!r}")
        super().__init__(criterion, patience, min_delta)

    def on_epoch_end(self, trainer, epoch, logs):
        score = criterion_score(logs, self.monitor, self.monitor)
        if score is not None:
            super().on_epoch_end(trainer, epoch, {"valid": {self.monitor: score}})
