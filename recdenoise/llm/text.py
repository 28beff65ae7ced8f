"""Item and user descriptions for prompts and text features, tolerant of which side columns exist.

Items are described from ``Interactions.item_info`` with whichever of ``title``,
``genres`` and ``year`` (or a year parsed from ``release_date``) are present; an item with
none of them is described by its raw id. Genres may be ``"A|B"`` strings or lists.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..data import Interactions

__all__ = ["item_records", "item_text", "user_records", "user_histories"]

_TITLE_COLUMNS = ("title", "name", "item_name")
_YEAR_RE = re.compile(r"(1[89]\d\d|20\d\d)")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _genres(value: Any) -> list[str]:
    if isinstance(value, str):
        parts = value.split("|") if "|" in value else value.split(",")
        return [p.strip() for p in parts if p.strip() and p.strip() != "(no genres listed)"]
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [str(v).strip() for v in value if not _missing(v)]
    return []


def _year(row: pd.Series) -> int | str | None:
    for col in ("year", "release_date", "release_year"):
        if col in row.index and not _missing(row[col]):
            value = row[col]
            if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
                return int(value)
            match = _YEAR_RE.search(str(value))
            return int(match.group(1)) if match else str(value)
    return None


def item_records(interactions: Interactions) -> list[dict]:
    """One JSON-able description per contiguous item: ``{"title", "genres", "year"}`` or ``{"item_id"}``.

    Shapes:
        - output: list of length ``I`` (index = contiguous item id).
    """
    ids = interactions.item_ids
    info = interactions.item_info
    out: list[dict] = []
    if info is None:
        return [{"item_id": str(i)} for i in ids]
    title_col = next((c for c in _TITLE_COLUMNS if c in info.columns), None)
    has_genres = "genres" in info.columns
    for idx, (_, row) in enumerate(info.reset_index(drop=True).iterrows()):
        rec: dict[str, Any] = {}
        if title_col is not None and not _missing(row[title_col]):
            rec["title"] = str(row[title_col])
        if has_genres and (g := _genres(row["genres"])):
            rec["genres"] = g
        if (y := _year(row)) is not None:
            rec["year"] = y
        if "title" not in rec:
            rec["item_id"] = str(ids[idx])
        out.append(rec)
    return out


#: ``user_info`` columns shown to the model as known facts (zip codes and ids are left out).
USER_FIELDS = ("age", "gender", "occupation")
_GENDER = {"m": "male", "f": "female"}


def user_records(interactions: Interactions) -> list[dict]:
    """Known demographics per contiguous user from ``user_info`` (:data:`USER_FIELDS` present and
    non-missing; ``M``/``F`` spelled ``male``/``female``); ``{}`` for every user without ``user_info``.

    Shapes:
        - output: list of length ``U`` (index = contiguous user id).
    """
    info = interactions.user_info
    if info is None:
        return [{} for _ in range(interactions.num_users)]
    cols = [c for c in USER_FIELDS if c in info.columns]
    out: list[dict] = []
    for _, row in info.reset_index(drop=True).iterrows():
        rec: dict[str, Any] = {}
        for col in cols:
            value = row[col]
            if _missing(value):
                continue
            if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer()):
                rec[col] = int(value)
            else:
                text = str(value).strip()
                rec[col] = _GENDER.get(text.lower(), text) if col == "gender" else text
        out.append(rec)
    return out


def item_text(record: dict) -> str:
    """Plain text of an item description: ``"Title (year). Genres: A, B."`` (for text embeddings)."""
    head = record.get("title") or f"item {record.get('item_id', '?')}"
    if "year" in record and str(record["year"]) not in head:
        head = f"{head} ({record['year']})"
    genres = record.get("genres")
    return f"{head}. Genres: {', '.join(genres)}." if genres else f"{head}."


def user_histories(interactions: Interactions, max_history: int) -> list[np.ndarray]:
    """Per user, the contiguous ids of the (at most ``max_history``) most recent items.

    "Most recent" uses ``timestamps`` when present, else the stored (item-index) order.

    Shapes:
        - output: list of length ``U``; entry ``u`` is ``int64 [<= max_history]``.
    """
    users, items = interactions.users, interactions.items
    if interactions.timestamps is not None:
        order = np.lexsort((interactions.timestamps, users))  # by user, then time
        users, items = users[order], items[order]
    bounds = np.zeros(interactions.num_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=interactions.num_users), out=bounds[1:])
    return [items[max(lo, hi - max_history) : hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
