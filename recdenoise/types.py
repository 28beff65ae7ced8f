"""Types shared by several sub-packages, so that none of them imports another for them.

:class:`TripletBatch` is what samplers produce and objectives consume;
:class:`CandidateSelection` is what a score-aware sampler (PLD) chose, carried on the batch
to the diagnostics; :class:`Scorer` is what evaluators, samplers and the LLM job call to
score items for users.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Protocol, runtime_checkable

import torch

__all__ = ["TripletBatch", "CandidateSelection", "Scorer"]


@dataclass
class CandidateSelection:
    """What a score-aware sampler saw and chose for one batch (PLD).

    Attributes:
        rows: ``long [B, k]`` training-row index of each candidate.
        losses: ``float [B, k]`` each candidate's loss under the current model.
        chosen: ``long [B]`` position of the optimised candidate in each pool.
        tau: the temperature of the choice, :math:`P(c) = \\operatorname{softmax}(-\\ell / \\tau)`.
    """

    rows: torch.Tensor
    losses: torch.Tensor
    chosen: torch.Tensor
    tau: float

    @property
    def probs(self) -> torch.Tensor:
        """``[B, k]`` selection probability ``softmax(-losses / tau)`` (computed on demand)."""
        return torch.softmax(-self.losses / self.tau, dim=-1)

    @property
    def chosen_probs(self) -> torch.Tensor:
        """``[B]`` probability of the candidate that was chosen."""
        return self.probs.gather(1, self.chosen.unsqueeze(1)).squeeze(1)


@dataclass
class TripletBatch:
    """One optimisation batch.

    Attributes:
        users: ``long [B]``.
        pos_items: ``long [B]`` (or ``[B, k]`` candidate pools before a sampler's ``select``).
        neg_items: ``long [B]`` or ``[B, n]`` sampled negatives.
        rows: optional ``long [B]``: index of each positive in the training interactions
            (lets diagnostics look up noise labels); ``[B, k]`` alongside a candidate pool.
        weights: optional ``float [B]`` per-example weights set by the sampler.
        selection: what a score-aware sampler chose (``None`` for the others).
        is_augmented: optional ``bool [B]``, True for triples from an augmented (LLM) set;
            their ``rows`` entry is ``-1`` (they are not training interactions).
    """

    users: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor
    rows: Optional[torch.Tensor] = None
    weights: Optional[torch.Tensor] = None
    selection: Optional[CandidateSelection] = None
    is_augmented: Optional[torch.Tensor] = None

    def __len__(self) -> int:
        return int(self.users.shape[0])

    def replace(self, **changes: Any) -> "TripletBatch":
        return replace(self, **changes)


@runtime_checkable
class Scorer(Protocol):
    """Scores items for users from a trained model (no gradients).

    The evaluator only calls ``scorer(users)``, so any callable ``users [B] -> [B, I]`` (a
    lambda over two embedding tables) works there; samplers also call :meth:`pairs`. A scorer
    whose ``scorer(users)`` returns a new tensor on every call may set ``fresh_scores = True``
    so that the evaluator masks it in place instead of copying it.

    Shapes:
        ``scorer(users [B]) -> [B, I]`` (full ranking); ``scorer.pairs(users, items)``
        broadcasts ``users`` against ``items`` (e.g. ``[B, 1]`` x ``[B, k]`` -> ``[B, k]``).
    """

    @property
    def num_items(self) -> int: ...

    def __call__(self, users: torch.Tensor) -> torch.Tensor: ...

    def pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor: ...
