"""The interface every recommender implements.

A model owns parameters, never data: the interaction graph is an argument of every call,
so a pruned, noise-injected or LLM-augmented graph needs no new model.

* ``forward(graph) -> (user_emb [U, D], item_emb [I, D])``: final representations whose dot
  product is the preference score (used by training losses and by ranking).
* ``ego_embeddings(users, items)``: the layer-0 parameters behind a batch, for L2
  regularisation (LightGCN regularises these, not the propagated ones).
* ``scorer(graph)``: a no-grad callable ``users [B] -> scores [B, I]`` for full ranking.
* ``recommend(users, k, graph, exclude_seen=True)``: top-k unseen items, like ``implicit``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..graph import BipartiteGraph
from ..scoring import EmbeddingScorer

__all__ = ["Recommender", "EmbeddingScorer"]


class Recommender(nn.Module):
    """Base class: ``U`` users and ``I`` items scored in a ``D``-dimensional space.

    Models with ID embeddings (MF, LightGCN) pass ``init_std`` and get the tables
    ``user_embedding [U, D]`` / ``item_embedding [I, D]`` (normal initialisation, std 0.1 as in
    LightGCN's code) and :meth:`ego_embeddings` over them.
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int, init_std: Optional[float] = None):
        super().__init__()
        for name, value in (("num_users", num_users), ("num_items", num_items), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.num_users = num_users
        self.num_items = num_items
        self.embedding_dim = embedding_dim
        self.init_std = init_std

    def _add_embedding_tables(self) -> None:
        self.user_embedding = nn.Embedding(self.num_users, self.embedding_dim)
        self.item_embedding = nn.Embedding(self.num_items, self.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal initialisation of the ID tables with ``init_std``."""
        nn.init.normal_(self.user_embedding.weight, std=self.init_std)
        nn.init.normal_(self.item_embedding.weight, std=self.init_std)

    def forward(self, graph: Optional[BipartiteGraph] = None) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def ego_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-0 (parameter) embeddings of ``users [...]`` and ``items [...]`` for L2 regularisation."""
        # index_select on the tables: the values and gradients of ``nn.Embedding``, with a cheaper backward on CPU
        user_w, item_w = self.user_embedding.weight, self.item_embedding.weight
        return (
            user_w.index_select(0, users.reshape(-1)).view(*users.shape, self.embedding_dim),
            item_w.index_select(0, items.reshape(-1)).view(*items.shape, self.embedding_dim),
        )

    def _check_graph(self, graph: Optional[BipartiteGraph]) -> None:
        if graph is not None and (graph.num_users, graph.num_items) != (self.num_users, self.num_items):
            raise ConfigError(
                f"graph is over {graph.num_users} users x {graph.num_items} items but the model has "
                f"{self.num_users} x {self.num_items}; build the graph from the same id space"
            )

    @torch.no_grad()
    def scorer(self, graph: Optional[BipartiteGraph] = None) -> EmbeddingScorer:
        """Propagate once and return a no-grad full-ranking scorer."""
        was_training = self.training
        self.eval()
        try:
            user_emb, item_emb = self(graph)
        finally:
            self.train(was_training)
        return EmbeddingScorer(user_emb, item_emb)

    @torch.no_grad()
    def recommend(
        self,
        users: torch.Tensor,
        k: int,
        graph: Optional[BipartiteGraph] = None,
        exclude_seen: bool = True,
        seen: Optional[BipartiteGraph] = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` items for each user.

        Args:
            users: ``long [B]`` user indices.
            k: list length (``1 <= k <= I``).
            graph: the graph to propagate over (ignored by MF).
            exclude_seen: mask items the user already interacted with. "Seen" means the
                edges of ``seen`` if given, else of ``graph``.

        Returns:
            ``(item ids [B, k], scores [B, k])``, best first.
        """
        if not 1 <= k <= self.num_items:
            raise ConfigError(f"k must be in [1, {self.num_items}], got {k}")
        seen = seen if seen is not None else graph
        if exclude_seen and seen is None:
            raise ConfigError("exclude_seen=True needs the seen interactions: pass graph= or seen=")
        device = next(self.parameters()).device
        users = torch.as_tensor(users, dtype=torch.long, device=device)
        scores = self.scorer(graph)(users)
        if exclude_seen:
            seen = seen.to(device)
            indptr, indices = seen.csr_rows()
            starts, lengths = indptr[users], indptr[users + 1] - indptr[users]
            rows = torch.repeat_interleave(torch.arange(users.numel(), device=device), lengths)
            offsets = torch.arange(int(lengths.sum()), device=device) - torch.repeat_interleave(
                torch.cumsum(lengths, 0) - lengths, lengths
            )
            cols = indices[torch.repeat_interleave(starts, lengths) + offsets]
            scores[rows, cols] = float("-inf")
        top = torch.topk(scores, k, dim=1)
        return top.indices, top.values

    def extra_repr(self) -> str:
        return f"num_users={self.num_users}, num_items={self.num_items}, embedding_dim={self.embedding_dim}"
