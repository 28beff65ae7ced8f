"""Ranking metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from recdenoise.errors import ConfigError
from recdenoise.evaluation.metrics import (
    METRICS,
    MetricAccumulator,
    check_ks,
    check_metrics,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_user_metrics,
    precision_at_k,
    recall_at_k,
)

INV_LOG2_3 = 1 / math.log2(3)  # 0.6309..., discount of rank 2 (0-based 1)
INV_LOG2_4 = 0.5  # discount of rank 3 (0-based 2)

# Five users ranked over K = 3 positions:
#   A: targets {a, c}, ranked [a, b, c]        -> hits [1, 0, 1], |T| = 2
#   B: targets {x},    ranked [b, x, c]        -> hits [0, 1, 0], |T| = 1
#   C: 5 targets,      third ranked is one     -> hits [0, 0, 1], |T| = 5
#   D: 3 targets,      none ranked             -> hits [0, 0, 0], |T| = 3
#   E: no targets                              -> hits [0, 0, 0], |T| = 0
HITS = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]], dtype=torch.bool)
NUM_TARGETS = torch.tensor([2, 1, 5, 3, 0])

EXPECTED = {
    ("recall", 1): [1 / 2, 0, 0, 0, 0],
    ("recall", 2): [1 / 2, 1, 0, 0, 0],
    ("recall", 3): [1, 1, 1 / 5, 0, 0],
    ("precision", 1): [1, 0, 0, 0, 0],
    ("precision", 2): [1 / 2, 1 / 2, 0, 0, 0],
    ("precision", 3): [2 / 3, 1 / 3, 1 / 3, 0, 0],
    ("ndcg", 1): [1, 0, 0, 0, 0],
    # A@2: only position 0 hit, ideal has 2 hits: 1 / (1 + 1/log2 3)
    ("ndcg", 2): [1 / (1 + INV_LOG2_3), INV_LOG2_3 / 1, 0, 0, 0],
    ("ndcg", 3): [
        (1 + INV_LOG2_4) / (1 + INV_LOG2_3),  # A: ideal over min(2, 3) = 2 positions
        INV_LOG2_3 / 1,  # B: ideal over 1 position
        INV_LOG2_4 / (1 + INV_LOG2_3 + INV_LOG2_4),  # C: ideal over min(5, 3) = 3 positions
        0,
        0,
    ],
    ("hit_rate", 1): [1, 0, 0, 0, 0],
    ("hit_rate", 2): [1, 1, 0, 0, 0],
    ("hit_rate", 3): [1, 1, 1, 0, 0],
    ("mrr", 1): [1, 0, 0, 0, 0],
    ("mrr", 2): [1, 1 / 2, 0, 0, 0],
    ("mrr", 3): [1, 1 / 2, 1 / 3, 0, 0],
}


@pytest.mark.parametrize(("name", "k"), sorted(EXPECTED))
def test_metric_matches_hand_computed(name, k):
    got = METRICS[name](HITS, NUM_TARGETS, k)
    assert got.shape == (5,)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, torch.tensor(EXPECTED[(name, k)], dtype=torch.float32))


def test_explicit_ndcg_value():
    # the brief's worked example: targets {a, c}, ranked [a, b, c]
    value = ndcg_at_k(HITS[:1], NUM_TARGETS[:1], 3).item()
    assert value == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert value == pytest.approx(0.919720, abs=1e-6)


def test_float_hits_equal_bool_hits():
    for fn in (recall_at_k, precision_at_k, ndcg_at_k, hit_rate_at_k, mrr_at_k):
        torch.testing.assert_close(fn(HITS.double(), NUM_TARGETS, 3), fn(HITS, NUM_TARGETS, 3).double())


def test_perfect_ranking_has_ndcg_one():
    hits = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(ndcg_at_k(hits, torch.tensor([2, 10]), 4), torch.ones(2))


def test_per_user_metrics_keys():
    values = per_user_metrics(HITS, NUM_TARGETS, ks=(3, 1), metrics=("ndcg", "recall"))
    assert list(values) == ["ndcg@1", "ndcg@3", "recall@1", "recall@3"]


@pytest.mark.parametrize("fn", [recall_at_k, precision_at_k, ndcg_at_k, hit_rate_at_k, mrr_at_k])
@pytest.mark.parametrize(("k", "match"), [(0, "k=0"), (-2, "k=-2"), (4, "k=4"), (2.0, "k=2.0"), (True, "k=True")])
def test_bad_k_raises(fn, k, match):
    with pytest.raises(ConfigError, match=match):
        fn(HITS, NUM_TARGETS, k)


@pytest.mark.parametrize("fn", [recall_at_k, ndcg_at_k, mrr_at_k])
def test_shape_mismatch_raises(fn):
    with pytest.raises(ConfigError, match="num_targets"):
        fn(HITS, NUM_TARGETS[:3], 2)
    with pytest.raises(ConfigError, match="hits"):
        fn(HITS[0], NUM_TARGETS[:1], 2)


@pytest.mark.parametrize(
    ("ks", "match"), [((), "ks="), ((0, 5), "ks="), ((5, 5), "repeat"), (10, "ks=10"), ((2.5,), "ks=")]
)
def test_bad_ks_raise(ks, match):
    with pytest.raises(ConfigError, match=match):
        check_ks(ks)


def test_bad_metric_names_raise():
    with pytest.raises(ConfigError, match="'auc'"):
        check_metrics(("recall", "auc"))
    with pytest.raises(ConfigError, match="repeat"):
        check_metrics(("recall", "recall"))
    assert check_metrics("ndcg") == ("ndcg",)


# ----------------------------------------------------------------- accumulator
def test_accumulator_skips_users_without_targets_and_batches_agree():
    acc = MetricAccumulator(ks=(1, 3), metrics=("recall", "ndcg", "mrr"))
    acc.update(HITS[:2], NUM_TARGETS[:2])
    acc.update(HITS[2:], NUM_TARGETS[2:])
    assert acc.num_users == 4  # E has no targets
    got = acc.compute()
    assert list(got) == ["recall@1", "recall@3", "ndcg@1", "ndcg@3", "mrr@1", "mrr@3"]
    for (name, k), per_user in EXPECTED.items():
        key = f"{name}@{k}"
        if key in got:
            assert got[key] == pytest.approx(sum(per_user[:4]) / 4, abs=1e-7), key
    assert got["recall@3"] == pytest.approx((1 + 1 + 0.2 + 0) / 4)
    assert got["mrr@3"] == pytest.approx((1 + 0.5 + 1 / 3 + 0) / 4)

    one_batch = MetricAccumulator(ks=(1, 3), metrics=("recall", "ndcg", "mrr"))
    one_batch.update(HITS, NUM_TARGETS)
    assert one_batch.compute() == pytest.approx(got, abs=1e-12)


def test_accumulator_reset_and_empty():
    acc = MetricAccumulator(ks=(2,), metrics=("recall",))
    acc.update(HITS[-1:], NUM_TARGETS[-1:])  # only a user without targets
    assert acc.num_users == 0
    assert math.isnan(acc.compute()["recall@2"])
    acc.update(HITS, NUM_TARGETS)
    assert acc.num_users == 4
    acc.reset()
    assert acc.num_users == 0 and math.isnan(acc.compute()["recall@2"])


def test_accumulator_rejects_short_hits_and_bad_config():
    acc = MetricAccumulator(ks=(2, 5))
    with pytest.raises(ConfigError, match="k=5"):
        acc.update(HITS, NUM_TARGETS)
    with pytest.raises(ConfigError, match="metrics="):
        MetricAccumulator(metrics=("recal",))
