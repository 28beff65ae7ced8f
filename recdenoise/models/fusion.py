"""Side-feature fusion of LLMRec (Wei et al., "LLMRec: Large Language Models with Graph
Augmentation for Recommendation", WSDM 2024).

A :class:`FeatureFusion` wraps any :class:`~recdenoise.models.Recommender` (LightGCN, MF) and
adds projected, graph-propagated side features (LLM text embeddings of items, of LLM-generated
item attributes, of LLM-generated user profiles) to its ID representations, the way LLMRec's
``MM_Model.forward`` does: every feature matrix gets its own linear projection, is propagated
over the user-item graph, L2-normalised and added with a weight.

Differences from the reference code, all deliberate:

* Propagation uses the graph's symmetric normalisation :math:`D_U^{-1/2} R D_I^{-1/2}` (the
  reference's feature graphs scale rows only, ``csr_norm(mean_flag=True)``).
* The wrapped model computes the ID part (our LightGCN averages its layers; the reference's
  ID encoder applies a softmax on its last layer).
* Stored features are non-persistent buffers and are never written to: the reference's
  masking overwrites ``self.user_feats`` in place on every forward pass, so the stored user
  profiles drift towards their mean over training. Masking lives in
  :class:`recdenoise.losses.llmrec.FeatureMAE` and works on a copy.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..graph import BipartiteGraph
from .base import Recommender

__all__ = ["FeatureFusion"]

SIDES = ("user", "item")


def _projection(in_dim: int, proj_dim: int, out_dim: int) -> nn.Module:
    """``Linear(F, D)`` (LLMRec's ``*_trans``), or a two-layer MLP through ``proj_dim`` when it differs from ``D``."""
    if proj_dim == out_dim:
        layer = nn.Linear(in_dim, out_dim)
        nn.init.xavier_uniform_(layer.weight)  # as the reference initialises its *_trans layers
        nn.init.zeros_(layer.bias)
        return layer
    first, second = nn.Linear(in_dim, proj_dim), nn.Linear(proj_dim, out_dim)
    for layer in (first, second):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(first, nn.LeakyReLU(), second)


class FeatureFusion(Recommender):
    r"""ID embeddings of a wrapped recommender plus weighted, normalised side-feature embeddings.

    For each feature matrix :math:`X_k` (rows = users or items) a projection
    :math:`h_k = \mathrm{dropout}(W_k X_k + b_k) \in \mathbb{R}^{N \times D}` is propagated
    over the normalised graph :math:`\tilde{R}` (LLMRec's one-layer feature propagation).
    For an item feature:

    .. math::
        u_k = \tilde{R}\, h_k, \qquad i_k = \tilde{R}^\top u_k,

    and symmetrically (:math:`i_k = \tilde{R}^\top h_k`, :math:`u_k = \tilde{R}\, i_k`) for a
    user feature; ``feature_layers`` repeats the pair of hops. The final representations are

    .. math::
        e_u = e_u^{\mathrm{ID}} + \sum_k w_k \frac{u_k}{\lVert u_k \rVert_2}, \qquad
        e_i = e_i^{\mathrm{ID}} + \sum_k w_k \frac{i_k}{\lVert i_k \rVert_2},

    with :math:`(e^{\mathrm{ID}}_u, e^{\mathrm{ID}}_i)` = ``base(graph)``. Without a graph
    (or ``feature_layers=0``) a feature only reaches its own side, unpropagated:
    :math:`e_i \mathrel{+}= w_k\, h_k / \lVert h_k \rVert`.

    LLMRec's Netflix defaults weigh user profiles by 2.8 (``user_cat_rate``), item attributes
    by 0.005 (``item_cat_rate``) and item text/image features by 0.02 (``model_cat_rate``)
    against a xavier-initialised ID table; tune ``feature_weight`` on validation for ours.

    Args:
        base: the ID model (LightGCN, MF, any :class:`Recommender`).
        user_features: user feature matrices ``[U, F_k]`` (e.g. LLM user-profile embeddings).
        item_features: item feature matrices ``[I, F_k]`` (item text, augmented attributes).
        proj_dim: width of the projection; ``None`` or ``D`` gives one ``Linear(F_k, D)``
            as in LLMRec, anything else a ``Linear -> LeakyReLU -> Linear`` MLP into ``D``.
        dropout: dropout on projected features (LLMRec's ``drop_rate``).
        feature_weight: one weight for all features, or one per feature in the order
            user features then item features.
        feature_layers: pairs of propagation hops for features (LLMRec: 1; 0 = none).
        residual: also add the unpropagated projection on the feature's own side (our
            extension, off by default): without it a node with no training edge (a cold
            item) receives no feature signal, as in the reference.
        projection_groups: one group id per feature matrix (user features, then item
            features); matrices with the same id share one projection (their widths must
            agree). LLMRec embeds each item-attribute field separately and projects every field
            with one ``item_trans``; each field is still propagated, normalised and weighted on
            its own. Default: one projection per matrix.

    Shapes:
        forward(graph) -> ``([U, D], [I, D])``; encode_feature(k, graph, x) -> ``([U, D] | None, [I, D] | None)``.
    """

    def __init__(
        self,
        base: Recommender,
        user_features: Sequence[torch.Tensor] = (),
        item_features: Sequence[torch.Tensor] = (),
        *,
        proj_dim: Optional[int] = None,
        dropout: float = 0.0,
        feature_weight: float | Sequence[float] = 0.1,
        feature_layers: int = 1,
        residual: bool = False,
        projection_groups: Optional[Sequence[int]] = None,
    ):
        if not isinstance(base, Recommender):
            raise ConfigError(f"base must be a Recommender (LightGCN, MF, ...), got {type(base).__name__}")
        super().__init__(base.num_users, base.num_items, base.embedding_dim)
        self.base = base
        features = [("user", x) for x in user_features] + [("item", x) for x in item_features]
        if not features:
            raise ConfigError("FeatureFusion needs at least one user or item feature matrix")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
        if not isinstance(feature_layers, int) or feature_layers < 0:
            raise ConfigError(f"feature_layers must be a non-negative integer, got {feature_layers!r}")
        proj_dim = self.embedding_dim if proj_dim is None else proj_dim
        if not isinstance(proj_dim, int) or proj_dim <= 0:
            raise ConfigError(f"proj_dim must be a positive integer, got {proj_dim!r}")
        weights = [float(feature_weight)] * len(features) if isinstance(feature_weight, (int, float)) else [float(w) for w in feature_weight]
        if len(weights) != len(features):
            raise ConfigError(
                f"feature_weight has {len(weights)} values but there are {len(features)} feature matrices "
                f"({len(user_features)} user + {len(item_features)} item); give one weight or one per matrix"
            )
        self.sides: tuple[str, ...] = tuple(side for side, _ in features)
        groups = list(range(len(features))) if projection_groups is None else [int(g) for g in projection_groups]
        if len(groups) != len(features):
            raise ConfigError(f"projection_groups has {len(groups)} ids but there are {len(features)} feature matrices")
        order = list(dict.fromkeys(groups))  # group ids in order of first appearance
        self.projection_index = [order.index(g) for g in groups]  # feature k -> projections[...]
        self.projections = nn.ModuleList()
        for k, (side, x) in enumerate(features):
            x = x.detach().to(torch.float32) if isinstance(x, torch.Tensor) else torch.tensor(np.asarray(x), dtype=torch.float32)
            rows = self.num_users if side == "user" else self.num_items
            if x.dim() != 2 or x.shape[0] != rows or x.shape[1] == 0:
                raise ConfigError(
                    f"{side} feature matrix {k} has shape {tuple(x.shape)}; expected [{rows}, F] aligned to the "
                    f"contiguous {side} ids of the training data"
                )
            if not torch.isfinite(x).all():
                raise ConfigError(f"{side} feature matrix {k} contains NaN or inf values")
            # Non-persistent: features are data reloaded from the augment dir, not learned state,
            # and would bloat every checkpoint and best-weights copy. Cloned so the caller's array
            # and this buffer never alias.
            self.register_buffer(f"feature_{k}", x.clone(), persistent=False)
            slot = self.projection_index[k]
            if slot == len(self.projections):
                self.projections.append(_projection(x.shape[1], proj_dim, self.embedding_dim))
            elif self.feature(self.projection_index.index(slot)).shape[1] != x.shape[1]:
                raise ConfigError(f"feature matrices sharing projection group {groups[k]} must have equal widths; matrix {k} has {x.shape[1]}")
        self.register_buffer("feature_weights", torch.tensor(weights, dtype=torch.float32))
        self.dropout = nn.Dropout(dropout)
        self.feature_layers = feature_layers
        self.residual = residual

    @property
    def num_features(self) -> int:
        return len(self.sides)

    def feature(self, k: int) -> torch.Tensor:
        """The stored feature matrix ``k`` (``[U, F_k]`` or ``[I, F_k]``); read-only by contract."""
        return getattr(self, f"feature_{k}")

    def feature_dims(self) -> list[int]:
        """``[F_0, F_1, ...]`` in feature order (user features, then item features)."""
        return [self.feature(k).shape[1] for k in range(self.num_features)]

    def encode_feature(
        self, k: int, graph: Optional[BipartiteGraph] = None, x: Optional[torch.Tensor] = None
    ) -> tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Project (and propagate) feature ``k``; ``x`` replaces the stored matrix (e.g. a masked copy).

        Returns:
            ``(user part [U, D] or None, item part [I, D] or None)``, unnormalised; the side
            that the feature does not reach (no graph) is ``None``.
        """
        side = self.sides[k]
        x = self.feature(k) if x is None else x
        h = self.dropout(self.projections[self.projection_index[k]](x))
        if graph is None or self.feature_layers == 0:
            return (h, None) if side == "user" else (None, h)
        op = graph.normalized()
        own = h
        for _ in range(self.feature_layers):
            if side == "item":
                other = op @ own  # items -> users
                own = op.T @ other  # users -> items
            else:
                other = op.T @ own
                own = op @ other
        if self.residual:
            own = own + h
        return (own, other) if side == "user" else (other, own)

    def forward(self, graph: Optional[BipartiteGraph] = None) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_graph(graph)
        user_emb, item_emb = self.base(graph)
        for k in range(self.num_features):
            user_part, item_part = self.encode_feature(k, graph)
            weight = self.feature_weights[k]
            if user_part is not None:
                user_emb = user_emb + weight * F.normalize(user_part, p=2, dim=1)
            if item_part is not None:
                item_emb = item_emb + weight * F.normalize(item_part, p=2, dim=1)
        return user_emb, item_emb

    def ego_embeddings(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The wrapped model's layer-0 ID embeddings (features are not L2-regularised, as in LLMRec's BPR term)."""
        return self.base.ego_embeddings(users, items)

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features} (sides={list(self.sides)}, dims={self.feature_dims()}), "
            f"feature_layers={self.feature_layers}, residual={self.residual}"
        )
