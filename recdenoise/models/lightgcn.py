"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation", SIGIR 2020)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..errors import ConfigError
from ..graph import BipartiteGraph
from .base import Recommender

__all__ = ["LightGCN", "propagate_layers"]


def propagate_layers(
    graph: BipartiteGraph, user_x: torch.Tensor, item_x: torch.Tensor, num_layers: int, alpha: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Weighted sum of ``num_layers`` LightGCN propagations.

    .. math::
        e^{(l+1)} = \tilde{A} e^{(l)}, \qquad e = \sum_{l=0}^{L} \alpha_l e^{(l)}

    Shapes:
        user_x: ``[U, D]``; item_x: ``[I, D]``; alpha: ``[L + 1]``; returns ``([U, D], [I, D])``.
    """
    out_u, out_i = user_x * alpha[0], item_x * alpha[0]
    u, i = user_x, item_x
    for layer in range(num_layers):
        u, i = graph.propagate(u, i)
        out_u = out_u + alpha[layer + 1] * u
        out_i = out_i + alpha[layer + 1] * i
    return out_u, out_i


class LightGCN(Recommender):
    r"""LightGCN: linear propagation of ID embeddings over the normalised bipartite graph.

    .. math::
        e_u = \sum_{l=0}^{L} \alpha_l e_u^{(l)}, \quad
        e_u^{(l+1)} = \sum_{i \in N_u} \frac{1}{\sqrt{|N_u|}\sqrt{|N_i|}} e_i^{(l)},
        \quad \hat{y}_{ui} = e_u^\top e_i

    Args:
        num_users: ``U``.
        num_items: ``I``.
        embedding_dim: ``D``.
        num_layers: ``L`` propagation layers.
        alpha: layer-combination weights ``[L + 1]`` (default :math:`1/(L+1)` each, as in the paper).
        init_std: std of the normal initialisation (0.1, LightGCN's reference code).

    Shapes:
        forward(graph) -> ``([U, D], [I, D])``. The graph is required and not stored.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: Optional[Sequence[float]] = None,
        init_std: float = 0.1,
    ):
        super().__init__(num_users, num_items, embedding_dim, init_std)
        if not isinstance(num_layers, int) or num_layers < 0:
            raise ConfigError(f"num_layers must be a non-negative integer, got {num_layers!r}")
        if alpha is None:
            alpha = [1.0 / (num_layers + 1)] * (num_layers + 1)
        if len(alpha) != num_layers + 1:
            raise ConfigError(f"alpha needs num_layers + 1 = {num_layers + 1} weights, got {len(alpha)}")
        self.num_layers = num_layers
        self.register_buffer("alpha", torch.tensor(list(alpha), dtype=torch.float32))
        self._add_embedding_tables()

    def forward(self, graph: Optional[BipartiteGraph] = None) -> tuple[torch.Tensor, torch.Tensor]:
        if graph is None:
            raise ConfigError("LightGCN needs the interaction graph: call model(graph)")
        self._check_graph(graph)
        return propagate_layers(graph, self.user_embedding.weight, self.item_embedding.weight, self.num_layers, self.alpha)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", num_layers={self.num_layers}"
