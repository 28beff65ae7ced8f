"""Preprocessing of interaction tables: dedupe, rating threshold, k-core, compaction.

These functions turn the raw table a reader returns into the implicit-feedback table the
rest of the pipeline consumes:

- :func:`dedupe` (on a raw ``DataFrame``; the readers call it) keeps one row per
  (user, item) pair and warns about the others;
- :func:`to_implicit` keeps interactions whose rating passes a threshold;
- :func:`k_core` keeps the largest sub-table in which every user has at least ``user_k``
  and every item at least ``item_k`` interactions, then re-indexes;
- :func:`compact` drops users / items without interactions and re-indexes.

Re-indexing always keeps the raw ids (``user_ids`` / ``item_ids``) and the side-information
rows (``user_info`` / ``item_info``) aligned with the new contiguous indices.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from .interactions import Interactions

__all__ = ["DuplicateInteractionsWarning", "dedupe", "to_implicit", "k_core", "compact"]

logger = logging.getLogger(__name__)


class DuplicateInteractionsWarning(UserWarning):
    """A file holds the same (user, item) pair more than once; all but one row were dropped."""


def dedupe(
    df: pd.DataFrame,
    user_col: str = "user",
    item_col: str = "item",
    timestamp_col: str | None = None,
    source: str | Path | None = None,
) -> pd.DataFrame:
    """Keep one row per (user, item) pair: the latest by ``timestamp_col``, else the last row.

    Emits a :class:`DuplicateInteractionsWarning` naming ``source``, the number of dropped
    rows and one example pair when rows are dropped. Survivors keep their original order.

    Shapes:
        - ``df``: ``[N, C]`` raw rows; returns ``[N', C]`` with ``N' <= N``.
    """
    dup = df.duplicated([user_col, item_col], keep=False)
    if not dup.any():
        return df
    # a stable sort keeps file order among equal timestamps, so the later row still wins
    ordered = df.sort_values(timestamp_col, kind="stable") if timestamp_col is not None else df
    kept = ordered.drop_duplicates([user_col, item_col], keep="last").sort_index()
    first = dup.to_numpy().argmax()  # per-column lookup keeps each column's dtype (no 1.0 for an int id)
    example = {user_col: df[user_col].iloc[first], item_col: df[item_col].iloc[first]}
    where = f"{source}: " if source is not None else ""
    rule = f"the latest by {timestamp_col!r}" if timestamp_col is not None else "the last row"
    warnings.warn(
        f"{where}{len(df) - len(kept)} duplicate (user, item) rows dropped (e.g. user {_show(example[user_col])}, "
        f"item {_show(example[item_col])}); kept {rule} of each pair",
        DuplicateInteractionsWarning,
        stacklevel=2,
    )
    return kept


def _show(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def to_implicit(interactions: Interactions, threshold: float | None) -> Interactions:
    """Keep the interactions with ``rating >= threshold`` (same id space, ratings kept).

    ``threshold=None`` keeps every interaction: each rating, however low, counts as an
    implicit positive (the library default for MovieLens). A threshold on a table without
    ratings is a :class:`DataError`.

    Shapes:
        - ``interactions``: ``N`` rows; returns ``N' <= N`` rows over the same ``(U, I)``.
    """
    if threshold is None:
        return interactions
    if interactions.ratings is None:
        raise DataError(
            f"rating_threshold={threshold!r} was given but the interactions have no ratings "
            "(implicit-only dataset); use rating_threshold=None"
        )
    return interactions.subset(interactions.ratings >= float(threshold))


def k_core(interactions: Interactions, user_k: int, item_k: int | None = None) -> Interactions:
    r"""Iterative k-core filter, then re-index to contiguous ids.

    Repeatedly drops interactions of users with fewer than ``user_k`` and of items with
    fewer than ``item_k`` interactions until every remaining user and item passes (the
    unique maximal such sub-table). The result is :func:`compact`-ed: raw ids and side
    information follow the surviving indices.

    Args:
        interactions: input table.
        user_k: minimum interactions per user (``<= 1`` disables the user condition).
        item_k: minimum interactions per item; defaults to ``user_k``.

    Shapes:
        - returns ``N' <= N`` rows over ``(U', I')`` with ``U' <= U``, ``I' <= I``.
    """
    item_k = user_k if item_k is None else item_k
    for name, k in (("user_k", user_k), ("item_k", item_k)):
        if not isinstance(k, (int, np.integer)) or k < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {k!r}")
    users, items = interactions.users, interactions.items
    keep = np.ones(len(interactions), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        u_count = np.bincount(users[keep], minlength=interactions.num_users)
        i_count = np.bincount(items[keep], minlength=interactions.num_items)
        new_keep = keep & (u_count[users] >= user_k) & (i_count[items] >= item_k)
        if new_keep.sum() == keep.sum():
            break
        keep = new_keep
    logger.debug(
        "k-core(%d, %d): %d -> %d interactions in %d rounds", user_k, item_k, len(interactions), keep.sum(), rounds
    )
    return compact(interactions.subset(keep))


def compact(interactions: Interactions) -> Interactions:
    """Drop users and items without interactions and re-index both to ``0..U'-1`` / ``0..I'-1``.

    The relative order of the surviving indices (hence of the raw ids) is kept;
    ``user_ids``, ``item_ids``, ``user_info`` and ``item_info`` are sub-selected to match.

    Shapes:
        - returns ``N`` rows over ``(U', I')``, ``U' = #active users``, ``I' = #active items``.
    """
    active_u = interactions.user_counts > 0
    active_i = interactions.item_counts > 0
    if active_u.all() and active_i.all():
        return interactions
    new_u = np.cumsum(active_u) - 1  # old index -> new index (valid where active)
    new_i = np.cumsum(active_i) - 1
    return interactions.replace(
        users=new_u[interactions.users],
        items=new_i[interactions.items],
        num_users=int(active_u.sum()),
        num_items=int(active_i.sum()),
        user_ids=interactions.user_ids[active_u],
        item_ids=interactions.item_ids[active_i],
        user_info=_select_rows(interactions.user_info, active_u),
        item_info=_select_rows(interactions.item_info, active_i),
    )


def _select_rows(info: pd.DataFrame | None, mask: np.ndarray) -> pd.DataFrame | None:
    return None if info is None else info.iloc[np.flatnonzero(mask)].reset_index(drop=True)
