"""The pruned sampler: uniform BPR/BCE triples over the interactions a pruning score kept.

Pruning happens once, before training (Paul et al. 2021; Sorscher et al. 2022): a score per
training interaction, a keep-set of exactly ``round((1 - f) N)`` rows
(:func:`~recdenoise.methods.pruning.scores.prune_keep_mask`), then plain training on it.
Pruned rows are neither positives nor negatives: they are still excluded when negatives are
drawn (a pruned interaction is unreliable, not a known dislike).
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import torch

from ...data.interactions import Interactions
from ...graph import BipartiteGraph
from ...samplers import UniformSampler
from ...types import TripletBatch
from .scores import detection_auc

__all__ = ["PrunedSampler", "pruning_summary", "pruned_graph"]


class PrunedSampler(UniformSampler):
    """:class:`~recdenoise.samplers.UniformSampler` over the kept rows only.

    Args:
        train: all training interactions (``rows`` of each batch index into them, so
            ``NoiseDiagnostics`` reads the right labels).
        keep: ``bool [N]`` rows to train on.
        summary: what :meth:`summary` returns (see :func:`pruning_summary`).

    Shapes:
        each batch: users ``[B]``, pos_items ``[B]``, neg_items ``[B]`` or ``[B, n]``, rows ``[B]``.
    """

    def __init__(self, train: Interactions, keep: torch.Tensor, *, summary: Optional[dict] = None, **kwargs: Any):
        super().__init__(train, **kwargs)
        self.kept_rows = torch.nonzero(keep.to(self.device)).squeeze(-1)
        self._summary = dict(summary or {})

    @property
    def num_kept(self) -> int:
        return int(self.kept_rows.numel())

    def __len__(self) -> int:
        return -(-self.num_kept // self.batch_size)

    def batches(self, epoch: int) -> Iterator[TripletBatch]:
        perm = self.kept_rows[torch.randperm(self.num_kept, device=self.device, generator=self.generator)]
        for start in range(0, self.num_kept, self.batch_size):
            rows = perm[start : start + self.batch_size]
            users = self.users[rows]
            yield TripletBatch(users, self.items[rows], self.sample_negatives(users), rows=rows)

    def summary(self) -> dict:
        """The scoring pass: score, fraction, kept counts, noise-detection AUC, time (JSON-ready)."""
        return dict(self._summary)


def pruning_summary(method: str, scores: torch.Tensor, keep: torch.Tensor, train: Interactions, seconds: float, **extra: Any) -> dict:
    """JSON-ready record of one scoring pass.

    Keys: ``method``, ``num_interactions``, ``num_kept``, ``users_emptied``, ``scoring_seconds``,
    and with noise labels ``detection_auc`` (AUC of the score for noisy = positive class; 0.5 is
    blind), ``train_noisy_share``, ``kept_noisy_share`` and ``pruned_noisy_share`` (share of the
    pruned rows that were noisy), ``noise_pruned`` (share of the noisy rows that were pruned);
    plus ``extra`` (the options that shaped it).
    """
    users = torch.from_numpy(train.users).to(keep.device)
    had = torch.bincount(users, minlength=train.num_users) > 0
    left = torch.bincount(users[keep], minlength=train.num_users) > 0
    out: dict[str, Any] = {
        "method": method,
        **extra,
        "num_interactions": int(keep.numel()),
        "num_kept": int(keep.sum()),
        "users_emptied": int((had & ~left).sum()),
        "scoring_seconds": round(seconds, 3),
    }
    if train.is_noise is not None:
        noisy = torch.from_numpy(train.is_noise).to(keep.device)
        pruned = ~keep
        out["detection_auc"] = detection_auc(scores, noisy)
        out["train_noisy_share"] = float(noisy.float().mean())
        out["kept_noisy_share"] = float(noisy[keep].float().mean()) if keep.any() else None
        out["pruned_noisy_share"] = float(noisy[pruned].float().mean()) if pruned.any() else None
        out["noise_pruned"] = float(pruned[noisy].float().mean()) if noisy.any() else None
    return out


def pruned_graph(graph: BipartiteGraph, train: Interactions, keep: torch.Tensor) -> BipartiteGraph:
    """``graph`` without the pruned interactions (LightGCN then propagates over the kept ones only)."""
    if bool(keep.all()):
        return graph
    dropped = ~keep.to(graph.device)
    users = torch.from_numpy(train.users).to(graph.device)[dropped]
    items = torch.from_numpy(train.items).to(graph.device)[dropped]
    return graph.remove_edges(users, items)
