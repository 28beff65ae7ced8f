"""A seeded synthetic dataset with a known latent-factor structure (no files needed).

Users and items get Gaussian factors :math:`p_u, q_i \\in \\mathbb{R}^D` and items a
popularity bias :math:`b_i`; the affinity is

.. math::
    s_{ui} = \\sigma \\, p_u^\\top q_i + \\beta \\, b_i,
    \\qquad p_u, q_i \\sim \\mathcal{N}(0, D^{-1/2} I), \\; b_i \\sim \\mathcal{N}(0, 1),

so that :math:`p_u^\\top q_i` has unit variance and ``signal`` :math:`\\sigma` sets how much
of the choice is personal. Each user draws :math:`n_u` distinct items from
:math:`\\mathrm{softmax}_i(s_{ui})` without replacement (Gumbel top-:math:`n_u`), with
:math:`n_u` log-normal around ``interactions_per_user``. A personal model (MF, LightGCN)
can recover :math:`p, q` and clearly beat popularity.

Each interaction also gets a 1-5 rating from the quantiles of its affinity among all sampled
pairs (about 5/10/25/35/25 %, close to MovieLens), so "low rating = natural noise"
experiments work, and a timestamp. Side information: age / gender / occupation per user;
title, year and genres per item, the genres following each item's dominant factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .interactions import Interactions
from .readers import LoadedDataset

__all__ = ["SyntheticOptions", "make_synthetic"]

_GENRES = (
    "Action", "Comedy", "Drama", "Sci-Fi", "Romance", "Thriller", "Documentary", "Animation",
    "Horror", "Fantasy", "Crime", "Musical", "Western", "War", "Mystery", "Adventure",
)  # fmt: skip
_ADJECTIVES = ("Silent", "Golden", "Broken", "Hidden", "Last", "Crimson", "Endless", "Lonely", "Wild", "Distant")
_NOUNS = ("River", "Empire", "Promise", "Garden", "Signal", "Harbor", "Winter", "Machine", "Letter", "Frontier")
_OCCUPATIONS = ("student", "engineer", "artist", "teacher", "doctor", "writer", "programmer", "retired", "other")
_RATING_QUANTILES = (0.05, 0.15, 0.40, 0.75)
_START_TIME = 1_577_836_800  # 2020-01-01 UTC
_YEAR_SECONDS = 365 * 86_400


@dataclass(frozen=True)
class SyntheticOptions:
    """Options of :func:`make_synthetic` (the ``"synthetic"`` dataset's ``--data-option`` keys)."""

    num_users: int = 500
    num_items: int = 800
    dim: int = 16
    interactions_per_user: int = 30
    seed: int = 0
    signal: float = 3.0
    popularity: float = 1.0


_MAX_INTERACTIONS = 200_000_000


def _BOUNDS(num_users: int, num_items: int, dim: int, interactions_per_user: int) -> list[tuple[str, int, int]]:
    """(option, value, upper bound): sizes a latent-factor generator can hold in memory."""
    return [
        ("num_users", num_users, 50_000_000),
        ("num_items", num_items, 10_000_000),
        ("dim", dim, 4096),
        ("interactions_per_user", interactions_per_user, 100_000),
    ]


def make_synthetic(
    num_users: int = SyntheticOptions.num_users,
    num_items: int = SyntheticOptions.num_items,
    dim: int = SyntheticOptions.dim,
    interactions_per_user: int = SyntheticOptions.interactions_per_user,
    seed: int = SyntheticOptions.seed,
    *,
    signal: float = SyntheticOptions.signal,
    popularity: float = SyntheticOptions.popularity,
    name: str = "synthetic",
) -> LoadedDataset:
    """Sample a synthetic implicit-feedback dataset (deterministic for a seed).

    Args:
        num_users: ``U``.
        num_items: ``I``.
        dim: latent dimension ``D``.
        interactions_per_user: mean interactions per user (each user gets at least
            ``min(5, I)`` and at most ``I // 2``).
        seed: random seed; the same seed gives the same dataset.
        signal: scale :math:`\\sigma` of the personal term (larger = easier to learn).
        popularity: scale :math:`\\beta` of the item popularity bias.
        name: dataset name.

    Returns:
        a :class:`LoadedDataset` with ratings (1-5), timestamps, ``user_info``
        (``user_id, age, gender, occupation``), ``item_info`` (``item_id, title, year,
        genres``) and no predefined split.

    Shapes:
        ``interactions``: about ``U * interactions_per_user`` rows over ``(U, I)``.
    """
    for arg, value, bound in _BOUNDS(num_users, num_items, dim, interactions_per_user):
        if not isinstance(value, (int, np.integer)) or not 1 <= value <= bound:
            raise ConfigError(f"synthetic option {arg} must be an integer in [1, {bound:,}], got {value!r}")
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ConfigError(f"synthetic option seed must be an integer in [0, 2**63), got {seed!r}")
    if num_users * interactions_per_user > _MAX_INTERACTIONS:
        raise ConfigError(
            f"synthetic options num_users x interactions_per_user = {num_users * interactions_per_user:,} exceed "
            f"{_MAX_INTERACTIONS:,} interactions; lower them"
        )
    rng = np.random.default_rng(seed)
    scale = dim**-0.25
    user_factors = rng.normal(0.0, scale, (num_users, dim))
    item_factors = rng.normal(0.0, scale, (num_items, dim))
    item_bias = rng.normal(0.0, 1.0, num_items)
    lo, hi = min(5, num_items), max(min(5, num_items), num_items // 2)
    counts = np.clip(np.rint(interactions_per_user * rng.lognormal(-0.125, 0.5, num_users)), lo, hi).astype(np.int64)

    users, items, affinity = [], [], []
    chunk = max(1, 4_000_000 // num_items)  # bound the [chunk, I] score block
    for start in range(0, num_users, chunk):
        stop = min(start + chunk, num_users)
        scores = signal * user_factors[start:stop] @ item_factors.T + popularity * item_bias  # [B, I]
        keys = scores + rng.gumbel(size=scores.shape)  # Gumbel top-k = sampling without replacement
        order = np.argsort(-keys, axis=1)  # [B, I]
        take = np.arange(num_items)[None, :] < counts[start:stop, None]  # [B, I]
        rows = np.nonzero(take)[0]
        chosen = order[take]
        users.append(rows + start)
        items.append(chosen)
        affinity.append(scores[rows, chosen])
    users_arr, items_arr, affinity_arr = np.concatenate(users), np.concatenate(items), np.concatenate(affinity)

    ratings = 1.0 + np.searchsorted(np.quantile(affinity_arr, _RATING_QUANTILES), affinity_arr, side="right")
    timestamps = _START_TIME + rng.integers(0, _YEAR_SECONDS, users_arr.size)

    user_info = pd.DataFrame(
        {
            "user_id": np.arange(num_users),
            "age": rng.integers(18, 70, num_users),
            "gender": rng.choice(np.array(["F", "M"]), num_users),
            "occupation": rng.choice(np.array(_OCCUPATIONS), num_users),
        }
    )
    num_genres = min(dim, len(_GENRES))
    top2 = np.argsort(-item_factors[:, :num_genres], axis=1)[:, :2]  # genres follow the dominant factors
    genre_names = np.array(_GENRES[:num_genres], dtype=object)
    genres = genre_names[top2[:, 0]]
    if num_genres > 1:
        genres = genres + "|" + genre_names[top2[:, 1]]
    adjectives = rng.integers(0, len(_ADJECTIVES), num_items)
    nouns = rng.integers(0, len(_NOUNS), num_items)
    item_info = pd.DataFrame(
        {
            "item_id": np.arange(num_items),
            "title": [
                f"The {_ADJECTIVES[a]} {_NOUNS[b]} {i}"
                for i, (a, b) in enumerate(zip(adjectives, nouns))
            ],
            "year": rng.integers(1950, 2021, num_items),
            "genres": genres,
        }
    )
    x = Interactions(
        users_arr, items_arr, num_users, num_items,
        ratings=ratings.astype(np.float32), timestamps=timestamps, user_info=user_info, item_info=item_info,
    )  # fmt: skip
    return LoadedDataset(name, x, None, [])
