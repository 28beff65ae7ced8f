"""LLMRec's three augmentations as chat tasks, and their outcomes as tables.

a. **Implicit feedback** (LLMRec's "LLM-based implicit feedback augmentation"): for user
   ``u`` with history ``H_u`` and candidates ``C_u = (c_0..c_{k-1})`` (a base recommender's
   top-k unseen items) the model names ``j^+ != j^-``; the edge is the BPR triple
   ``(u, c_{j^+}, c_{j^-})``. Nothing else in an answer can reach the graph.
b. **Item attributes**: typed side information per item (default director, country, language).
c. **User profiles**: typed profile per user (age, gender, liked/disliked genres, ...).
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from .parsing import parse_attributes, parse_preference_pair
from .prompts import (
    IMPLICIT_PROMPT_VERSION,
    ITEM_ATTRIBUTES_PROMPT_VERSION,
    USER_PROFILE_PROMPT_VERSION,
    implicit_feedback_messages,
    item_attribute_messages,
    user_profile_messages,
)
from .runner import ChatTask, TaskOutcome
from .schemas import attributes_schema, implicit_feedback_schema

__all__ = [
    "validate_candidates",
    "implicit_feedback_tasks",
    "item_attribute_tasks",
    "user_profile_tasks",
    "edges_from_outcomes",
    "attributes_table",
]


def validate_candidates(candidates: np.ndarray, num_users: int, num_items: int) -> np.ndarray:
    """Check ``int [U, k]`` candidates: ids in ``[0, I)`` or ``-1`` (padding), no repeats in a row.

    Shapes:
        - candidates: ``[U, k]`` with ``k >= 2``.
    """
    cand = np.asarray(candidates)
    if cand.ndim != 2 or cand.shape[0] != num_users or cand.shape[1] < 2:
        raise DataError(f"candidates must have shape [num_users={num_users}, k>=2], got {list(cand.shape)}")
    if not np.issubdtype(cand.dtype, np.integer):
        raise DataError(f"candidates must hold integer item indices, got dtype {cand.dtype}")
    cand = cand.astype(np.int64)
    if ((cand < -1) | (cand >= num_items)).any():
        raise DataError(f"candidates hold item indices outside [0, {num_items}) (use -1 only as padding)")
    srt = np.sort(cand, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    if dup.any():
        raise DataError(f"candidate rows repeat an item, e.g. user {int(np.flatnonzero(dup.any(1))[0])}")
    return cand


def _parse_pair(text: str, k: int) -> tuple[int, int]:
    return parse_preference_pair(text, k)


def implicit_feedback_tasks(
    users: Sequence[int],
    histories: Sequence[np.ndarray],
    candidates: np.ndarray,
    records: Sequence[dict],
    users_info: Sequence[dict] | None = None,
) -> list[ChatTask]:
    """One task per user with at least two candidates; the value is ``(liked, disliked)`` positions.

    ``users_info[u]``: known demographics of user ``u`` (:func:`~recdenoise.llm.text.user_records`)."""
    tasks = []
    for u in users:
        row = candidates[u][candidates[u] >= 0]
        if row.size < 2:
            continue
        messages = implicit_feedback_messages(
            [records[i] for i in histories[u]], [records[i] for i in row], users_info[u] if users_info else None
        )
        tasks.append(
            ChatTask(
                f"implicit:{u}",
                "implicit_feedback",
                IMPLICIT_PROMPT_VERSION,
                tuple(messages),
                functools.partial(_parse_pair, k=int(row.size)),
                implicit_feedback_schema(int(row.size)),
                "implicit_feedback",
            )
        )
    return tasks


def item_attribute_tasks(items: Sequence[int], records: Sequence[dict], schema: Mapping[str, str]) -> list[ChatTask]:
    """One task per item; the value is the validated attribute dict."""
    parse = functools.partial(parse_attributes, schema=dict(schema))
    json_schema = attributes_schema(schema)
    return [
        ChatTask(
            f"item:{i}",
            "item_attributes",
            ITEM_ATTRIBUTES_PROMPT_VERSION,
            tuple(item_attribute_messages(records[i], schema)),
            parse,
            json_schema,
            "item_attributes",
        )
        for i in items
    ]


def user_profile_tasks(
    users: Sequence[int],
    histories: Sequence[np.ndarray],
    records: Sequence[dict],
    schema: Mapping[str, str],
    users_info: Sequence[dict] | None = None,
) -> list[ChatTask]:
    """One task per user with a non-empty history; the value is the validated profile dict."""
    parse = functools.partial(parse_attributes, schema=dict(schema))
    json_schema = attributes_schema(schema)
    return [
        ChatTask(
            f"user:{u}",
            "user_profile",
            USER_PROFILE_PROMPT_VERSION,
            tuple(
                user_profile_messages([records[i] for i in histories[u]], schema, users_info[u] if users_info else None)
            ),
            parse,
            json_schema,
            "user_profile",
        )
        for u in users
        if len(histories[u])
    ]


def _index_of(task_id: str) -> int:
    return int(task_id.rsplit(":", 1)[1])


def edges_from_outcomes(outcomes: Sequence[TaskOutcome], candidates: np.ndarray) -> np.ndarray:
    """``int64 [E, 3]`` rows ``(user, pos_item, neg_item)`` sorted by user, from successful outcomes.

    Re-checks (vectorised) that ``pos`` and ``neg`` are in the user's candidate row and differ;
    a violation is a bug, not a bad answer, and raises.
    """
    ok = [o for o in outcomes if o.ok and o.kind == "implicit_feedback"]
    if not ok:
        return np.zeros((0, 3), dtype=np.int64)
    users = np.array([_index_of(o.task_id) for o in ok], dtype=np.int64)
    pairs = np.array([o.value for o in ok], dtype=np.int64)
    rows = candidates[users]
    # The prompt listed each row without its -1 padding: compact rows the same way (stable).
    compact = np.take_along_axis(rows, np.argsort(rows < 0, axis=1, kind="stable"), axis=1)
    take = np.arange(len(users))
    pos, neg = compact[take, pairs[:, 0]], compact[take, pairs[:, 1]]
    edges = np.stack([users, pos, neg], axis=1)
    in_row = lambda items: (rows == items[:, None]).any(axis=1)  # noqa: E731
    if not (in_row(pos).all() and in_row(neg).all() and (pos != neg).all() and (pos >= 0).all() and (neg >= 0).all()):
        raise AssertionError("an augmented edge left its user's candidate list; this is a bug")
    return edges[np.argsort(users, kind="stable")]


def attributes_table(
    outcomes: Sequence[TaskOutcome], kind: str, index_name: str, raw_ids: np.ndarray, schema: Mapping[str, str]
) -> pd.DataFrame:
    """One row per successful ``kind`` outcome: ``index_name``, ``<index_name>_id``, one column per attribute.

    List attributes stay lists (the CSV writer joins them with ``"|"``); rows are sorted by index.
    """
    ok = sorted((o for o in outcomes if o.ok and o.kind == kind), key=lambda o: _index_of(o.task_id))
    idx = np.array([_index_of(o.task_id) for o in ok], dtype=np.int64)
    data: dict[str, object] = {index_name: idx, f"{index_name}_id": raw_ids[idx] if idx.size else raw_ids[:0]}
    for name in schema:
        data[name] = [o.value[name] for o in ok]
    return pd.DataFrame(data)
