"""The plain baseline: every training positive once per epoch, with uniform negatives."""

from __future__ import annotations

from typing import Iterator

import torch

from .base import Sampler, TripletBatch

__all__ = ["UniformSampler"]


class UniformSampler(Sampler):
    """Shuffles the training interactions each epoch and pairs each positive with
    ``num_negatives`` uniform negatives (BPR's standard sampler, as in LightGCN and PyG's example).

    Shapes:
        each batch: users ``[B]``, pos_items ``[B]``, neg_items ``[B]`` (or ``[B, n]``), rows ``[B]``.
    """

    def batches(self, epoch: int) -> Iterator[TripletBatch]:
        perm = torch.randperm(self.num_interactions, device=self.device, generator=self.generator)
        for start in range(0, self.num_interactions, self.batch_size):
            rows = perm[start : start + self.batch_size]
            users = self.users[rows]
            yield TripletBatch(users, self.items[rows], self.sample_negatives(users), rows=rows)
