"""PLD sampler: pools, negatives, selection probabilities, warm-up, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recdenoise.data import Interactions, make_synthetic
from recdenoise.errors import ConfigError
from recdenoise.samplers import PairScorer, PLDSampler, TripletBatch
from recdenoise.types import CandidateSelection


@pytest.fixture(scope="module")
def train() -> Interactions:
    x = make_synthetic(40, 60, interactions_per_user=8, seed=1).interactions
    # one user without interactions: must never be drawn
    keep = x.users != 7
    return x.subset(keep)


def test_epoch_size_and_shapes(train):
    s = PLDSampler(train, batch_size=32, k=4, warmup=1, seed=0)
    warm = list(s.batches(0))
    assert sum(len(b) for b in warm) == len(train) and len(warm) == len(s)
    assert all(b.pos_items.dim() == 1 and b.rows.dim() == 1 for b in warm)
    hot = list(s.batches(1))
    assert sum(len(b) for b in hot) == len(train)
    assert all(b.pos_items.shape == (len(b), 4) and b.rows.shape == (len(b), 4) for b in hot)


def test_pools_are_the_users_positives_and_negatives_are_not(train):
    s = PLDSampler(train, batch_size=64, k=5, warmup=0, num_negatives=3, seed=0)
    users_t = torch.from_numpy(train.users)
    items_t = torch.from_numpy(train.items)
    for b in s.batches(0):
        assert (users_t[b.rows] == b.users.unsqueeze(1)).all()
        assert (items_t[b.rows] == b.pos_items).all()
        assert b.neg_items.shape == (len(b), 3)
        u = b.users.unsqueeze(1).expand_as(b.neg_items).numpy().ravel()
        assert not train.contains(u, b.neg_items.numpy().ravel()).any()
        assert (b.users != 7).all()


def test_pool_without_replacement_when_possible():
    # user 0 has 6 positives (>= k), user 1 has 2 (< k: with replacement)
    x = Interactions(np.array([0] * 6 + [1] * 2), np.array([0, 1, 2, 3, 4, 5, 6, 7]), 2, 12)
    s = PLDSampler(x, batch_size=8, k=4, warmup=0, seed=0)
    counts = np.zeros(6)
    for _ in range(300):
        users = torch.tensor([0] * 50 + [1] * 50)
        rows = s.sample_pool(users, 4)
        r0 = rows[:50]
        assert all(len(set(r.tolist())) == 4 for r in r0)  # distinct
        assert ((rows[50:] >= 6) & (rows[50:] < 8)).all()
        counts += np.bincount(r0.ravel().numpy(), minlength=6)
    freq = counts / counts.sum()
    np.testing.assert_allclose(freq, 1 / 6, atol=0.01)  # every positive equally likely in a pool
    s_rep = PLDSampler(x, batch_size=8, k=4, warmup=0, seed=0, pool_replacement=True)
    rows = s_rep.sample_pool(torch.zeros(2000, dtype=torch.long), 4)
    assert any(len(set(r.tolist())) < 4 for r in rows)


def test_user_sampling(train):
    s = PLDSampler(train, batch_size=32, seed=0)
    users = s.sample_users(60000).numpy()
    active = np.flatnonzero(train.user_counts > 0)
    freq = np.bincount(users, minlength=train.num_users)[active] / users.size
    np.testing.assert_allclose(freq, 1 / active.size, rtol=0.15)
    s2 = PLDSampler(train, batch_size=32, seed=0, user_sampling="interaction")
    users = s2.sample_users(60000).numpy()
    freq = np.bincount(users, minlength=train.num_users) / users.size
    np.testing.assert_allclose(freq[active], train.user_counts[active] / len(train), rtol=0.2)


def _scorer_with_losses(pos_scores: torch.Tensor) -> tuple[PairScorer, TripletBatch]:
    """One user, items 0..k-1 as candidates with given scores, item k as negative (score 0)."""
    k = pos_scores.numel()
    user_emb = torch.ones(1, 1)
    item_emb = torch.cat([pos_scores, torch.zeros(1)]).unsqueeze(1)
    batch = TripletBatch(
        torch.zeros(1, dtype=torch.long), torch.arange(k).unsqueeze(0), torch.tensor([k]), rows=torch.arange(k).unsqueeze(0)
    )
    return PairScorer(user_emb, item_emb), batch


@pytest.mark.parametrize("loss", ["bpr", "bce"])
@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_selection_probabilities_match_softmax(loss, tau):
    x = Interactions(np.zeros(5, np.int64), np.arange(5), 1, 7)
    s = PLDSampler(x, batch_size=1, k=5, tau=tau, warmup=0, loss=loss, seed=0)
    pos = torch.tensor([2.0, 0.5, -0.3, 1.0, -1.5])
    scorer, batch = _scorer_with_losses(pos)
    sel = s.select(batch, scorer, epoch=0).selection
    assert isinstance(sel, CandidateSelection) and sel.tau == tau
    losses = F.softplus(-pos) if loss == "bpr" else F.softplus(-pos) + F.softplus(torch.zeros(()))
    torch.testing.assert_close(sel.losses[0], losses)
    torch.testing.assert_close(sel.probs[0], torch.softmax(-losses / tau, 0))
    # empirical frequencies of the chosen candidate over many draws
    big = TripletBatch(batch.users.repeat(20000), batch.pos_items.repeat(20000, 1), batch.neg_items.repeat(20000), rows=batch.rows.repeat(20000, 1))
    out = s.select(big, scorer, epoch=0)
    freq = torch.bincount(out.pos_items, minlength=5).float() / 20000
    torch.testing.assert_close(freq, sel.probs[0], atol=0.015, rtol=0)
    assert (out.rows == out.pos_items).all()  # rows follow the chosen candidate
    torch.testing.assert_close(out.selection.chosen_probs, out.selection.probs[0, out.pos_items])


def test_warmup_batches_pass_through(train):
    s = PLDSampler(train, batch_size=16, warmup=2, seed=0)
    b = next(iter(s.batches(1)))
    out = s.select(b, PairScorer(torch.zeros(train.num_users, 2), torch.zeros(train.num_items, 2)), 1)
    assert out is b and out.selection is None


def test_determinism_and_resume(train):
    def draw(s, epoch):
        return [torch.cat([b.users, b.rows.ravel(), b.neg_items.ravel()]) for b in s.batches(epoch)]

    a, b = PLDSampler(train, batch_size=32, seed=3), PLDSampler(train, batch_size=32, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(draw(a, 6), draw(b, 6)))
    state = a.state_dict()
    first = draw(a, 6)
    a.load_state_dict(state)
    assert all(torch.equal(x, y) for x, y in zip(first, draw(a, 6)))


@pytest.mark.parametrize("kw", [{"k": 0}, {"tau": 0.0}, {"warmup": -1}, {"loss": "mse"}, {"user_sampling": "x"}])
def test_bad_options(train, kw):
    with pytest.raises(ConfigError):
        PLDSampler(train, **kw)
