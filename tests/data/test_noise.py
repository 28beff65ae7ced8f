"""Noise injection (PLD protocol) and natural noise (rating threshold)."""

from __future__ import annotations

import numpy as np
import pytest

from recdenoise.data import Interactions, Split, make_synthetic, ratio_split
from recdenoise.data.noise import add_noise, inject_noise, natural_noise
from recdenoise.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def split() -> Split:
    data = make_synthetic(60, 90, interactions_per_user=15, seed=3).interactions
    return ratio_split(data, (0.7, 0.1, 0.2), seed=0)


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.35, 1.0])
def test_exact_counts_per_user(split, ratio):
    noisy = inject_noise(split.train, ratio, seed=1, exclude=(split.valid, split.test))
    expected = np.array([int(ratio * c) for c in split.train.user_counts])
    added = np.bincount(noisy.users[noisy.is_noise], minlength=split.num_users)
    np.testing.assert_array_equal(added, expected)
    assert len(noisy) == len(split.train) + expected.sum()
    # originals kept and labelled clean
    assert noisy.contains(split.train.users, split.train.items).all()
    orig = split.train.contains(noisy.users, noisy.items)
    np.testing.assert_array_equal(orig, ~noisy.is_noise)


def test_never_a_seen_or_held_out_item(split):
    noisy = inject_noise(split.train, 1.0, seed=2, exclude=(split.valid, split.test))
    nu, ni = noisy.users[noisy.is_noise], noisy.items[noisy.is_noise]
    for part in (split.train, split.valid, split.test):
        assert not part.contains(nu, ni).any()
    # Interactions rejects duplicates, so distinctness within a user is implied; check anyway
    assert np.unique(nu * noisy.num_items + ni).size == nu.size


def test_seeded_determinism(split):
    a = inject_noise(split.train, 0.3, seed=5, exclude=(split.valid,))
    b = inject_noise(split.train, 0.3, seed=5, exclude=(split.valid,))
    c = inject_noise(split.train, 0.3, seed=6, exclude=(split.valid,))
    assert a.checksum() == b.checksum()
    np.testing.assert_array_equal(a.is_noise, b.is_noise)
    assert a.checksum() != c.checksum()


def test_columns_kept(split):
    noisy = inject_noise(split.train, 0.5, seed=0)
    assert noisy.ratings is not None and np.isnan(noisy.ratings[noisy.is_noise]).all()
    assert not np.isnan(noisy.ratings[~noisy.is_noise]).any()
    assert noisy.timestamps is not None  # copied from the user's own rows
    ts_ok = np.isin(noisy.timestamps[noisy.is_noise], split.train.timestamps)
    assert ts_ok.all()


def test_saturated_users_get_their_whole_complement():
    # user 0 saw 3 of 5 items and wants int(2.0 * 3) = 6 > 2 available; user 1 needs the dense fallback
    train = Interactions(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 4]), 2, 5)
    noisy = inject_noise(train, 2.0, seed=0)
    added0 = set(noisy.items[noisy.is_noise & (noisy.users == 0)].tolist())
    assert added0 == {3, 4}
    assert np.bincount(noisy.users[noisy.is_noise], minlength=2).tolist() == [2, 2]


def test_bad_ratio_and_id_space(split):
    with pytest.raises(ConfigError):
        inject_noise(split.train, -0.1)
    other = Interactions(np.array([0]), np.array([0]), 1, 1)
    with pytest.raises(DataError):
        inject_noise(split.train, 0.1, exclude=(other,))


def test_natural_noise_rule():
    ratings = np.array([5, 1, 3, 2, 4, 2.5, 3, 1], dtype=np.float32)
    users = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    items = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    x = Interactions(users, items, 3, 3, ratings=ratings)
    train, valid, test = x.subset(np.arange(6)), x.subset([6]), x.subset([7])
    out = natural_noise(Split(train, valid, test), threshold=3.0)
    np.testing.assert_array_equal(out.train.is_noise, train.ratings < 3.0)
    assert len(out.train) == 6  # noisy rows stay in training
    assert len(out.valid) == 1 and len(out.test) == 0  # the 1-star test row is dropped
    with pytest.raises(DataError, match="ratings"):
        natural_noise(Split(*(p.replace(ratings=None) for p in (train, valid, test))))


def test_add_noise_summary(split):
    out, summary = add_noise(split, "injected", ratio=0.2, seed=0)
    assert summary["kind"] == "injected" and summary["num_noisy"] == summary["num_added"]
    assert summary["noisy_share"] == pytest.approx(summary["num_noisy"] / len(out.train))
    assert out.valid is split.valid and out.test is split.test
    same, s0 = add_noise(split, "none")
    assert same is split and s0["num_noisy"] == 0
    nat, s1 = add_noise(split, "natural", threshold=3.0)
    assert s1["num_noisy"] == int((split.train.ratings < 3).sum())
    assert s1["test_removed"] == int((split.test.ratings < 3).sum())
    import json

    json.dumps(summary), json.dumps(s1)
    with pytest.raises(ConfigError):
        add_noise(split, "bogus")


def test_dense_fallback_for_nearly_saturated_rows():
    # 1990 of 2000 items seen: rejection almost never hits the 10 free items, the exact fallback must
    num_items = 2000
    items = np.arange(10, num_items)
    train = Interactions(np.zeros(items.size, np.int64), items, 1, num_items)
    noisy = inject_noise(train, 1.0, seed=0)
    assert sorted(noisy.items[noisy.is_noise].tolist()) == list(range(10))
