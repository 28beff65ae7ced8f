"""Train / validation / test splits of an :class:`~recdenoise.data.Interactions` table.

Every splitter is per user, seeded, vectorised (one ``np.lexsort`` over all interactions,
no loop over users) and returns a :class:`~recdenoise.data.Split` over the *same* id space
as its input, with ratings / timestamps / noise labels carried into each part.

- :func:`ratio_split`: each user's interactions shuffled and cut at
  ``round(n * r_train)`` and ``round(n * (r_train + r_valid))``;
- :func:`leave_one_out`: the last interaction to test, the second last to valid;
- :func:`temporal_split`: like :func:`ratio_split`, ordered by timestamp instead of shuffled;
- :func:`predefined`: the dataset's own split;
- :func:`split_dataset`: dispatch by name.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .interactions import Interactions, Split

if TYPE_CHECKING:  # pragma: no cover
    from .readers import LoadedDataset

__all__ = [
    "SPLIT_METHODS",
    "ratio_split",
    "leave_one_out",
    "temporal_split",
    "predefined",
    "split_dataset",
    "resolve_split_method",
]

logger = logging.getLogger(__name__)

SPLIT_METHODS = ("auto", "ratio", "leave_one_out", "temporal", "predefined")
_ALIASES = {"loo": "leave_one_out", "random": "ratio"}


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    r = tuple(float(v) for v in ratios)
    if len(r) == 2:
        r = (r[0], 0.0, r[1])
    if len(r) != 3 or any(v < 0 for v in r) or not np.isclose(sum(r), 1.0) or r[0] <= 0:
        raise ConfigError(
            f"ratios must be (train, valid, test) or (train, test) fractions >= 0 with train > 0 summing to 1, "
            f"got {tuple(ratios)!r}"
        )
    return r  # type: ignore[return-value]


def _positions(users: np.ndarray, order: np.ndarray, num_users: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows visited in ``order`` (grouped by user): 0-based rank within the user, and the user's count.

    Shapes:
        ``order``: ``int64 [N]`` permutation with ``users[order]`` non-decreasing;
        returns ``rank [N]`` and ``count [N]`` aligned with ``order``.
    """
    counts = np.bincount(users, minlength=num_users)
    starts = np.cumsum(counts) - counts
    grouped = users[order]
    rank = np.arange(order.size) - starts[grouped]
    return rank, counts[grouped]


def _cut(x: Interactions, order: np.ndarray, ratios: tuple[float, float, float]) -> Split:
    """Cut each user's run of rows (in ``order``) into train / valid / test by ``ratios``."""
    rank, n = _positions(x.users, order, x.num_users)
    # floor(v + 0.5): round half up (np.round rounds half to even)
    b_train = np.floor(n * ratios[0] + 0.5).astype(np.int64)
    b_valid = np.floor(n * (ratios[0] + ratios[1]) + 0.5).astype(np.int64)
    b_train = np.maximum(b_train, np.minimum(n, 1))  # keep >= 1 training row when the user has any
    b_valid = np.maximum(b_valid, b_train)
    part = np.full(len(x), 2, dtype=np.int8)
    part[order[rank < b_valid]] = 1
    part[order[rank < b_train]] = 0
    return Split(x.subset(part == 0), x.subset(part == 1), x.subset(part == 2))


def ratio_split(x: Interactions, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    r"""Random per-user split by ratio.

    Each user's ``n`` interactions are shuffled (seeded) and cut: the first
    :math:`\lfloor n r_{train} + \tfrac12 \rfloor` go to train, the next up to
    :math:`\lfloor n (r_{train} + r_{valid}) + \tfrac12 \rfloor` to valid, the rest to test.
    A user with at least one interaction keeps at least one in train (so a user with one
    or two interactions may have none in valid/test).

    Args:
        x: the interactions, ``N`` rows over ``(U, I)``.
        ratios: ``(train, valid, test)`` or ``(train, test)`` fractions summing to 1.
        seed: shuffling seed.

    Shapes:
        returns three parts over ``(U, I)`` whose row counts sum to ``N``.
    """
    r = _check_ratios(ratios)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(x)), x.users))
    return _cut(x, order, r)


def temporal_split(x: Interactions, ratios: Sequence[float] = (0.8, 0.1, 0.1)) -> Split:
    """Per-user split by time: each user's earliest interactions to train, the latest to test.

    Cut points as in :func:`ratio_split`; ties in time are broken by item index. Needs
    timestamps (:class:`DataError` otherwise).

    Shapes:
        returns three parts over ``(U, I)`` whose row counts sum to ``N``.
    """
    r = _check_ratios(ratios)
    if x.timestamps is None:
        raise DataError("temporal_split needs timestamps, and these interactions have none; use split='ratio'")
    order = np.lexsort((x.items, x.timestamps, x.users))
    return _cut(x, order, r)


def leave_one_out(x: Interactions, seed: int = 0, by_time: bool = True) -> Split:
    """Leave-one-out: per user, the last interaction to test and the second last to valid.

    "Last" is by timestamp when ``by_time`` and the table has timestamps (ties broken at
    random, seeded), otherwise a seeded random choice. Users need 2 interactions to get a
    test row and 3 to get a valid row; the rest stays in train.

    Shapes:
        test and valid hold at most one row per user.
    """
    rng = np.random.default_rng(seed)
    noise = rng.random(len(x))
    if by_time and x.timestamps is None:
        logger.warning("leave_one_out(by_time=True): no timestamps, holding out random interactions instead")
    if by_time and x.timestamps is not None:
        order = np.lexsort((noise, x.timestamps, x.users))
    else:
        order = np.lexsort((noise, x.users))
    rank, n = _positions(x.users, order, x.num_users)
    from_end = n - 1 - rank
    part = np.zeros(len(x), dtype=np.int8)
    part[order[(from_end == 0) & (n >= 2)]] = 2
    part[order[(from_end == 1) & (n >= 3)]] = 1
    return Split(x.subset(part == 0), x.subset(part == 1), x.subset(part == 2))


def predefined(loaded: "LoadedDataset") -> Split:
    """The dataset's own split (``loaded.predefined``); :class:`ConfigError` if it has none."""
    if loaded.predefined is None:
        raise ConfigError(
            f"dataset {loaded.name!r} has no predefined split; use split='ratio', 'leave_one_out' or 'temporal'"
        )
    return loaded.predefined


def split_dataset(
    loaded: "LoadedDataset",
    method: str = "auto",
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    interactions: Interactions | None = None,
) -> Split:
    """Split a loaded dataset by method name.

    Args:
        loaded: the dataset.
        method: ``"auto"`` (``"predefined"`` when the dataset has its own split, else
            ``"ratio"``), ``"ratio"``, ``"leave_one_out"`` (alias ``"loo"``), ``"temporal"``
            or ``"predefined"``.
        ratios: for ``"ratio"`` / ``"temporal"``.
        seed: for ``"ratio"`` / ``"leave_one_out"``.
        interactions: split this (e.g. preprocessed) table instead of ``loaded.interactions``;
            ignored by ``"predefined"``.
    """
    method = resolve_split_method(method, loaded.predefined is not None)
    x = loaded.interactions if interactions is None else interactions
    if method == "ratio":
        return ratio_split(x, ratios, seed)
    if method == "leave_one_out":
        return leave_one_out(x, seed)
    if method == "temporal":
        return temporal_split(x, ratios)
    return predefined(loaded)


def resolve_split_method(method: str, has_predefined: bool) -> str:
    """Canonical method name; ``"auto"`` becomes ``"predefined"`` or ``"ratio"``."""
    method = _ALIASES.get(method, method)
    if method not in SPLIT_METHODS:
        raise ConfigError(f"unknown split method {method!r}; choose one of {list(SPLIT_METHODS)}")
    if method == "auto":
        return "predefined" if has_predefined else "ratio"
    return method
