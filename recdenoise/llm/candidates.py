"""Candidate items for implicit-feedback augmentation: each user's top-k *unseen* items.

LLMRec asks the LLM to choose among a base recommender's top-k (k = 10) items for each
user. :func:`candidates_from_scores` turns any ``[U, I]`` score matrix (or a scoring
callable) into that list; :func:`popularity_candidates` is the model-free fallback
(most-interacted items the user has not seen, ties broken by a seeded permutation);
:func:`base_candidates` is what the CLI calls, with a ``scorer`` hook for a trained model.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..data import Interactions, Split
from ..errors import ConfigError

__all__ = ["candidates_from_scores", "popularity_candidates", "base_candidates", "Scorer"]

#: ``scorer(users int64 [B]) -> float [B, I]`` scores of every item for a batch of users.
Scorer = Callable[[np.ndarray], np.ndarray]


def candidates_from_scores(
    scores: np.ndarray | Scorer, seen: Interactions, k: int = 10, batch_size: int = 1024
) -> np.ndarray:
    """Top-``k`` unseen items per user, best first.

    Args:
        scores: ``float [U, I]`` matrix, or a :data:`Scorer` called per user batch.
        seen: interactions whose items are excluded (usually the training split).
        k: candidates per user; users with fewer unseen items are padded with ``-1``.

    Shapes:
        - output: ``int64 [U, k]``.
    """
    num_users, num_items = seen.shape
    if not 1 <= k:
        raise ConfigError(f"k must be >= 1, got {k}")
    csr = seen.csr
    out = np.full((num_users, k), -1, dtype=np.int64)
    kk = min(k, num_items)
    for start in range(0, num_users, batch_size):
        users = np.arange(start, min(start + batch_size, num_users), dtype=np.int64)
        block = scores(users) if callable(scores) else np.asarray(scores)[users]
        block = np.array(block, dtype=np.float64, copy=True)
        if block.shape != (users.size, num_items):
            raise ConfigError(
                f"scores for {users.size} users must have shape [{users.size}, {num_items}], got {list(block.shape)}"
            )
        sub = csr[users]
        rows = np.repeat(np.arange(users.size), np.diff(sub.indptr))
        block[rows, sub.indices] = -np.inf
        top = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
        order = np.argsort(-np.take_along_axis(block, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top[~np.isfinite(np.take_along_axis(block, top, axis=1))] = -1  # seen items never become candidates
        out[users, :kk] = top
    return out


def popularity_candidates(train: Interactions, k: int = 10, seed: int = 0) -> np.ndarray:
    """Most popular unseen items per user (ties broken by a permutation seeded with ``seed``).

    Shapes:
        - output: ``int64 [U, k]`` (``-1`` padding for users who have seen almost everything).
    """
    rng = np.random.default_rng(seed)
    tie = rng.random(train.num_items) * 0.5  # < 1: only reorders equal counts
    score = train.item_counts.astype(np.float64) + tie
    return candidates_from_scores(lambda users: np.broadcast_to(score, (users.size, train.num_items)), train, k)


def base_candidates(
    split: Split | Interactions, k: int = 10, seed: int = 0, scorer: Scorer | None = None
) -> np.ndarray:
    """Candidates for the augmentation job from the training interactions.

    With ``scorer`` (a trained base recommender, e.g. LightGCN's ``user @ item.T`` per batch)
    its top-k unseen items; without, :func:`popularity_candidates`.
    """
    train = split.train if isinstance(split, Split) else split
    if scorer is not None:
        return candidates_from_scores(scorer, train, k)
    return popularity_candidates(train, k, seed)
