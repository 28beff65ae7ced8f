"""Noisy implicit feedback for robustness experiments: injected and natural noise.

Two protocols label every training interaction as clean or noisy (``Interactions.is_noise``):

- **Injected** (PLD, Zhang et al., WWW 2025, and its reference code): each user ``u`` gets
  :math:`\\lfloor r \\cdot |\\mathcal{I}_u^{train}| \\rfloor` extra *training* interactions with items drawn
  uniformly, without replacement, from the items the user never interacted with. Unlike the
  reference code (which only avoids the user's training items) the held-out valid/test items
  are excluded too, so a planted noise item is never also a held-out positive.
- **Natural** (rated data): interactions rated below a threshold stay in training as
  positives labelled noisy (a low rating is a click the user did not like); valid/test keep
  only clean (``rating >= threshold``) interactions, as in DenoisingRec's protocol (WSDM 2021).

Validation follows one of two protocols (``valid``): ``"clean"`` (default, the optimistic
protocol above: noise only in training) or ``"noisy"`` (what a user with real data has):
injected noise is planted into validation in the same proportion as in training
(:math:`\\operatorname{round}_{stoch}(r \\cdot |\\mathcal{I}_u^{valid}|)` unseen items per user,
stochastic rounding so the expected share is exactly ``r`` even for users with few validation
items), natural noise stays in validation; both labelled ``valid.is_noise``. Test stays clean.

:func:`add_noise` is the pipeline entry point; it returns the noisy split and a JSON-ready
summary.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .csr import expand_rows
from .interactions import Interactions, Split

__all__ = ["inject_noise", "natural_noise", "add_noise", "noise_summary", "NOISE_KINDS", "VALID_PROTOCOLS"]

logger = logging.getLogger(__name__)

NOISE_KINDS = ("none", "injected", "natural")
VALID_PROTOCOLS = ("clean", "noisy")
_MAX_REJECTION_ROUNDS = 64


def inject_noise(
    train: Interactions,
    ratio: float,
    seed: int | Sequence[int] = 0,
    exclude: Sequence[Interactions] = (),
    rounding: str = "floor",
) -> Interactions:
    r"""Add :math:`\lfloor \text{ratio} \cdot |\mathcal{I}_u| \rfloor` uniformly drawn unseen items per user.

    Noise items are drawn without replacement from
    :math:`\{0..I-1\} \setminus (\mathcal{I}_u^{train} \cup \mathcal{I}_u^{exclude})`. A user whose
    complement is smaller than the requested count gets the whole complement (logged).

    Args:
        train: training interactions (``is_noise``, if present, is kept for the original rows).
        ratio: noise ratio ``r >= 0`` relative to each user's training interactions.
        seed: seeds the draw (same seed and data, same noise).
        exclude: other parts of the split (valid, test) whose items must never be drawn.
        rounding: ``"floor"`` (training: :math:`\lfloor r n_u \rfloor`, as the reference) or
            ``"stochastic"`` (:math:`\lfloor r n_u \rfloor + \text{Bernoulli}(r n_u - \lfloor r n_u \rfloor)`;
            noisy validation, whose per-user counts are small).

    Returns:
        the training interactions plus the noise rows, same id space; ``is_noise`` is
        ``False`` for original rows (unless already labelled) and ``True`` for added ones.
        Added rows get ``NaN`` ratings and a timestamp copied from a random training row of
        the same user (so history-ordering code keeps working).

    Shapes:
        ``train``: ``N`` rows; returns ``N + sum_u floor(r * N_u)`` rows.
    """
    if not np.isfinite(ratio) or ratio < 0:
        raise ConfigError(f"noise ratio must be a finite number >= 0, got {ratio!r}")
    for part in exclude:
        if part.shape != train.shape:
            raise DataError(f"exclude part is over id space {part.shape}, train over {train.shape}; use one Split")
    if rounding not in ("floor", "stochastic"):
        raise ConfigError(f"rounding must be 'floor' or 'stochastic', got {rounding!r}")
    rng = np.random.default_rng(seed)
    counts = train.user_counts
    exact = ratio * counts.astype(np.float64)
    wanted = exact.astype(np.int64)  # == int(ratio * |train_u|) per user
    if rounding == "stochastic":
        wanted += (rng.random(wanted.shape[0]) < exact - wanted).astype(np.int64)

    forbidden = np.unique(np.concatenate([train.sorted_keys()] + [p.sorted_keys() for p in exclude]))
    num_forbidden = np.bincount(forbidden // max(train.num_items, 1), minlength=train.num_users)
    available = train.num_items - num_forbidden
    capped = wanted > available
    if capped.any():
        logger.warning(
            "noise injection: %d users have fewer unseen items than requested (e.g. user index %d wants %d, "
            "%d available); they get all their unseen items",
            int(capped.sum()), int(np.argmax(capped)), int(wanted[capped][0]), int(available[capped][0]),
        )
        wanted = np.minimum(wanted, available)

    noise_users, noise_items = _sample_unseen(rng, wanted, forbidden, train.num_items)
    noise = _noise_rows(train, noise_users, noise_items, rng)
    base = train if train.is_noise is not None else train.replace(is_noise=np.zeros(len(train), bool))
    return base.concat(noise)


def _sample_unseen(
    rng: np.random.Generator, wanted: np.ndarray, forbidden: np.ndarray, num_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """``wanted[u]`` distinct items per user outside the sorted ``forbidden`` keys ``u * I + i``.

    Vectorised rejection: draw all missing slots at once, keep draws that are neither
    forbidden nor already chosen, repeat for the rest. Users still short after a few dozen
    rounds (nearly saturated rows) are finished exactly on a dense block of their rows.
    """
    num_users = wanted.shape[0]
    chosen = np.empty(0, dtype=np.int64)  # sorted keys u * I + i
    missing = wanted.copy()
    for _ in range(_MAX_REJECTION_ROUNDS):
        if missing.sum() == 0:
            break
        users = expand_rows(missing)
        keys = users * num_items + rng.integers(0, num_items, users.shape[0])
        keys = keys[~_isin_sorted(keys, forbidden)]
        keys = keys[~_isin_sorted(keys, chosen)]
        # Among duplicates of the same new key, keep one; then keep at most missing[u] per user.
        keys = np.unique(keys)
        keys = keys[rng.permutation(keys.shape[0])]
        k_users = keys // num_items
        order = np.argsort(k_users, kind="stable")
        keys, k_users = keys[order], k_users[order]
        rank = np.arange(keys.shape[0]) - np.searchsorted(k_users, k_users)
        keys = keys[rank < missing[k_users]]
        chosen = np.sort(np.concatenate([chosen, keys]))
        missing = wanted - np.bincount(chosen // num_items, minlength=num_users)
    if missing.sum() > 0:
        chosen = np.sort(np.concatenate([chosen, _dense_fill(rng, missing, forbidden, chosen, num_items)]))
    return chosen // num_items, chosen % num_items


def _dense_fill(
    rng: np.random.Generator, missing: np.ndarray, forbidden: np.ndarray, chosen: np.ndarray, num_items: int
) -> np.ndarray:
    """Exact draw without replacement for the few users rejection did not finish (random keys, top-k)."""
    users = np.flatnonzero(missing)
    allowed = np.ones((users.shape[0], num_items), dtype=bool)
    taken = np.concatenate([forbidden, chosen])
    t_users = taken // num_items
    sel = np.isin(t_users, users)
    row_of = np.searchsorted(users, t_users[sel])
    allowed[row_of, taken[sel] % num_items] = False
    keys = rng.random(allowed.shape)
    keys[~allowed] = np.inf
    order = np.argsort(keys, axis=1)
    take = np.arange(num_items)[None, :] < missing[users][:, None]
    rows, _ = np.nonzero(take)
    return users[rows] * num_items + order[take]


def _isin_sorted(query: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(query.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, query), sorted_keys.size - 1)
    return sorted_keys[pos] == query


def _noise_rows(train: Interactions, users: np.ndarray, items: np.ndarray, rng: np.random.Generator) -> Interactions:
    n = users.shape[0]
    ratings = None if train.ratings is None else np.full(n, np.nan, dtype=np.float32)
    timestamps = None
    if train.timestamps is not None:
        indptr = train.csr.indptr
        offsets = np.floor(rng.random(n) * train.user_counts[users]).astype(np.int64)
        timestamps = train.timestamps[indptr[users] + offsets]
    return train.replace(users=users, items=items, ratings=ratings, timestamps=timestamps, is_noise=np.ones(n, bool))


def natural_noise(split: Split, threshold: float = 3.0) -> Split:
    """Label low-rated training interactions as noise; keep only clean ones in valid/test.

    Args:
        split: a split made on *all* ratings (no rating threshold applied before).
        threshold: ratings ``< threshold`` are noisy (e.g. 1-2 stars on a 1-5 scale).

    Returns:
        a split whose ``train`` keeps every row with ``is_noise = rating < threshold`` and
        whose ``valid``/``test`` keep only ``rating >= threshold`` rows.
    """
    for name in ("train", "valid", "test"):
        if getattr(split, name).ratings is None:
            raise DataError(
                f"natural noise needs ratings, but the {name} part has none; use a rated dataset "
                "(e.g. ml-100k) or noise kind 'injected'"
            )
    train = split.train.replace(is_noise=split.train.ratings < threshold)
    valid = split.valid.subset(split.valid.ratings >= threshold)
    test = split.test.subset(split.test.ratings >= threshold)
    return Split(train, valid, test)


def noise_summary(train: Interactions) -> dict[str, Any]:
    """JSON-ready counts and per-user statistics of ``train.is_noise``."""
    n = len(train)
    if train.is_noise is None:
        return {"num_train": n, "num_noisy": 0, "noisy_share": 0.0}
    noisy_per_user = np.bincount(train.users[train.is_noise], minlength=train.num_users)
    counts = train.user_counts
    active = counts > 0
    share = noisy_per_user[active] / counts[active]
    return {
        "num_train": n,
        "num_noisy": int(train.is_noise.sum()),
        "num_clean": int(n - train.is_noise.sum()),
        "noisy_share": float(train.is_noise.mean()) if n else 0.0,
        "users_with_noise": int((noisy_per_user > 0).sum()),
        "noisy_per_user": {
            "mean": float(noisy_per_user[active].mean()) if active.any() else 0.0,
            "median": float(np.median(noisy_per_user[active])) if active.any() else 0.0,
            "max": int(noisy_per_user.max()) if noisy_per_user.size else 0,
        },
        "noisy_share_per_user": {
            "mean": float(share.mean()) if share.size else 0.0,
            "min": float(share.min()) if share.size else 0.0,
            "max": float(share.max()) if share.size else 0.0,
        },
    }


def add_noise(
    split: Split,
    kind: str = "none",
    ratio: float = 0.0,
    threshold: float = 3.0,
    seed: int = 0,
    valid: str = "clean",
) -> tuple[Split, dict[str, Any]]:
    """Apply a noise protocol to a split (the experiment pipeline's entry point).

    Args:
        split: train/valid/test over one id space (for ``"natural"``: made on all ratings).
        kind: ``"none"`` (unchanged), ``"injected"`` (:func:`inject_noise` on train, excluding
            valid/test items) or ``"natural"`` (:func:`natural_noise`).
        ratio: noise ratio for ``"injected"``.
        threshold: rating threshold for ``"natural"``.
        seed: seed of the injected draw (the validation draw uses the stream ``(seed, 1)``).
        valid: ``"clean"`` (noise in training only) or ``"noisy"`` (the same protocol planted
            into / kept in validation, labelled ``valid.is_noise``; see the module docstring).

    Returns:
        ``(split, summary)``; ``summary`` holds ``kind``, the parameters, counts, the noisy
        share and per-user statistics (see :func:`noise_summary`).
    """
    if kind not in NOISE_KINDS:
        raise ConfigError(f"unknown noise kind {kind!r}; choose one of {list(NOISE_KINDS)}")
    if valid not in VALID_PROTOCOLS:
        raise ConfigError(f"unknown validation protocol {valid!r}; choose one of {list(VALID_PROTOCOLS)}")
    summary: dict[str, Any] = {"kind": kind}
    if kind == "none":
        out = split
    elif kind == "injected":
        out = Split(inject_noise(split.train, ratio, seed, exclude=(split.valid, split.test)), split.valid, split.test)
        summary.update(ratio=float(ratio), seed=int(seed), num_added=len(out.train) - len(split.train))
    else:
        out = natural_noise(split, threshold)
        summary.update(
            threshold=float(threshold),
            valid_removed=len(split.valid) - len(out.valid),
            test_removed=len(split.test) - len(out.test),
        )
    if valid == "noisy" and kind != "none":
        out = Split(out.train, _noisy_valid(split, out, kind, ratio, threshold, seed), out.test)
        summary.update(valid="noisy", valid_num_noisy=int(out.valid.is_noise.sum()),
                       valid_noisy_share=float(out.valid.is_noise.mean()) if len(out.valid) else 0.0)  # fmt: skip
    elif valid == "noisy":
        summary.update(valid="noisy")
    summary.update(noise_summary(out.train))
    return out, summary


def _noisy_valid(split: Split, out: Split, kind: str, ratio: float, threshold: float, seed: int) -> Interactions:
    """Validation under the noisy protocol: injected items planted like training's (never a
    training, noisy-training or test item), or natural low ratings kept; all labelled."""
    if kind == "injected":
        return inject_noise(split.valid, ratio, (seed, 1), exclude=(out.train, split.test), rounding="stochastic")
    return split.valid.replace(is_noise=split.valid.ratings < threshold)
