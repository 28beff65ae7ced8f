"""LLMRec's augmented BPR sampling (Wei et al., WSDM 2024, Sec. 3.1).

An LLM picks, for a user, one liked and one disliked item among candidates; each answer is a
BPR triple ``(u, i+, i-)``. Training batches are the ordinary uniform triples plus a share of
these augmented triples, flagged so that a reducer (LLMRec's loss pruning,
:class:`recdenoise.losses.llmrec.PruneAugmented`) can treat them differently.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from ..data.interactions import Interactions
from ..errors import ConfigError, DataError
from .base import TripletBatch
from .uniform import UniformSampler

__all__ = ["AugmentedBatch", "AugmentedSampler"]


AugmentedBatch = TripletBatch
"""Batches of :class:`AugmentedSampler` set ``is_augmented`` (a field of every :class:`TripletBatch`)."""


def _as_index(values, name: str, size: int, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.array(values, dtype=np.int64)).to(device).reshape(-1)  # a copy: inputs may be read-only
    if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= size):
        raise DataError(
            f"augmented {name} index outside [0, {size}) (min {int(tensor.min())}, max {int(tensor.max())}); "
            "the augmented triples must use the contiguous ids of the training split they were generated for"
        )
    return tensor


class AugmentedSampler(UniformSampler):
    r"""Uniform BPR triples plus ``round(aug_rate * B)`` augmented triples per batch.

    Each batch is the :class:`UniformSampler` batch of ``B`` training positives with uniform
    negatives, followed by ``M = round(aug_rate * B)`` triples drawn uniformly *with
    replacement* from the augmented set :math:`\mathcal{E}_A` with the sampler's generator.
    (LLMRec draws ``int(aug_sample_rate * B)`` users of the batch and appends each one's
    augmented pair; with one pair per user both draw uniformly from :math:`\mathcal{E}_A`.)
    Augmented positives and negatives are used as given: they come only from the
    augmented set, never from the negative sampler.

    Args:
        train: training interactions (the original positives).
        aug_users, aug_pos_items, aug_neg_items: the augmented triples, ``[N_A]`` each,
            contiguous indices of ``train``'s id space.
        aug_rate: augmented triples per original triple in a batch (LLMRec's
            ``aug_sample_rate``; 0 = plain uniform sampling).
        batch_size, device, seed: as :class:`~recdenoise.samplers.Sampler`; only one
            negative per positive is supported (an augmented triple carries one negative).

    Shapes:
        each batch: users, pos_items, neg_items, rows, is_augmented ``[B + M]``.
    """

    def __init__(
        self,
        train: Interactions,
        aug_users,
        aug_pos_items,
        aug_neg_items,
        *,
        aug_rate: float = 0.1,
        batch_size: int = 2048,
        num_negatives: int = 1,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ):
        if num_negatives != 1:
            raise ConfigError(f"AugmentedSampler supports num_negatives=1 only (augmented triples have one negative), got {num_negatives}")
        if not aug_rate >= 0:
            raise ConfigError(f"aug_rate must be >= 0, got {aug_rate}")
        super().__init__(train, batch_size=batch_size, num_negatives=1, device=device, seed=seed)
        self.aug_users = _as_index(aug_users, "user", self.num_users, self.device)
        self.aug_pos_items = _as_index(aug_pos_items, "positive item", self.num_items, self.device)
        self.aug_neg_items = _as_index(aug_neg_items, "negative item", self.num_items, self.device)
        if not self.aug_users.shape == self.aug_pos_items.shape == self.aug_neg_items.shape:
            raise DataError(
                f"augmented users/pos/neg have different lengths: {self.aug_users.numel()}, "
                f"{self.aug_pos_items.numel()}, {self.aug_neg_items.numel()}"
            )
        if aug_rate > 0 and self.num_augmented == 0:
            raise ConfigError("aug_rate > 0 but the augmented set is empty: run the LLM augmentation first or set aug_rate=0")
        self.aug_rate = float(aug_rate)

    @property
    def num_augmented(self) -> int:
        return int(self.aug_users.numel())

    def batches(self, epoch: int) -> Iterator[AugmentedBatch]:
        for batch in super().batches(epoch):
            size = len(batch)
            count = int(round(self.aug_rate * size)) if self.num_augmented else 0
            picks = torch.randint(self.num_augmented or 1, (count,), device=self.device, generator=self.generator)
            flags = torch.zeros(size + count, dtype=torch.bool, device=self.device)
            flags[size:] = True
            yield AugmentedBatch(
                users=torch.cat([batch.users, self.aug_users[picks]]),
                pos_items=torch.cat([batch.pos_items, self.aug_pos_items[picks]]),
                neg_items=torch.cat([batch.neg_items, self.aug_neg_items[picks]]),
                rows=torch.cat([batch.rows, torch.full((count,), -1, dtype=torch.long, device=self.device)]),
                is_augmented=flags,
            )
