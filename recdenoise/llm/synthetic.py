"""A tiny movie-like dataset with titles, genres and years, for examples, benchmarks and tests.

Each user prefers one genre; interactions are drawn with probability proportional to
``1 + 4 * [item has the user's genre]``, so genre overlap (what the mock server uses to
answer) carries signal. Raw ids are strings (``"u0"``, ``"m0"``) to exercise id mapping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import Interactions

__all__ = ["synthetic_movies", "GENRES"]

GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Animation")
_WORDS = ("Night", "River", "Star", "Last", "Secret", "Golden", "Iron", "Silent", "Lost", "Summer", "Red", "Winter")


def synthetic_movies(num_users: int = 30, num_items: int = 60, per_user: int = 8, seed: int = 0) -> Interactions:
    """``num_users`` users x ``num_items`` movies, ``per_user`` interactions each, with ``item_info``.

    Shapes:
        - output: ``Interactions`` with ``U = num_users``, ``I = num_items``, ``N = U * per_user``;
          ``item_info`` columns ``title, genres ("A|B"), year``.
    """
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    item_genres = rng.random((num_items, n_genres)) < 0.25
    item_genres[np.arange(num_items), rng.integers(0, n_genres, num_items)] = True  # >= 1 genre each
    w1, w2 = rng.integers(0, len(_WORDS), (2, num_items))
    info = pd.DataFrame(
        {
            "title": [f"The {_WORDS[a]} {_WORDS[b]} {i}" for i, (a, b) in enumerate(zip(w1, w2))],
            "genres": ["|".join(g for g, on in zip(GENRES, row) if on) for row in item_genres],
            "year": rng.integers(1970, 2020, num_items),
        }
    )
    favourite = rng.integers(0, n_genres, num_users)
    weight = 1.0 + 4.0 * item_genres[:, favourite].T  # [U, I]
    gumbel = np.log(weight) - np.log(-np.log(rng.random((num_users, num_items))))
    chosen = np.argsort(-gumbel, axis=1)[:, :per_user]  # weighted sampling without replacement
    users = np.repeat(np.arange(num_users), per_user)
    return Interactions(
        users=users,
        items=chosen.ravel(),
        num_users=num_users,
        num_items=num_items,
        user_ids=np.array([f"u{u}" for u in range(num_users)]),
        item_ids=np.array([f"m{i}" for i in range(num_items)]),
        timestamps=rng.integers(1_000_000_000, 1_600_000_000, num_users * per_user),
        item_info=info,
    )
