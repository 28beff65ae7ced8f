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

from typing import Callable, Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..graph import BipartiteGraph

__all__ = ["Recommender", "EmbeddingScorer"]


class EmbeddingScorer:
    """Scores all items for a batch of users from fixed (detached) embeddings.

    Shapes:
        user_emb: ``[U, D]``; item_emb: ``[I, D]``; ``__call__(users [B]) -> [B, I]``.
    """

    def __init__(self, user_emb: torch.Tensor, item_emb: torch.Tensor):
        self.user_emb = user_emb.detach()
        self.item_emb = item_emb.detach()

    @property
    def num_items(self) -> int:
        return self.item_emb.shape[0]

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_emb[users.to(self.user_emb.device)] @ self.item_emb.T

    def pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of given (user, item) pairs; ``users`` broadcasts against ``items`` (e.g. ``[B,1]`` x ``[B,k]``)."""
        return (self.user_emb[users] * self.item_emb[items]).sum(-1)


class Recommender(nn.Module):
    """Base class: embedding tables for ``U`` users and ``I`` items of size ``D``."""

    def __init__(self, num_users: int, num_items: int, embedding_dim: int):
        super().__init__()
        for name, value in (("num_users", num_users), ("num_items", num_items), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.num_users = num_users
        self.num_items = num_items
        self.embedding_dim = embedding_dim

    def forward(self, graph: Optional[BipartiteGraph] = None) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def ego_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Layer-0 (parameter) embeddings of ``users [...]`` and ``items [...]`` for L2 regularisation."""
        raise NotImplementedError

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
