"""The user-item bipartite graph and its symmetric normalisation.

LightGCN (He et al., SIGIR 2020) propagates embeddings over the normalised adjacency of the
bipartite graph

.. math::
    \\tilde{A} = D^{-1/2} A D^{-1/2}, \\qquad
    A = \\begin{pmatrix} 0 & R \\\\ R^\\top & 0 \\end{pmatrix},

where :math:`R \\in \\{0,1\\}^{U \\times I}` is the interaction matrix and :math:`D` the degree
matrix of :math:`A`. Because :math:`A` is bipartite, :math:`\\tilde{A} x` splits into two
products with the ``U x I`` block :math:`\\tilde{R} = D_U^{-1/2} R D_I^{-1/2}` and its transpose:

.. math::
    x_U' = \\tilde{R}\\, x_I, \\qquad x_I' = \\tilde{R}^\\top x_U,

which is half the work and memory of the ``(U+I) x (U+I)`` form. :class:`BipartiteGraph`
is immutable: edge dropout and edge addition/removal return a new graph, so a pruned or
LLM-augmented graph is just another argument to the same model.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..data.csr import expand_rows, row_pointers
from ..data.interactions import Interactions
from ..data.pyg import edge_index_to_pairs, pairs_to_edge_index
from ..errors import ConfigError, DataError
from .sparse import SparseOperator, csr_tensor

__all__ = ["BipartiteGraph"]


class BipartiteGraph:
    """An undirected user-item graph over ``U + I`` nodes with a cached normalised adjacency.

    Args:
        users: ``long [E]`` user index of each edge.
        items: ``long [E]`` item index of each edge.
        num_users: ``U``.
        num_items: ``I``.
        weights: optional ``float [E]`` edge weights (default 1).

    Duplicate edges are merged (weights summed). The normalised operator is built lazily
    on first use and cached on the graph (and on each device it is moved to).
    """

    def __init__(
        self,
        users: torch.Tensor,
        items: torch.Tensor,
        num_users: int,
        num_items: int,
        weights: Optional[torch.Tensor] = None,
    ):
        users = torch.as_tensor(users, dtype=torch.long)
        items = torch.as_tensor(items, dtype=torch.long, device=users.device)
        if users.shape != items.shape or users.dim() != 1:
            raise DataError(f"users and items must be 1-D of equal length, got {tuple(users.shape)} and {tuple(items.shape)}")
        if users.numel():
            if int(users.min()) < 0 or int(users.max()) >= num_users:
                raise DataError(f"edge user index outside [0, {num_users})")
            if int(items.min()) < 0 or int(items.max()) >= num_items:
                raise DataError(f"edge item index outside [0, {num_items})")
        if weights is None:
            weights = torch.ones(users.shape[0], device=users.device)
        weights = torch.as_tensor(weights, dtype=torch.float32, device=users.device)
        key = users * num_items + items
        key, inverse = torch.unique(key, sorted=True, return_inverse=True)
        if key.numel() != users.numel():
            weights = torch.zeros(key.numel(), device=users.device).index_add_(0, inverse, weights)
        self.users = key // num_items
        self.items = key % num_items
        self.weights = weights
        self.num_users = int(num_users)
        self.num_items = int(num_items)
        self._norm: Optional[SparseOperator] = None

    # ----------------------------------------------------------- construction
    @classmethod
    def from_interactions(cls, interactions: Interactions, device: torch.device | str = "cpu") -> "BipartiteGraph":
        """The graph whose edges are the rows of ``interactions``."""
        return cls(
            torch.from_numpy(interactions.users).to(device),
            torch.from_numpy(interactions.items).to(device),
            interactions.num_users,
            interactions.num_items,
        )

    @classmethod
    def from_edge_index(
        cls, edge_index: torch.Tensor, num_users: int, num_items: int, homogeneous: bool = True
    ) -> "BipartiteGraph":
        """From a PyG ``edge_index``.

        ``homogeneous=True`` reads PyG's LightGCN convention (``[2, E]`` over ``U + I`` nodes,
        items offset by ``U``, either or both directions present); otherwise rows are
        (user index, item index).
        """
        users, items = edge_index_to_pairs(edge_index, num_users, num_items, homogeneous, merge=homogeneous)
        return cls(users, items, num_users, num_items)

    def to_edge_index(self, homogeneous: bool = True) -> torch.Tensor:
        """PyG ``edge_index``: ``[2, 2E]`` undirected over ``U + I`` nodes (``homogeneous``) or ``[2, E]``."""
        return pairs_to_edge_index(self.users, self.items, self.num_users, homogeneous)

    def to_interactions(self, like: Interactions | None = None) -> Interactions:
        """The edges as :class:`Interactions` (raw ids and side info copied from ``like``)."""
        kwargs = {}
        if like is not None:
            kwargs = dict(user_ids=like.user_ids, item_ids=like.item_ids, user_info=like.user_info, item_info=like.item_info)
        return Interactions(self.users.cpu().numpy(), self.items.cpu().numpy(), self.num_users, self.num_items, **kwargs)

    # ---------------------------------------------------------------- queries
    @property
    def num_edges(self) -> int:
        return int(self.users.numel())

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    @property
    def device(self) -> torch.device:
        return self.users.device

    def __repr__(self) -> str:
        return f"BipartiteGraph(num_users={self.num_users}, num_items={self.num_items}, num_edges={self.num_edges}, device={self.device})"

    def degrees(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weighted degrees ``([U], [I])``."""
        du = torch.zeros(self.num_users, device=self.device).index_add_(0, self.users, self.weights)
        di = torch.zeros(self.num_items, device=self.device).index_add_(0, self.items, self.weights)
        return du, di

    def normalized(self) -> SparseOperator:
        """:math:`\\tilde{R} = D_U^{-1/2} R D_I^{-1/2}` (``[U, I]``, with its transpose), cached.

        Isolated nodes get degree 0 and contribute nothing (no division by zero).
        """
        if self._norm is None:
            du, di = self.degrees()
            inv_u = du.pow(-0.5).masked_fill_(du == 0, 0.0)
            inv_i = di.pow(-0.5).masked_fill_(di == 0, 0.0)
            values = inv_u[self.users] * self.weights * inv_i[self.items]
            self._norm = SparseOperator.from_coo(self.users, self.items, values, (self.num_users, self.num_items))
        return self._norm

    def normalized_adjacency(self) -> torch.Tensor:
        """The full symmetric ``[(U+I), (U+I)]`` normalised adjacency as a CSR tensor (for interop)."""
        op = self.normalized()
        vals = op.matrix.values()
        coo_rows = expand_rows(op.matrix.crow_indices().diff())
        cols = op.matrix.col_indices() + self.num_users
        rows = torch.cat([coo_rows, cols])
        cols_all = torch.cat([cols, coo_rows])
        return csr_tensor(rows, cols_all, torch.cat([vals, vals]), (self.num_nodes, self.num_nodes))

    def propagate(self, user_x: torch.Tensor, item_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One normalised propagation step :math:`x' = \\tilde{A} x` in bipartite form.

        Shapes:
            user_x: ``[U, D]``; item_x: ``[I, D]``; returns ``([U, D], [I, D])``.
        """
        op = self.normalized()
        return op @ item_x, op.T @ user_x

    # ------------------------------------------------------------ new graphs
    def to(self, device: torch.device | str) -> "BipartiteGraph":
        """The same graph on ``device`` (the cached normalisation moves with it)."""
        device = torch.device(device)
        if device == self.device:
            return self
        out = self._derive(self.users.to(device), self.items.to(device), self.weights.to(device))
        if self._norm is not None:
            out._norm = self._norm.to(device)
        return out

    def _derive(self, users: torch.Tensor, items: torch.Tensor, weights: torch.Tensor) -> "BipartiteGraph":
        # Edges are already unique and sorted: skip the constructor's checks and unique().
        out = object.__new__(BipartiteGraph)
        out.users, out.items, out.weights = users, items, weights
        out.num_users, out.num_items, out._norm = self.num_users, self.num_items, None
        return out

    def drop_edges(self, p: float, generator: torch.Generator | None = None) -> "BipartiteGraph":
        """Edge dropout: a new graph keeping each edge independently with probability ``1 - p``.

        The normalisation of the new graph is recomputed from its own degrees (as in
        LightGCN's and SGL's edge dropout). ``generator`` must live on the graph's device.
        """
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"edge dropout p must be in [0, 1), got {p}")
        if p == 0.0:
            return self
        keep = torch.rand(self.num_edges, device=self.device, generator=generator) >= p
        return self._derive(self.users[keep], self.items[keep], self.weights[keep])

    def add_edges(self, users: torch.Tensor, items: torch.Tensor, weights: torch.Tensor | None = None) -> "BipartiteGraph":
        """A new graph with extra edges (existing ones are merged: weights summed)."""
        users = torch.as_tensor(users, dtype=torch.long, device=self.device)
        items = torch.as_tensor(items, dtype=torch.long, device=self.device)
        w = torch.ones(users.shape[0], device=self.device) if weights is None else torch.as_tensor(weights, device=self.device)
        return BipartiteGraph(
            torch.cat([self.users, users]), torch.cat([self.items, items]), self.num_users, self.num_items,
            torch.cat([self.weights, w.float()]),
        )

    def remove_edges(self, users: torch.Tensor, items: torch.Tensor) -> "BipartiteGraph":
        """A new graph without the given (user, item) edges (absent ones are ignored)."""
        users = torch.as_tensor(users, dtype=torch.long, device=self.device)
        items = torch.as_tensor(items, dtype=torch.long, device=self.device)
        key = self.users * self.num_items + self.items
        drop = torch.isin(key, users * self.num_items + items)
        return self._derive(self.users[~drop], self.items[~drop], self.weights[~drop])

    def has_edges(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``bool [M]``: whether each (user, item) pair is an edge (binary search, vectorised)."""
        key = self.users * self.num_items + self.items  # sorted by construction
        query = torch.as_tensor(users, device=self.device) * self.num_items + torch.as_tensor(items, device=self.device)
        if key.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(key, query).clamp_(max=key.numel() - 1)
        return key[pos] == query

    def csr_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(indptr [U+1], indices [E])`` of the user-to-item adjacency (edges are sorted by user)."""
        return row_pointers(self.users, self.num_users), self.items
