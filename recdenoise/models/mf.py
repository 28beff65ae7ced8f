"""Matrix factorisation trained with BPR (Rendle et al., UAI 2009)."""

from __future__ import annotations

from typing import Optional

import torch

from ..graph import BipartiteGraph
from .base import Recommender

__all__ = ["MF"]


class MF(Recommender):
    r"""Matrix factorisation: :math:`\hat{y}_{ui} = e_u^\top e_i`.

    Args:
        num_users: ``U``.
        num_items: ``I``.
        embedding_dim: ``D``.
        init_std: standard deviation of the normal initialisation (0.1 as in LightGCN's code).

    Shapes:
        forward(graph) -> ``([U, D], [I, D])``; the graph is accepted and ignored.
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, init_std: float = 0.1):
        super().__init__(num_users, num_items, embedding_dim, init_std)
        self._add_embedding_tables()

    def forward(self, graph: Optional[BipartiteGraph] = None) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_graph(graph)
        return self.user_embedding.weight, self.item_embedding.weight
