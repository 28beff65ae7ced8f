"""The power-law generator: seeded, about the asked size, heavy-tailed on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from recdenoise.data.powerlaw import make_powerlaw
from recdenoise.errors import ConfigError


def test_seeded_and_close_to_the_asked_size():
    a, b = make_powerlaw(50_000, seed=3), make_powerlaw(50_000, seed=3)
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)
    assert not np.array_equal(a.items, make_powerlaw(50_000, seed=4).items)
    assert 0.9 * 50_000 <= len(a) <= 1.02 * 50_000  # repeated draws merge, then are drawn again
    assert (a.num_users, a.num_items) == (2_500, 250)
    assert a.user_counts.min() >= 1


@pytest.mark.parametrize("exponent", [0.8, 1.2])
def test_heavy_tails(exponent):
    data = make_powerlaw(200_000, num_users=10_000, num_items=5_000, zipf_exponent=exponent, seed=0)
    item_counts = np.sort(np.bincount(data.items, minlength=data.num_items))[::-1]
    top = item_counts[: data.num_items // 100].sum() / item_counts.sum()
    assert top > 0.15  # the top 1 % of items hold far more than 1 % of the interactions
    user_counts = np.sort(data.user_counts)[::-1]
    assert user_counts[: data.num_users // 100].sum() / user_counts.sum() > 0.04
    # log-log slope of the rank-frequency curve over the head is about -exponent
    ranks = np.arange(1, 101)
    slope = np.polyfit(np.log(ranks[9:]), np.log(item_counts[9:100]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.25)


def test_bad_sizes_are_errors():
    with pytest.raises(ConfigError, match="num_interactions"):
        make_powerlaw(0)
    with pytest.raises(ConfigError, match="min_per_user"):
        make_powerlaw(100, num_users=80, num_items=10)
