"""A seeded power-law interaction generator for scaling studies (10^5 .. 10^8 interactions).

Real implicit-feedback data are heavy-tailed on both sides: a few items take most of the
interactions and a few users are very active. This generator draws

.. math::
    P(i) \\propto (r_i + 1)^{-a} \\quad \\text{(Zipf popularity, item rank } r_i\\text{)}, \\qquad
    n_u \\sim \\operatorname{LogNormal}(\\mu, s) \\quad \\text{(user activity)},

scales :math:`n_u` so that :math:`\\sum_u n_u` is about ``num_interactions`` (each user at least
``min_per_user``, at most half the catalogue), draws each user's items from :math:`P`, merges
repeated (user, item) draws and draws the shortfall again (a few rounds), so the result has
about ``N`` rows (the exact count is ``len(result)``). Everything is vectorised (no Python loop over users): 10^7 interactions
take a few seconds and ~1 GB. Unlike :func:`~recdenoise.data.synthetic.make_synthetic` there is
no latent structure to recover: the data are for timing and memory, not for quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import ConfigError
from .interactions import Interactions

__all__ = ["PowerLawOptions", "make_powerlaw"]

_TOP_UP_ROUNDS = 4


@dataclass(frozen=True)
class PowerLawOptions:
    """Defaults of :func:`make_powerlaw`.

    Attributes:
        interactions_per_user: mean activity; ``num_users`` defaults to ``N / interactions_per_user``.
        interactions_per_item: ``num_items`` defaults to ``N / interactions_per_item``.
        zipf_exponent: :math:`a` (about 0.8-1.2 in public datasets).
        activity_sigma: :math:`s`, the log-normal's shape (1.0: the top 1 % of users hold ~10 %).
        min_per_user: every user has at least this many interactions.
    """

    interactions_per_user: int = 20
    interactions_per_item: int = 200
    zipf_exponent: float = 1.0
    activity_sigma: float = 1.0
    min_per_user: int = 2


def make_powerlaw(
    num_interactions: int,
    num_users: Optional[int] = None,
    num_items: Optional[int] = None,
    *,
    zipf_exponent: float = PowerLawOptions.zipf_exponent,
    activity_sigma: float = PowerLawOptions.activity_sigma,
    min_per_user: int = PowerLawOptions.min_per_user,
    seed: int = 0,
) -> Interactions:
    """About ``num_interactions`` (user, item) pairs with Zipf item popularity and log-normal activity.

    Args:
        num_interactions: target ``N`` (the result has ``<= N`` rows: repeated draws merge).
        num_users: ``U`` (default ``N / 20``).
        num_items: ``I`` (default ``N / 200``); item ids are popularity ranks in a seeded random order.
        zipf_exponent, activity_sigma, min_per_user: see :class:`PowerLawOptions`.
        seed: the generator's seed (the same seed gives the same data).

    Returns:
        :class:`Interactions` (users-as-rows, sorted).
    """
    opts = PowerLawOptions()
    if not isinstance(num_interactions, (int, np.integer)) or num_interactions < 1:
        raise ConfigError(f"num_interactions must be a positive integer, got {num_interactions!r}")
    num_users = int(num_users or max(1, num_interactions // opts.interactions_per_user))
    num_items = int(num_items or max(2, num_interactions // opts.interactions_per_item))
    if num_users < 1 or num_items < 2:
        raise ConfigError(f"need num_users >= 1 and num_items >= 2, got {num_users} and {num_items}")
    if not zipf_exponent >= 0 or not activity_sigma >= 0:
        raise ConfigError(f"zipf_exponent and activity_sigma must be >= 0, got {zipf_exponent} and {activity_sigma}")
    max_per_user = max(1, num_items // 2)
    if min_per_user * num_users > num_interactions or min_per_user > max_per_user:
        raise ConfigError(
            f"min_per_user={min_per_user} x {num_users} users exceeds {num_interactions} interactions "
            f"(or half of the {num_items} items); lower min_per_user or num_users"
        )
    rng = np.random.default_rng(seed)

    activity = rng.lognormal(0.0, activity_sigma, num_users)
    counts = np.clip(np.round(activity * (num_interactions / activity.sum())), min_per_user, max_per_user).astype(np.int64)
    popularity = np.arange(1, num_items + 1, dtype=np.float64) ** -float(zipf_exponent)
    cdf = np.cumsum(popularity)
    cdf /= cdf[-1]
    item_of_rank = rng.permutation(num_items)  # popularity rank -> item id, so id order says nothing
    keys = np.zeros(0, dtype=np.int64)
    missing = counts
    for _ in range(_TOP_UP_ROUNDS):  # repeated draws merge: draw the shortfall again, a few rounds
        ranks = np.minimum(np.searchsorted(cdf, rng.random(int(missing.sum())), side="right"), num_items - 1)
        users = np.repeat(np.arange(num_users, dtype=np.int64), missing)
        keys = np.union1d(keys, users * num_items + item_of_rank[ranks])
        missing = counts - np.bincount(keys // num_items, minlength=num_users)
        if not missing.any():
            break
    return Interactions(keys // num_items, keys % num_items, num_users, num_items)
