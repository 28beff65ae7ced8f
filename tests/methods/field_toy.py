"""A two-table toy model for the field methods' tests (DCF, UDT, DeCA): just ego embeddings."""

from __future__ import annotations

import torch


class ToyModel(torch.nn.Module):
    """``[U, dim]`` user and ``[I, dim]`` item tables; ``ego_embeddings`` looks rows up."""

    def __init__(self, num_users: int, num_items: int, dim: int = 2):
        super().__init__()
        self.user_embedding, self.item_embedding = torch.nn.Embedding(num_users, dim), torch.nn.Embedding(num_items, dim)

    def ego_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_embedding(users), self.item_embedding(items)
