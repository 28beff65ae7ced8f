"""Synthetic dataset: determinism, shapes, columns, side information, speed, learnable signal."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse.linalg as sla

from recdenoise.data import make_synthetic, ratio_split
from recdenoise.errors import ConfigError


def test_deterministic_and_seed_dependent() -> None:
    a, b, c = make_synthetic(seed=0), make_synthetic(seed=0), make_synthetic(seed=1)
    assert a.interactions.checksum() == b.interactions.checksum() != c.interactions.checksum()
    np.testing.assert_array_equal(a.interactions.ratings, b.interactions.ratings)
    np.testing.assert_array_equal(a.interactions.timestamps, b.interactions.timestamps)
    assert a.interactions.item_info.equals(b.interactions.item_info)


@pytest.mark.parametrize(("num_users", "num_items", "per_user"), [(500, 800, 30), (40, 12, 3), (7, 200, 50)])
def test_shapes_and_columns(num_users: int, num_items: int, per_user: int) -> None:
    ds = make_synthetic(num_users, num_items, dim=8, interactions_per_user=per_user, seed=2)
    x = ds.interactions
    assert ds.name == "synthetic" and ds.predefined is None and ds.files == []
    assert x.shape == (num_users, num_items)
    counts = x.user_counts
    assert counts.min() >= min(5, num_items) and counts.max() <= max(min(5, num_items), num_items // 2)
    assert set(np.unique(x.ratings).tolist()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert x.timestamps is not None and x.timestamps.min() >= 1_577_836_800
    assert len(x.user_info) == num_users and len(x.item_info) == num_items
    assert {"title", "year", "genres"} <= set(x.item_info.columns)
    assert {"age", "gender", "occupation"} <= set(x.user_info.columns)


def test_defaults_fast_and_rating_mix() -> None:
    start = time.perf_counter()
    x = make_synthetic().interactions
    assert time.perf_counter() - start < 1.0
    assert abs(len(x) / x.num_users - 30) < 3
    share = np.bincount(x.ratings.astype(int), minlength=6)[1:] / len(x)
    np.testing.assert_allclose(share, [0.05, 0.10, 0.25, 0.35, 0.25], atol=0.01)


def test_signal_is_learnable() -> None:
    """A rank-16 truncated SVD of train beats popularity by a wide margin on held-out items."""
    split = ratio_split(make_synthetic(seed=0).interactions, (0.8, 0.0, 0.2), seed=0)
    train, test = split.train.csr, split.test.csr.toarray()
    seen = train.toarray() > 0

    def recall_at_20(scores: np.ndarray) -> float:
        scores = np.where(seen, -np.inf, scores)
        top = np.argsort(-scores, axis=1)[:, :20]
        hits = np.take_along_axis(test, top, axis=1).sum(1)
        n = test.sum(1)
        return float((hits[n > 0] / np.minimum(n[n > 0], 20)).mean())

    popularity = np.tile(np.asarray(train.sum(0)), (train.shape[0], 1))
    u, s, vt = sla.svds(train.astype(np.float64), k=16, random_state=0)
    assert recall_at_20(u * s @ vt) > 2 * recall_at_20(popularity)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="num_users"):
        make_synthetic(num_users=0)
    with pytest.raises(ConfigError, match="interactions_per_user"):
        make_synthetic(interactions_per_user=0)
