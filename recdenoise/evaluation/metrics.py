"""Top-k ranking metrics over a hit matrix.

Every metric is a pure, vectorised function of

* ``hits``: ``bool`` (or ``float`` 0/1) ``[B, K]``; ``hits[b, r]`` says whether the item ranked
  at position ``r`` (0-based) for user ``b`` is one of the user's targets ``T_b``;
* ``num_targets``: integer ``[B]``, ``|T_b|`` (targets outside the top ``K`` count too),

and returns one value per user (``float [B]``) on the device of ``hits``. Users with no
targets get ``0`` from every metric; averaging code must skip them, as
:class:`MetricAccumulator` does.

:class:`MetricAccumulator` keeps O(1) state (sums and a user count), in the style of PyTorch
Geometric's link-prediction metrics: ``update`` per batch, ``compute`` at the end, ``reset``.
NDCG is the standard binary-relevance definition (ideal DCG over ``min(|T_u|, k)``
positions), not LLMRec's variant.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = [
    "recall_at_k",
    "precision_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "mrr_at_k",
    "METRICS",
    "check_ks",
    "check_metrics",
    "per_user_metrics",
    "MetricAccumulator",
]

logger = logging.getLogger(__name__)


def _check(hits: Tensor, num_targets: Tensor, k: int) -> None:
    if not isinstance(hits, Tensor) or hits.dim() != 2:
        shape = list(hits.shape) if isinstance(hits, Tensor) else type(hits).__name__
        raise ConfigError(f"hits must be a 2-D tensor [B, K], got {shape}")
    if not isinstance(num_targets, Tensor) or num_targets.shape != hits.shape[:1]:
        shape = list(num_targets.shape) if isinstance(num_targets, Tensor) else type(num_targets).__name__
        raise ConfigError(f"num_targets must be a tensor of shape [B]={[hits.shape[0]]} matching hits, got {shape}")
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"k must be a positive integer, got k={k!r}")
    if k > hits.shape[1]:
        raise ConfigError(f"k={k} exceeds the number of ranked positions K={hits.shape[1]} in hits; rank more items")


def _float_dtype(hits: Tensor) -> torch.dtype:
    return hits.dtype if hits.is_floating_point() else torch.float32


def _discount(k: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``1 / log2(r + 2)`` for ranks ``r = 0..k-1``."""
    return 1.0 / torch.log2(torch.arange(k, device=device, dtype=dtype) + 2.0)


def recall_at_k(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Recall@k: the share of a user's targets found in the top ``k``.

    .. math::
        \mathrm{Recall@k}(u) = \frac{|\mathrm{top}_k(u) \cap T_u|}{|T_u|}

    Shapes:
        - hits: ``[B, K]``, ``K >= k``
        - num_targets: ``[B]``
        - output: ``[B]`` (``0`` where ``|T_u| = 0``)
    """
    _check(hits, num_targets, k)
    dtype = _float_dtype(hits)
    found = hits[:, :k].to(dtype).sum(dim=1)
    return found / num_targets.clamp(min=1).to(dtype)


def precision_at_k(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Precision@k: the share of the top ``k`` that are targets.

    .. math::
        \mathrm{Precision@k}(u) = \frac{|\mathrm{top}_k(u) \cap T_u|}{k}

    Shapes:
        - hits: ``[B, K]``, ``K >= k``
        - num_targets: ``[B]`` (only checked for shape)
        - output: ``[B]``
    """
    _check(hits, num_targets, k)
    return hits[:, :k].to(_float_dtype(hits)).sum(dim=1) / k


def ndcg_at_k(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""NDCG@k with binary relevance (Järvelin & Kekäläinen, 2002).

    .. math::
        \mathrm{DCG@k}(u) = \sum_{r=0}^{k-1} \frac{\mathbb{1}[\mathrm{item}_r \in T_u]}{\log_2(r + 2)},
        \qquad
        \mathrm{NDCG@k}(u) = \frac{\mathrm{DCG@k}(u)}{\sum_{r=0}^{\min(|T_u|, k) - 1} 1 / \log_2(r + 2)}

    The ideal DCG places all targets first, so NDCG is 1 exactly when the first
    ``min(|T_u|, k)`` positions are hits.

    Shapes:
        - hits: ``[B, K]``, ``K >= k``
        - num_targets: ``[B]``
        - output: ``[B]`` (``0`` where ``|T_u| = 0``)
    """
    _check(hits, num_targets, k)
    dtype = _float_dtype(hits)
    discount = _discount(k, dtype, hits.device)
    dcg = (hits[:, :k].to(dtype) * discount).sum(dim=1)
    ideal_cum = discount.cumsum(dim=0)
    num_ideal = num_targets.clamp(min=0, max=k)
    idcg = ideal_cum[(num_ideal - 1).clamp(min=0)]
    has_targets = num_ideal > 0
    return torch.where(has_targets, dcg / torch.where(has_targets, idcg, torch.ones_like(idcg)), torch.zeros_like(dcg))


def hit_rate_at_k(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Hit rate@k (HR@k): whether at least one target is in the top ``k``.

    .. math::
        \mathrm{HR@k}(u) = \mathbb{1}\left[|\mathrm{top}_k(u) \cap T_u| > 0\right]

    Shapes:
        - hits: ``[B, K]``, ``K >= k``
        - num_targets: ``[B]`` (only checked for shape)
        - output: ``[B]``
    """
    _check(hits, num_targets, k)
    return (hits[:, :k] > 0).any(dim=1).to(_float_dtype(hits))


def mrr_at_k(hits: Tensor, num_targets: Tensor, k: int) -> Tensor:
    r"""Mean reciprocal rank@k (per user): the inverse 1-based rank of the first hit.

    .. math::
        \mathrm{MRR@k}(u) = \begin{cases} 1 / (r_u + 1) & r_u < k \\ 0 & \text{otherwise} \end{cases},
        \qquad r_u = \min\{r : \mathrm{item}_r \in T_u\}

    Shapes:
        - hits: ``[B, K]``, ``K >= k``
        - num_targets: ``[B]`` (only checked for shape)
        - output: ``[B]``
    """
    _check(hits, num_targets, k)
    dtype = _float_dtype(hits)
    top = hits[:, :k] > 0
    # argmax over a 0/1 row returns the first maximum: the first hit (or 0 when none).
    first = top.to(torch.uint8).argmax(dim=1)
    return torch.where(top.any(dim=1), 1.0 / (first.to(dtype) + 1.0), torch.zeros((), dtype=dtype, device=hits.device))


METRICS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "recall": recall_at_k,
    "precision": precision_at_k,
    "ndcg": ndcg_at_k,
    "hit_rate": hit_rate_at_k,
    "mrr": mrr_at_k,
}
"""Metric name -> function; the names used in result keys such as ``"recall@20"``."""


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """Validate cut-offs: a non-empty collection of distinct positive integers (returned sorted)."""
    try:
        ks_t = tuple(ks)
    except TypeError:
        raise ConfigError(f"ks must be a collection of positive integers, e.g. (10, 20), got ks={ks!r}") from None
    if not ks_t or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0 for k in ks_t):
        raise ConfigError(f"ks must be a non-empty collection of positive integers, e.g. (10, 20), got ks={ks!r}")
    ks_t = tuple(int(k) for k in ks_t)
    if len(set(ks_t)) != len(ks_t):
        raise ConfigError(f"ks must not repeat a cut-off, got ks={ks!r}")
    return tuple(sorted(ks_t))


def check_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    """Validate metric names against :data:`METRICS` (order kept, duplicates rejected)."""
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in names if m not in METRICS]
    if not names or unknown:
        raise ConfigError(f"metrics={metrics!r}: unknown or empty; choose from {sorted(METRICS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"metrics must not repeat a name, got metrics={metrics!r}")
    return names


def per_user_metrics(
    hits: Tensor, num_targets: Tensor, ks: Sequence[int], metrics: Sequence[str] = tuple(METRICS)
) -> dict[str, Tensor]:
    """Every requested metric at every cut-off, per user.

    Returns:
        ``{"recall@10": Tensor[B], ...}``, metric-major then ascending ``k``.

    Shapes:
        - hits: ``[B, K]`` with ``K >= max(ks)``
        - num_targets: ``[B]``
    """
    ks = check_ks(ks)
    names = check_metrics(metrics)
    return {f"{name}@{k}": METRICS[name](hits, num_targets, k) for name in names for k in ks}


class MetricAccumulator:
    """Averages ranking metrics over users, batch by batch, with O(1) state.

    Users whose ``num_targets`` is 0 are skipped (they neither add to the sums nor to the
    user count), so the result is the mean over users with at least one target.

    Args:
        ks: cut-offs, e.g. ``(10, 20)``.
        metrics: names from :data:`METRICS`.

    Example::

        acc = MetricAccumulator(ks=(10, 20), metrics=("recall", "ndcg"))
        for hits, num_targets in batches:  # hits [B, K >= 20]
            acc.update(hits, num_targets)
        acc.compute()  # {"recall@10": ..., "recall@20": ..., "ndcg@10": ..., "ndcg@20": ...}
    """

    def __init__(self, ks: Sequence[int] = (10, 20), metrics: Sequence[str] = tuple(METRICS)) -> None:
        self.ks = check_ks(ks)
        self.metrics = check_metrics(metrics)
        self.reset()

    @property
    def keys(self) -> list[str]:
        """Result keys, e.g. ``["recall@10", "recall@20", ...]``."""
        return [f"{name}@{k}" for name in self.metrics for k in self.ks]

    def reset(self) -> None:
        """Forget every update."""
        self._sums: dict[str, float] = {key: 0.0 for key in self.keys}
        self.num_users = 0

    def update(self, hits: Tensor, num_targets: Tensor) -> None:
        """Add a batch of users.

        Shapes:
            - hits: ``[B, K]`` with ``K >= max(ks)``
            - num_targets: ``[B]``
        """
        _check(hits, num_targets, max(self.ks))
        keep = num_targets > 0
        if not bool(keep.all()):
            hits, num_targets = hits[keep], num_targets[keep]
        if hits.shape[0] == 0:
            return
        values = per_user_metrics(hits, num_targets, self.ks, self.metrics)
        stacked = torch.stack([values[key] for key in self.keys])  # [M, B]
        # Sum in float64 where the device supports it, so the totals do not depend on how
        # users were batched (up to rounding far below reporting precision).
        sums = stacked.sum(dim=1, dtype=torch.float32 if stacked.device.type == "mps" else torch.float64)
        for key, value in zip(self.keys, sums.tolist()):  # one device sync per batch
            self._sums[key] += value
        self.num_users += int(hits.shape[0])

    def compute(self) -> dict[str, float]:
        """Mean of every metric over the users seen so far (``nan`` if none had targets)."""
        if self.num_users == 0:
            logger.warning("MetricAccumulator.compute() called before any user with targets was added; returning nan")
            return {key: math.nan for key in self.keys}
        return {key: total / self.num_users for key, total in self._sums.items()}

    def __repr__(self) -> str:
        return f"MetricAccumulator(ks={self.ks}, metrics={self.metrics}, num_users={self.num_users})"
