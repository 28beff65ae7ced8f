r"""Seeded k-means in torch, and the self-supervised prototype score built on it.

Sorscher et al. ("Beyond neural scaling laws: beating power law scaling via data pruning",
NeurIPS 2022) cluster self-supervised embeddings with k-means and take an example's distance
to its nearest prototype (centroid) as its difficulty: no labels and no loss are needed.
"""

from __future__ import annotations

from typing import Optional

import torch

from ...errors import ConfigError

__all__ = ["kmeans", "interaction_features", "prototype_scores", "REPRESENTATIONS"]

REPRESENTATIONS = ("hadamard", "concat")
CHUNK = 16384


def _nearest(x: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(index [N], squared distance [N])`` of each row's nearest centroid, in chunks."""
    index = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    dist = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    c_sq = centroids.pow(2).sum(-1)
    for start in range(0, x.shape[0], CHUNK):
        part = x[start : start + CHUNK]
        d = part.pow(2).sum(-1, keepdim=True) - 2 * part @ centroids.T + c_sq  # [n, k]
        best = d.min(-1)
        index[start : start + CHUNK], dist[start : start + CHUNK] = best.indices, best.values.clamp_min(0)
    return index, dist


@torch.no_grad()
def kmeans(x: torch.Tensor, k: int, iters: int = 25, generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii, 2007), all on ``x``'s device.

    Seeding draws the first centroid uniformly and each next one with probability
    :math:`\propto D(x)^2`; every draw uses ``generator``, so the same seed gives the same
    assignment. Lloyd steps stop early once no assignment changes; an empty cluster keeps
    its centroid.

    Args:
        x: points ``[N, D]``.
        k: number of clusters (``1 <= k <= N``).
        iters: at most this many Lloyd steps.
        generator: on ``x``'s device.

    Returns:
        ``(centroids [k, D], assignment long [N], distance [N])`` with the Euclidean distance
        to the assigned (nearest) centroid.
    """
    n = x.shape[0]
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ConfigError(f"option k must be an integer in [1, {n}] (the number of points), got {k!r}")
    if iters < 1:
        raise ConfigError(f"option kmeans_iters must be >= 1, got {iters!r}")
    first = torch.randint(n, (1,), device=x.device, generator=generator)
    centroids = x[first]
    closest = (x - centroids).pow(2).sum(-1)
    for _ in range(1, k):
        weights = closest if float(closest.sum()) > 0 else torch.ones_like(closest)
        nxt = torch.multinomial(weights, 1, generator=generator)
        centroids = torch.cat([centroids, x[nxt]])
        closest = torch.minimum(closest, (x - x[nxt]).pow(2).sum(-1))
    assign, dist = _nearest(x, centroids)
    for _ in range(iters):
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype).unsqueeze(-1)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
        new_assign, dist = _nearest(x, centroids)
        if torch.equal(new_assign, assign):
            break
        assign = new_assign
    return centroids, assign, dist.sqrt()


def interaction_features(user_emb: torch.Tensor, item_emb: torch.Tensor, users: torch.Tensor, items: torch.Tensor, representation: str = "hadamard") -> torch.Tensor:
    r"""Unit-norm representation of each interaction: :math:`e_u \odot e_i` (``"hadamard"``, the
    terms whose sum is the score) or :math:`[e_u; e_i]` (``"concat"``).

    Shapes:
        user_emb ``[U, D]``, item_emb ``[I, D]``, users/items ``[N]`` -> ``[N, D]`` or ``[N, 2D]``.
    """
    if representation not in REPRESENTATIONS:
        raise ConfigError(f"option representation must be one of {list(REPRESENTATIONS)}, got {representation!r}")
    eu, ei = user_emb[users], item_emb[items]
    feats = eu * ei if representation == "hadamard" else torch.cat([eu, ei], dim=-1)
    return torch.nn.functional.normalize(feats, dim=-1)


@torch.no_grad()
def prototype_scores(features: torch.Tensor, k: int, iters: int = 25, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    r"""Distance of each interaction to its nearest k-means prototype (higher = atypical / harder).

    Shapes:
        features ``[N, D']`` -> ``[N]``.
    """
    return kmeans(features, k, iters, generator)[2]
