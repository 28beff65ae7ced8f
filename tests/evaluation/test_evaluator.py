"""Full-ranking evaluator: hand-computed case, exclusion, batching, naive cross-check."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError
from recdenoise.evaluation import EvalResult, Evaluator, evaluate_embeddings
from recdenoise.scoring import EmbeddingScorer

INV_LOG2_3 = 1 / math.log2(3)
INV_LOG2_5 = 1 / math.log2(5)

# 4 users x 5 items, explicit scores.
SCORES = torch.tensor(
    [
        [0.9, 0.8, 0.1, 0.5, 0.3],  # u0: train {0} has the top score; targets {2, 3}
        [0.1, 0.9, 0.2, 0.3, 0.4],  # u1: no targets -> never evaluated
        [0.1, 0.2, 0.3, 0.4, 0.5],  # u2: valid {3} excluded too; target {4}
        [0.5, 0.4, 0.3, 0.2, 0.1],  # u3: train {0, 1}; targets {1, 4} (1 is also excluded)
    ]
)
TRAIN = Interactions(np.array([0, 1, 3, 3]), np.array([0, 1, 0, 1]), 4, 5)
VALID = Interactions(np.array([2]), np.array([3]), 4, 5)
TEST = Interactions(np.array([0, 0, 2, 3, 3]), np.array([2, 3, 4, 1, 4]), 4, 5)

# Rankings after masking (depth 4):
#   u0: [1, 3, 4, 2]  hits [0, 1, 0, 1], |T| = 2
#   u2: [4, 2, 1, 0]  hits [1, 0, 0, 0], |T| = 1
#   u3: [2, 3, 4, -inf] hits [0, 0, 1, 0], |T| = 2 (the excluded target never counts)
EXPECTED_PER_USER = {
    "recall@2": [1 / 2, 1, 0],
    "recall@4": [1, 1, 1 / 2],
    "precision@2": [1 / 2, 1 / 2, 0],
    "precision@4": [1 / 2, 1 / 4, 1 / 4],
    "ndcg@2": [INV_LOG2_3 / (1 + INV_LOG2_3), 1, 0],
    "ndcg@4": [(INV_LOG2_3 + INV_LOG2_5) / (1 + INV_LOG2_3), 1, 0.5 / (1 + INV_LOG2_3)],
    "hit_rate@2": [1, 1, 0],
    "hit_rate@4": [1, 1, 1],
    "mrr@2": [1 / 2, 1, 0],
    "mrr@4": [1 / 2, 1, 1 / 3],
}


def table_scorer(table: torch.Tensor, calls: list | None = None):
    def scorer(users: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append(users.tolist())
        return table[users]

    return scorer


def test_hand_computed_case():
    calls: list = []
    result = Evaluator(ks=(2, 4)).evaluate(
        table_scorer(SCORES, calls), TEST, exclude=(TRAIN, VALID), return_per_user=True, return_topk=4
    )
    assert isinstance(result, EvalResult)
    assert result.num_users == 3
    assert sorted(u for batch in calls for u in batch) == [0, 2, 3]  # u1 (no targets) never scored
    assert list(result.metrics) == list(EXPECTED_PER_USER)
    for key, per_user in EXPECTED_PER_USER.items():
        assert result[key] == pytest.approx(sum(per_user) / 3, abs=1e-7), key
        np.testing.assert_allclose(result.per_user[key].to_numpy(), per_user, atol=1e-7, err_msg=key)
    users, items, scores = result.topk
    assert users.tolist() == [0, 2, 3]
    assert items[:, :3].tolist() == [[1, 3, 4], [4, 2, 1], [2, 3, 4]]
    assert items[0, 3].item() == 2 and items[1, 3].item() == 0
    assert scores[2, 3].item() == -math.inf
    assert result.per_user["num_targets"].tolist() == [2, 1, 2]


def test_exclusion_masks_top_scored_seen_item():
    result = Evaluator(ks=(1,)).evaluate(table_scorer(SCORES), TEST, exclude=TRAIN, return_topk=5)
    users, items, _ = result.topk
    assert items[users == 0, 0].item() == 1  # item 0 has the top score but is a training item
    train_pairs = set(zip(TRAIN.users.tolist(), TRAIN.items.tolist()))
    for u, row in zip(users.tolist(), items.tolist()):
        finite = [i for i in row if (u, i) not in train_pairs]
        assert row[: len(finite)] == finite  # every seen item ranks after every unseen one


def test_scorer_output_is_not_modified():
    table = SCORES.clone()
    Evaluator(ks=(2,), batch_size=4).evaluate(lambda users: table[: users.numel()], TEST, exclude=TRAIN)
    torch.testing.assert_close(table, SCORES)  # the scorer returned views of `table`


def test_in_place_masking_of_fresh_scores_matches_the_copying_path():
    user_emb, item_emb, train, test = random_problem(seed=4)
    fresh = EmbeddingScorer(user_emb, item_emb)  # fresh_scores: masked in place
    assert fresh.fresh_scores
    kwargs = dict(exclude=[train], return_per_user=True, return_topk=10)
    a = Evaluator(ks=(5, 10), batch_size=7).evaluate(fresh, test, **kwargs)
    b = Evaluator(ks=(5, 10), batch_size=7).evaluate(lambda users: fresh(users).clone(), test, **kwargs)
    assert a.metrics == b.metrics and a.per_user.equals(b.per_user)
    for x, y in zip(a.topk, b.topk):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize(
    "nan_at, counted",
    [
        ([], 0),
        ([(0, 4)], 1),  # a candidate of u0
        ([(0, 4), (0, 3), (3, 2)], 2),  # two of u0's, one of u3's: users are counted once
        ([(0, 0)], 0),  # u0's training item: masked, never ranked
        ([(1, 2)], 0),  # u1 has no targets: never evaluated
    ],
)
def test_nan_scores_are_counted_per_user(nan_at, counted, caplog):
    table = SCORES.clone()
    for u, i in nan_at:
        table[u, i] = math.nan
    with caplog.at_level("WARNING", logger="recdenoise.evaluation.evaluator"):
        Evaluator(ks=(2,)).evaluate(table_scorer(table), TEST, exclude=TRAIN)
    warned = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
    if counted:
        assert len(warned) == 1 and f"candidates of {counted} of 3 users" in warned[0]
    else:
        assert not warned


def test_no_users_with_targets_gives_nan():
    empty = Interactions(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 4, 5)
    result = Evaluator(ks=(2,), metrics=("recall",)).evaluate(table_scorer(SCORES), empty, return_per_user=True)
    assert result.num_users == 0 and math.isnan(result["recall@2"])
    assert len(result.per_user) == 0


# ------------------------------------------------------------ random data
def random_problem(num_users=37, num_items=23, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    user_emb = torch.from_numpy(rng.normal(size=(num_users, dim)).astype(np.float32))
    item_emb = torch.from_numpy(rng.normal(size=(num_items, dim)).astype(np.float32))
    cells = rng.permutation(num_users * num_items)
    train_keys, test_keys = cells[: num_users * 5], cells[num_users * 5 : num_users * 8]
    # a few users get no test rows at all
    test_keys = test_keys[(test_keys // num_items) % 6 != 5]
    train = Interactions(train_keys // num_items, train_keys % num_items, num_users, num_items)
    test = Interactions(test_keys // num_items, test_keys % num_items, num_users, num_items)
    return user_emb, item_emb, train, test


def naive_metrics(scores: np.ndarray, train: Interactions, test: Interactions, ks) -> tuple[dict, int]:
    """Per-user loop, straight from the textbook definitions."""
    sums = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg", "precision", "hit_rate", "mrr") for k in ks}
    num_eval = 0
    for u in range(scores.shape[0]):
        targets = set(test.items[test.users == u].tolist())
        if not targets:
            continue
        num_eval += 1
        row = scores[u].astype(np.float64).copy()
        row[train.items[train.users == u]] = -np.inf
        ranked = np.argsort(-row, kind="stable")
        for k in ks:
            top = ranked[:k]
            rel = [1.0 if i in targets else 0.0 for i in top]
            n_hit = sum(rel)
            dcg = sum(r / math.log2(pos + 2) for pos, r in enumerate(rel))
            idcg = sum(1 / math.log2(pos + 2) for pos in range(min(len(targets), k)))
            first = next((pos for pos, r in enumerate(rel) if r), None)
            sums[f"recall@{k}"] += n_hit / len(targets)
            sums[f"precision@{k}"] += n_hit / k
            sums[f"ndcg@{k}"] += dcg / idcg
            sums[f"hit_rate@{k}"] += float(n_hit > 0)
            sums[f"mrr@{k}"] += 0.0 if first is None else 1 / (first + 1)
    return {key: value / num_eval for key, value in sums.items()}, num_eval


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_naive_implementation(seed):
    user_emb, item_emb, train, test = random_problem(seed=seed)
    ks = (1, 5, 10)
    expected, num_eval = naive_metrics((user_emb @ item_emb.T).numpy(), train, test, ks)
    result = evaluate_embeddings(user_emb, item_emb, test, exclude=[train], ks=ks, batch_size=5)
    assert result.num_users == num_eval < user_emb.shape[0]
    assert result.metrics.keys() == expected.keys()
    for key in expected:
        assert result[key] == pytest.approx(expected[key], abs=1e-6), key


@pytest.mark.parametrize("batch_size", [1, 3, None])
def test_independent_of_batch_size(batch_size):
    user_emb, item_emb, train, test = random_problem(seed=3)
    full = Evaluator(ks=(5, 10), batch_size=10**6).evaluate_embeddings(
        user_emb, item_emb, test, [train], return_per_user=True, return_topk=12
    )
    result = Evaluator(ks=(5, 10), batch_size=batch_size).evaluate_embeddings(
        user_emb, item_emb, test, [train], return_per_user=True, return_topk=12
    )
    assert result.num_users == full.num_users
    assert result.metrics == pytest.approx(full.metrics, abs=1e-12)
    for a, b in zip(result.topk, full.topk):
        torch.testing.assert_close(a, b)
    assert result.per_user.equals(full.per_user)


def test_per_user_export_matches_mean():
    user_emb, item_emb, train, test = random_problem(seed=4)
    result = evaluate_embeddings(user_emb, item_emb, test, train, ks=(3, 7), return_per_user=True, batch_size=4)
    frame = result.per_user
    assert len(frame) == result.num_users
    assert list(frame.columns[:3]) == ["user", "user_id", "num_targets"]
    assert (frame["num_targets"] == test.user_counts[frame["user"]]).all()
    for key, value in result.metrics.items():
        assert frame[key].mean() == pytest.approx(value, abs=1e-12), key


def test_batch_size_from_memory_bound():
    user_emb, item_emb, train, test = random_problem(seed=5)
    num_items = item_emb.shape[0]
    evaluator = Evaluator(ks=(5,), max_batch_bytes=num_items * 4 * 3 * 7)
    assert evaluator.batch_size_for(num_items) == 7
    assert Evaluator(max_batch_bytes=1).batch_size_for(num_items) == 1
    calls: list = []
    evaluator.evaluate(table_scorer(user_emb @ item_emb.T, calls), test, [train])
    assert max(len(batch) for batch in calls) == 7 and len(calls) > 1


def test_multiple_exclusions_and_progress_bar():
    user_emb, item_emb, train, test = random_problem(seed=6)
    half = np.arange(len(train)) % 2 == 0
    split_train = (train.subset(half), train.subset(~half))
    a = Evaluator(ks=(5,), batch_size=4, show_progress=True).evaluate_embeddings(user_emb, item_emb, test, split_train)
    b = Evaluator(ks=(5,), batch_size=4).evaluate_embeddings(user_emb, item_emb, test, [train])
    assert a.metrics == pytest.approx(b.metrics, abs=1e-12)


def test_to_table():
    result = Evaluator(ks=(2, 4), metrics=("recall", "ndcg")).evaluate(table_scorer(SCORES), TEST, (TRAIN, VALID))
    text = str(result)
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "@2", "@4"]
    assert lines[1].split()[0] == "recall" and lines[2].split()[0] == "ndcg"
    assert f"{result['recall@4']:.4f}" in lines[1]
    assert "(3 users)" in text


# ------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ks": ()}, "ks="),
        ({"ks": (0,)}, "ks="),
        ({"metrics": ("recall", "auc")}, "auc"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_batch_bytes": -1}, "max_batch_bytes=-1"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Evaluator(**kwargs)


def test_bad_evaluate_arguments():
    evaluator = Evaluator(ks=(2,))
    scorer = table_scorer(SCORES)
    with pytest.raises(ConfigError, match="ks=\\(6,\\)"):
        Evaluator(ks=(6,)).evaluate(scorer, TEST)
    with pytest.raises(ConfigError, match="return_topk=0"):
        evaluator.evaluate(scorer, TEST, return_topk=0)
    with pytest.raises(ConfigError, match="return_topk=9"):
        evaluator.evaluate(scorer, TEST, return_topk=9)
    with pytest.raises(ConfigError, match="B=3, I=5"):
        evaluator.evaluate(lambda users: SCORES[:, :4][users], TEST)
    with pytest.raises(ConfigError, match="floating-point"):
        evaluator.evaluate(lambda users: torch.ones(users.numel(), 5, dtype=torch.long), TEST)
    other = Interactions(np.array([0]), np.array([0]), 4, 6)
    with pytest.raises(ConfigError, match="exclude\\[1\\]"):
        evaluator.evaluate(scorer, TEST, exclude=(TRAIN, other))
    with pytest.raises(ConfigError, match="targets"):
        evaluator.evaluate(scorer, "test.tsv")
    with pytest.raises(ConfigError, match="item_emb"):
        evaluator.evaluate_embeddings(torch.ones(4, 3), torch.ones(6, 3), TEST)
    with pytest.raises(ConfigError, match="embedding dimension"):
        evaluator.evaluate_embeddings(torch.ones(4, 3), torch.ones(5, 2), TEST)


# --------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_cpu():
    user_emb, item_emb, train, test = random_problem(num_users=300, num_items=200, seed=7)
    scores = user_emb @ item_emb.T  # one score table, so both devices rank identical numbers
    kwargs = dict(return_per_user=True, return_topk=20)
    cpu = Evaluator(ks=(5, 20), batch_size=64).evaluate(table_scorer(scores), test, [train], **kwargs)
    cuda_scores = scores.to("cuda")
    gpu = Evaluator(ks=(5, 20), batch_size=64, device="cuda").evaluate(
        lambda users: cuda_scores[users], test, [train], **kwargs
    )
    assert gpu.num_users == cpu.num_users
    assert gpu.metrics == pytest.approx(cpu.metrics, abs=1e-6)
    for a, b in zip(gpu.topk, cpu.topk):
        torch.testing.assert_close(a, b)
    np.testing.assert_allclose(gpu.per_user.iloc[:, 3:].to_numpy(), cpu.per_user.iloc[:, 3:].to_numpy(), atol=1e-6)
    via_embeddings = evaluate_embeddings(user_emb.to("cuda"), item_emb.to("cuda"), test, [train], ks=(5, 20))
    assert via_embeddings.metrics == pytest.approx(cpu.metrics, abs=1e-3)  # matmul rounding may swap near-ties
