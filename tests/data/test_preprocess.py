"""Preprocessing: dedupe, rating threshold, k-core (against a brute-force reference), compaction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recdenoise.data import DuplicateInteractionsWarning, Interactions, compact, dedupe, k_core, to_implicit
from recdenoise.errors import ConfigError, DataError


def _random(num_users: int = 40, num_items: int = 30, n: int = 300, seed: int = 0, info: bool = True) -> Interactions:
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, num_users * num_items, n))
    return Interactions(
        keys // num_items, keys % num_items, num_users, num_items,
        user_ids=np.arange(num_users) * 10, item_ids=np.array([f"i{k}" for k in range(num_items)]),
        ratings=rng.integers(1, 6, keys.size), timestamps=rng.integers(0, 1000, keys.size),
        user_info=pd.DataFrame({"user_id": np.arange(num_users) * 10}) if info else None,
        item_info=pd.DataFrame({"item_id": [f"i{k}" for k in range(num_items)]}) if info else None,
    )  # fmt: skip


def test_dedupe_keeps_latest_by_timestamp_and_warns() -> None:
    df = pd.DataFrame({"user": [1, 1, 2, 1], "item": [5, 5, 5, 5], "ts": [30, 10, 1, 20], "r": [1, 2, 3, 4]})
    with pytest.warns(DuplicateInteractionsWarning, match=r"src\.csv: 2 duplicate .*user 1, item 5"):
        out = dedupe(df, timestamp_col="ts", source="src.csv")
    assert out["r"].tolist() == [1, 3]
    with pytest.warns(DuplicateInteractionsWarning, match="kept the last row"):
        assert dedupe(df)["r"].tolist() == [3, 4]
    clean = df.iloc[[0, 2]]
    assert dedupe(clean) is clean  # no copy, no warning


def test_to_implicit() -> None:
    x = _random()
    assert to_implicit(x, None) is x
    kept = to_implicit(x, 4)
    assert kept.shape == x.shape and (kept.ratings >= 4).all() and len(kept) == int((x.ratings >= 4).sum())
    with pytest.raises(DataError, match="no ratings"):
        to_implicit(x.replace(ratings=None), 3.0)


def _k_core_reference(pairs: set[tuple[int, int]], user_k: int, item_k: int) -> set[tuple[int, int]]:
    while True:
        u_count: dict[int, int] = {}
        i_count: dict[int, int] = {}
        for u, i in pairs:
            u_count[u] = u_count.get(u, 0) + 1
            i_count[i] = i_count.get(i, 0) + 1
        kept = {(u, i) for u, i in pairs if u_count[u] >= user_k and i_count[i] >= item_k}
        if kept == pairs:
            return kept
        pairs = kept


@pytest.mark.parametrize(("user_k", "item_k", "seed"), [(3, 3, 0), (5, 2, 1), (8, 9, 2), (1, 1, 3)])
def test_k_core_matches_reference(user_k: int, item_k: int, seed: int) -> None:
    x = _random(seed=seed)
    out = k_core(x, user_k, item_k)
    expected = _k_core_reference(set(zip(x.user_ids[x.users].tolist(), x.item_ids[x.items].tolist())), user_k, item_k)
    got = set(zip(out.user_ids[out.users].tolist(), out.item_ids[out.items].tolist()))
    assert got == expected
    if len(out):
        assert out.user_counts.min() >= user_k and out.item_counts.min() >= item_k
    assert out.num_users == len(out.user_ids) and (out.user_counts > 0).all()  # re-indexed, contiguous
    assert out.user_info["user_id"].tolist() == out.user_ids.tolist()  # side info follows the raw ids
    assert out.item_info["item_id"].tolist() == out.item_ids.tolist()


def test_k_core_carries_columns_and_validates() -> None:
    x = _random()
    out = k_core(x, 4)
    df_in = x.to_dataframe(raw_ids=True).set_index(["user", "item"])
    df_out = out.to_dataframe(raw_ids=True).set_index(["user", "item"])
    pd.testing.assert_frame_equal(df_out, df_in.loc[df_out.index])
    with pytest.raises(ConfigError, match="user_k"):
        k_core(x, -1)


def test_compact_drops_empty_users_and_items() -> None:
    x = Interactions(
        np.array([1, 3, 3]), np.array([0, 2, 4]), 5, 6,
        user_ids=np.array(list("abcde")), item_ids=np.arange(6) + 100,
        user_info=pd.DataFrame({"user_id": list("abcde"), "age": [1, 2, 3, 4, 5]}),
    )  # fmt: skip
    out = compact(x)
    assert out.shape == (2, 3)
    assert out.user_ids.tolist() == ["b", "d"] and out.item_ids.tolist() == [100, 102, 104]
    assert out.user_info["age"].tolist() == [2, 4] and out.user_info.index.tolist() == [0, 1]
    assert out.users.tolist() == [0, 1, 1] and out.items.tolist() == [0, 1, 2]
    full = compact(out)
    assert full is out
