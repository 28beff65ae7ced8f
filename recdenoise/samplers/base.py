"""What a sampler is: it decides which (user, positive, negative) triples are optimised.

A sampler yields :class:`~recdenoise.types.TripletBatch` es for an epoch. Score-aware samplers (PLD) set
``needs_scores = True``; the trainer then calls :meth:`Sampler.select` with a no-grad scorer
built from the current forward pass, so the sampler never runs the model itself.
"""

from __future__ import annotations

from typing import Iterator

import torch

from ..data.interactions import Interactions
from ..errors import ConfigError
from ..scoring import EmbeddingScorer
from ..types import TripletBatch
from ..utils import resolve_device
from .negative import NegativeSampler

__all__ = ["TripletBatch", "Sampler", "PairScorer"]


PairScorer = EmbeddingScorer
"""The scorer a score-aware sampler receives (an :class:`~recdenoise.scoring.EmbeddingScorer`)."""


class Sampler:
    """Base sampler over the training interactions.

    Args:
        train: training interactions (the positives).
        batch_size: triples per batch ``B``.
        num_negatives: negatives per positive ``n`` (``neg_items`` is ``[B]`` when 1, else ``[B, n]``).
        device: where batches are built.
        seed: seeds the sampler's own generator (no global RNG).
    """

    needs_scores: bool = False

    def __init__(
        self,
        train: Interactions,
        batch_size: int = 2048,
        num_negatives: int = 1,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ):
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(num_negatives, int) or num_negatives <= 0:
            raise ConfigError(f"num_negatives must be a positive integer, got {num_negatives!r}")
        if len(train) == 0:
            raise ConfigError("the training interactions are empty: nothing to sample")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.num_users, self.num_items = train.num_users, train.num_items
        self.users = torch.from_numpy(train.users).to(self.device)
        self.items = torch.from_numpy(train.items).to(self.device)
        self.negatives = NegativeSampler(train, device=self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    @property
    def num_interactions(self) -> int:
        return int(self.users.numel())

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-self.num_interactions // self.batch_size)

    def batches(self, epoch: int) -> Iterator[TripletBatch]:  # pragma: no cover - abstract
        raise NotImplementedError

    def select(self, batch: TripletBatch, scorer: PairScorer, epoch: int) -> TripletBatch:
        """Refine a batch with the current model's scores (identity unless ``needs_scores``)."""
        return batch

    def sample_negatives(self, users: torch.Tensor) -> torch.Tensor:
        """``[B]`` or ``[B, n]`` uniform negatives, never a training positive of the user."""
        neg = self.negatives.sample(users, self.num_negatives, self.generator)
        return neg.squeeze(1) if self.num_negatives == 1 else neg

    def state_dict(self) -> dict:
        """Generator state: restoring it makes a resumed run draw the same batches."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu() if hasattr(state["generator"], "cpu") else state["generator"])
