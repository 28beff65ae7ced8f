"""Candidate lists: top-k unseen items, best first, -1 padding."""

from __future__ import annotations

import numpy as np
import pytest

from recdenoise.data import Interactions
from recdenoise.errors import DataError
from recdenoise.llm.candidates import base_candidates, candidates_from_scores, popularity_candidates
from recdenoise.llm.jobs import validate_candidates
from recdenoise.llm.synthetic import synthetic_movies


@pytest.mark.parametrize("k", [1, 5, 10])
def test_scores_topk_unseen_matches_bruteforce(k):
    train = synthetic_movies(12, 30, per_user=6, seed=1)
    scores = np.random.default_rng(0).random((12, 30))
    got = candidates_from_scores(scores, train, k, batch_size=5)
    seen = train.csr.toarray() > 0
    for u in range(12):
        expected = [i for i in np.argsort(-scores[u]) if not seen[u, i]][:k]
        assert got[u].tolist() == expected


def test_padding_when_few_unseen_items():
    train = Interactions(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0]), 2, 4)
    cand = popularity_candidates(train, k=3, seed=0)
    assert cand[0].tolist() == [3, -1, -1]
    assert sorted(cand[1].tolist()) == [1, 2, 3]
    validate_candidates(cand, 2, 4)


def test_popularity_is_seeded_and_hook_is_used():
    train = synthetic_movies(10, 25, seed=2)
    a, b = popularity_candidates(train, 5, seed=4), popularity_candidates(train, 5, seed=4)
    np.testing.assert_array_equal(a, b)
    pop = train.item_counts[a[a >= 0]]
    assert (np.diff(train.item_counts[a], axis=1) <= 0).all() and pop.min() >= 0
    scorer = lambda users: np.tile(np.arange(25, dtype=float), (users.size, 1))  # noqa: E731
    hooked = base_candidates(train, 3, scorer=scorer)
    assert (hooked[:, 0] >= hooked[:, 1]).all()


def test_validate_candidates_rejects_bad_rows():
    with pytest.raises(DataError, match="shape"):
        validate_candidates(np.zeros((3, 1), int), 3, 5)
    with pytest.raises(DataError, match="outside"):
        validate_candidates(np.array([[0, 7]]), 1, 5)
    with pytest.raises(DataError, match="repeat"):
        validate_candidates(np.array([[2, 2]]), 1, 5)
