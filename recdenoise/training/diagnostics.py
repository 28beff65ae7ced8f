"""Noise-separation diagnostics: does a denoising method optimise the clean interactions?

When the training interactions carry noise labels (``Interactions.is_noise``, from
:mod:`recdenoise.data.noise`), :class:`NoiseDiagnostics` measures per epoch, from what the
trainer already computed (``batch.rows``, ``output.per_example``, ``output.weights`` and PLD's
:class:`~recdenoise.types.CandidateSelection`, ``batch.selection``):

- ``noisy_share_optimised``: the weighted share of noisy interactions among the optimised
  examples (compare with ``train_noisy_share``: a denoiser pushes it below);
- ``weight_auc``: AUC of the weight each example received (T-CE's 0/1 mask, R-CE's weight)
  for telling clean from noisy (clean = positive class; 0.5 = blind, 1 = perfect);
- ``keep_prob_auc``: the same for PLD's per-candidate selection probability;
- ``loss_auc`` (and ``candidate_loss_auc`` for PLD's pools): AUC of the per-example loss for
  telling noisy from clean (noisy = positive class: noisy interactions should have higher loss);
- ``mean_loss_clean`` / ``mean_loss_noisy``.

:func:`interaction_losses` computes every training interaction's current loss in one
batched pass, for plots of the loss distributions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import torch
from scipy.stats import rankdata

from ..data.interactions import Interactions
from ..errors import ConfigError
from ..samplers.negative import NegativeSampler
from ..scoring import LOSSES, pair_scores
from .callbacks import Callback

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import BipartiteGraph
    from ..models.base import Recommender

__all__ = ["NoiseDiagnostics", "interaction_losses", "binary_auc"]


def binary_auc(scores: np.ndarray, positive: np.ndarray) -> Optional[float]:
    """ROC AUC of ``scores`` for the boolean ``positive`` labels (ties count one half).

    Mann-Whitney form with average ranks; ``None`` when one class is empty.

    Shapes:
        scores ``[M]``, positive ``[M]`` -> float.
    """
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class _Accumulator:
    """Per-epoch device-side lists, concatenated once at epoch end (no host sync per batch)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[torch.Tensor]] = {}
        self.weighted = False  # some batch had per-example weights

    def add(self, name: str, value: torch.Tensor) -> None:
        self.parts.setdefault(name, []).append(value.detach().reshape(-1))

    def get(self, name: str) -> Optional[np.ndarray]:
        if name not in self.parts:
            return None
        return torch.cat(self.parts[name]).float().cpu().numpy()


class NoiseDiagnostics(Callback):
    """Callback measuring how well the training separates clean from noisy interactions.

    Does nothing when ``train.is_noise`` is ``None``. Use it with the trainer (it reads
    ``batch.rows``, which every built-in sampler sets) or call :meth:`update` /
    :meth:`end_epoch` from your own loop.

    Args:
        train: the training interactions the sampler's ``rows`` index into.
        max_examples: per epoch, keep at most this many examples for the AUCs (the most
            recent ones are dropped once reached; bounds memory on large data).
        auc_sample: the AUCs of an epoch are computed on at most this many examples, drawn
            uniformly (with replacement, seeded by the epoch) from those recorded: sorting is
            the costly part (a PLD epoch on ML-100K records ~480K candidates), and 50K
            examples give an AUC within ~0.005 (one standard error). ``None`` = exact, all of them.
            Shares and mean losses always use every recorded example.

    ``summary()`` returns ``{"train_noisy_share": float, "epochs": [per-epoch dict, ...]}``,
    JSON-ready (``None`` where a value is undefined).
    """

    def __init__(self, train: Interactions, max_examples: int = 5_000_000, auc_sample: Optional[int] = 50_000):
        self.enabled = train.is_noise is not None
        self.is_noise_np = train.is_noise if self.enabled else None
        self.is_noise: Optional[torch.Tensor] = None
        self.train_noisy_share = float(train.is_noise.mean()) if self.enabled and len(train) else None
        self.max_examples = max_examples
        self.auc_sample = auc_sample
        self.history: list[dict[str, Any]] = []
        self._acc = _Accumulator()
        self._count = 0

    # ------------------------------------------------------------- own-loop API
    def _labels(self, rows: torch.Tensor) -> torch.Tensor:
        if self.is_noise is None or self.is_noise.device != rows.device:
            self.is_noise = torch.from_numpy(self.is_noise_np).to(rows.device)
        return self.is_noise[rows]

    def update(
        self,
        rows: torch.Tensor,
        losses: torch.Tensor,
        weights: Optional[torch.Tensor] = None,
        selection=None,
    ) -> None:
        """Record one batch: ``rows [B]`` optimised, their ``losses [B]``, ``weights [B]`` (or
        ``None`` = all 1), and a score-aware sampler's ``selection`` (``batch.selection``)."""
        if not self.enabled or rows is None or self._count >= self.max_examples:
            return
        rows = rows.reshape(-1)
        losses = losses.reshape(-1)
        real = rows >= 0  # augmented (LLM) triples carry row -1: they are not training interactions
        if not bool(real.all()):
            rows, losses = rows[real], losses[real]
            weights = weights.reshape(-1)[real] if weights is not None else None
        self._count += rows.numel()
        self._acc.add("noisy", self._labels(rows))
        self._acc.add("loss", losses)
        # a batch without weights weighted every example 1: record that, so weights stay aligned
        self._acc.add("weight", weights if weights is not None else torch.ones_like(losses))
        if weights is not None:
            self._acc.weighted = True
        if selection is not None:
            self._acc.add("cand_noisy", self._labels(selection.rows.reshape(-1)))
            self._acc.add("cand_prob", selection.probs)
            self._acc.add("cand_loss", selection.losses)

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Close the epoch: compute its metrics, append them to the history, reset."""
        if not self.enabled:
            return {}
        acc, self._acc, self._count = self._acc, _Accumulator(), 0
        noisy = acc.get("noisy")
        if noisy is None:
            return {}
        noisy = noisy.astype(bool)
        loss, weight = acc.get("loss"), acc.get("weight") if acc.weighted else None
        w = weight if weight is not None else np.ones_like(loss)
        out: dict[str, Any] = {
            "epoch": epoch + 1,
            "num_examples": int(noisy.size),
            "train_noisy_share": self.train_noisy_share,
            "noisy_share_optimised": _safe(float((w * noisy).sum() / w.sum())) if w.sum() > 0 else None,
            "loss_auc": self._auc(loss, noisy, epoch),
            "weight_auc": self._auc(weight, ~noisy, epoch) if weight is not None else None,
            "mean_loss_clean": _safe(float(loss[~noisy].mean())) if (~noisy).any() else None,
            "mean_loss_noisy": _safe(float(loss[noisy].mean())) if noisy.any() else None,
        }
        cand_noisy = acc.get("cand_noisy")
        if cand_noisy is not None:
            cand_noisy = cand_noisy.astype(bool)
            out["keep_prob_auc"] = self._auc(acc.get("cand_prob"), ~cand_noisy, epoch)
            out["candidate_loss_auc"] = self._auc(acc.get("cand_loss"), cand_noisy, epoch)
            out["candidate_noisy_share"] = float(cand_noisy.mean())
        self.history.append(out)
        return out

    def _auc(self, scores: np.ndarray, positive: np.ndarray, epoch: int) -> Optional[float]:
        """:func:`binary_auc`, on a seeded uniform sample of ``auc_sample`` examples when there are more."""
        if self.auc_sample is not None and scores.size > self.auc_sample:
            pick = np.random.default_rng(epoch).integers(0, scores.size, self.auc_sample)
            scores, positive = scores[pick], positive[pick]
        return binary_auc(scores, positive)

    # --------------------------------------------------------------- callbacks
    def on_epoch_start(self, trainer, epoch):
        self._acc, self._count = _Accumulator(), 0

    def on_batch_end(self, trainer, batch, output):
        self.update(batch.rows, output.per_example, output.weights, batch.selection)

    def on_epoch_end(self, trainer, epoch, logs):
        metrics = self.end_epoch(epoch)
        if metrics:
            logs["noise"] = {k: v for k, v in metrics.items() if k != "epoch"}

    def summary(self) -> dict[str, Any]:
        return {"train_noisy_share": self.train_noisy_share, "epochs": list(self.history)}

    def state_dict(self) -> dict:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state.get("history", []))


def _safe(x: float) -> Optional[float]:
    return None if not math.isfinite(x) else x


@torch.no_grad()
def interaction_losses(
    model: "Recommender",
    graph: Optional["BipartiteGraph"],
    train: Interactions,
    loss: str = "bpr",
    num_negatives: int = 1,
    seed: int = 0,
    batch_size: int = 65536,
) -> torch.Tensor:
    """Every training interaction's current loss (one forward pass, batched scoring).

    Each interaction is paired with ``num_negatives`` uniform negatives (never a training
    positive of the user), drawn from a generator seeded with ``seed``.

    Args:
        model: the recommender (evaluated in eval mode, restored afterwards).
        graph: the training graph (``None`` for MF).
        train: training interactions (row order = output order).
        loss: ``"bpr"`` or ``"bce"``.

    Returns:
        ``float [N]`` on the CPU, aligned with the rows of ``train``.
    """
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r}; choose one of {sorted(LOSSES)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        user_emb, item_emb = model(graph.to(device) if graph is not None else None)
    finally:
        model.train(was_training)
    negatives = NegativeSampler(train, device=device)
    gen = torch.Generator(device=device).manual_seed(seed)
    users_all = torch.from_numpy(train.users).to(device)
    items_all = torch.from_numpy(train.items).to(device)
    neg_all = negatives.sample(users_all, num_negatives, gen)  # [N, n] in one draw: batch size does not matter
    out = torch.empty(len(train), dtype=torch.float32)
    for start in range(0, len(train), batch_size):
        users = users_all[start : start + batch_size]
        items = items_all[start : start + batch_size]
        neg = neg_all[start : start + batch_size]
        pos = pair_scores(user_emb, item_emb, users, items)
        neg_scores = pair_scores(user_emb, item_emb, users, neg)
        out[start : start + users.numel()] = LOSSES[loss](pos, neg_scores).float().cpu()
    return out
