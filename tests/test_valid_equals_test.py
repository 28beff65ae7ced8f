"""LLMRec's Netflix split ships ``val.json == test.json``: testing must not exclude the
validation items that are themselves test targets (it used to, and reported Recall@20 = 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from recdenoise.data.interactions import Interactions, Split
from recdenoise.evaluation import Evaluator
from recdenoise.experiment import exclusions_for_test


def _table(pairs, users=range(3), items=range(6)) -> Interactions:
    df = pd.DataFrame(pairs, columns=["user", "item"])
    return Interactions.from_dataframe(df, user_ids=list(users), item_ids=list(items))


def test_valid_pairs_that_are_test_targets_stay_rankable():
    train = _table([(0, 0), (1, 1), (2, 2)])
    valid = _table([(0, 3), (1, 4), (2, 5), (0, 5)])  # (0, 5) is a validation-only pair
    test = _table([(0, 3), (1, 4), (2, 5)])  # == valid minus (0, 5), as in netflix-llmrec
    split = Split(train, valid, test)
    excl = exclusions_for_test(split)
    assert excl[0] is train
    assert excl[1].contains(np.array([0]), np.array([5])).all() and len(excl[1]) == 1

    # a scorer that ranks every target first: perfect recall once the targets are not hidden
    scores = torch.zeros(3, 6)
    scores[0, 3] = scores[1, 4] = scores[2, 5] = 10.0
    evaluator = Evaluator(ks=(1,), metrics=("recall",))
    hidden = evaluator.evaluate(lambda u: scores[u], test, exclude=[train, valid])
    assert hidden["recall@1"] == 0.0  # what excluding the whole validation set did
    assert evaluator.evaluate(lambda u: scores[u], test, exclude=excl)["recall@1"] == 1.0


def test_disjoint_valid_is_excluded_whole():
    train = _table([(0, 0)])
    valid = _table([(0, 1), (1, 2)])
    test = _table([(0, 3), (2, 4)])
    excl = exclusions_for_test(Split(train, valid, test))
    assert excl[1] is valid
