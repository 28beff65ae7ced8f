"""Splitters: partitions, per-user proportions, determinism, time order, dispatch."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recdenoise.data import Interactions, LoadedDataset, Split, leave_one_out, ratio_split, split_dataset, temporal_split
from recdenoise.data.split import predefined
from recdenoise.errors import ConfigError, DataError


def _table(num_users: int = 60, num_items: int = 80, seed: int = 0, timestamps: bool = True) -> Interactions:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 25, num_users)  # includes users with 1 or 2 interactions
    users = np.repeat(np.arange(num_users), counts)
    items = np.concatenate([rng.choice(num_items, c, replace=False) for c in counts])
    ts = rng.permutation(users.size) if timestamps else None
    return Interactions(users, items, num_users, num_items, ratings=rng.integers(1, 6, users.size), timestamps=ts)


def _pairs(x: Interactions) -> set[tuple[int, int]]:
    return set(zip(x.users.tolist(), x.items.tolist()))


def _assert_partition(x: Interactions, s: Split) -> None:
    parts = [_pairs(p) for p in (s.train, s.valid, s.test)]
    assert sum(len(p) for p in parts) == len(x)
    assert set().union(*parts) == _pairs(x)
    assert s.train.shape == s.valid.shape == s.test.shape == x.shape


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.1, 0.2), (0.5, 0.5)])
def test_ratio_split_partition_and_counts(ratios) -> None:
    x = _table()
    s = ratio_split(x, ratios, seed=3)
    _assert_partition(x, s)
    r = ratios if len(ratios) == 3 else (ratios[0], 0.0, ratios[1])
    n = x.user_counts
    b_train = np.maximum(np.floor(n * r[0] + 0.5), 1)
    b_valid = np.maximum(np.floor(n * (r[0] + r[1]) + 0.5), b_train)
    np.testing.assert_array_equal(s.train.user_counts, b_train)
    np.testing.assert_array_equal(s.valid.user_counts, b_valid - b_train)
    np.testing.assert_array_equal(s.test.user_counts, n - b_valid)
    assert s.train.ratings is not None and s.test.timestamps is not None  # columns travel


def test_ratio_split_is_seeded() -> None:
    x = _table()
    assert ratio_split(x, seed=1).checksum() == ratio_split(x, seed=1).checksum()
    assert ratio_split(x, seed=1).checksum() != ratio_split(x, seed=2).checksum()


def test_ratio_split_keeps_one_training_row() -> None:
    x = Interactions(np.array([0, 1, 1]), np.array([0, 0, 1]), 2, 2)
    s = ratio_split(x, (0.1, 0.0, 0.9), seed=0)
    assert s.train.user_counts.tolist() == [1, 1]


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.5, 0.2, 0.2), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), (0.8,)])
def test_bad_ratios(ratios) -> None:
    with pytest.raises(ConfigError, match="ratios"):
        ratio_split(_table(), ratios)


def test_leave_one_out_by_time() -> None:
    x = _table()
    s = leave_one_out(x, seed=0)
    _assert_partition(x, s)
    n = x.user_counts
    assert (s.test.user_counts == (n >= 2)).all() and (s.valid.user_counts == (n >= 3)).all()
    last = np.full(x.num_users, -1)
    np.maximum.at(last, s.train.users, s.train.timestamps)
    np.maximum.at(last, s.valid.users, s.valid.timestamps)
    assert (s.test.timestamps > last[s.test.users]).all()  # the latest interaction is held out
    train_last = np.full(x.num_users, -1)
    np.maximum.at(train_last, s.train.users, s.train.timestamps)
    assert (s.valid.timestamps > train_last[s.valid.users]).all()


def test_leave_one_out_without_timestamps_is_random_and_seeded() -> None:
    x = _table(timestamps=False)
    a, b = leave_one_out(x, seed=0), leave_one_out(x, seed=1)
    _assert_partition(x, a)
    assert a.checksum() == leave_one_out(x, seed=0).checksum() and a.checksum() != b.checksum()
    assert leave_one_out(x, seed=5, by_time=False).test.user_counts.max() == 1


def test_temporal_split_orders_by_time() -> None:
    x = _table()
    s = temporal_split(x, (0.6, 0.2, 0.2))
    _assert_partition(x, s)
    for early, late in ((s.train, s.valid), (s.valid, s.test), (s.train, s.test)):
        latest = np.full(x.num_users, -1)
        np.maximum.at(latest, early.users, early.timestamps)
        assert (late.timestamps > latest[late.users]).all()
    with pytest.raises(DataError, match="needs timestamps"):
        temporal_split(_table(timestamps=False))


def test_split_dataset_dispatch() -> None:
    x = _table()
    loaded = LoadedDataset("toy", x)
    assert split_dataset(loaded, "auto", seed=4).checksum() == ratio_split(x, seed=4).checksum()
    assert split_dataset(loaded, "loo", seed=4).checksum() == leave_one_out(x, seed=4).checksum()
    assert split_dataset(loaded, "temporal").checksum() == temporal_split(x).checksum()
    with pytest.raises(ConfigError, match="no predefined split"):
        split_dataset(loaded, "predefined")
    with pytest.raises(ConfigError, match="unknown split method 'nope'"):
        split_dataset(loaded, "nope")
    own = ratio_split(x, seed=9)
    with_split = LoadedDataset("toy", x, own)
    assert split_dataset(with_split, "auto") is own and predefined(with_split) is own


def test_split_is_fast_on_a_large_table() -> None:
    rng = np.random.default_rng(0)
    keys = np.sort(rng.integers(0, 30_000 * 40_000, 300_000))
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]]
    x = Interactions(keys // 40_000, keys % 40_000, 30_000, 40_000)
    start = time.perf_counter()
    s = ratio_split(x, seed=0)
    assert time.perf_counter() - start < 5.0  # vectorised: ~0.1 s here; a per-user loop takes far longer
    assert len(s.train) + len(s.valid) + len(s.test) == len(x)
