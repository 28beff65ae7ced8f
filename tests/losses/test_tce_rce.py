"""T-CE (truncated) and R-CE (reweighted) reducers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recdenoise.errors import ConfigError
from recdenoise.losses import PairwiseObjective, ReweightedReducer, TruncatedReducer, drop_rate_schedule
from recdenoise.samplers import TripletBatch


def _batch(n: int) -> TripletBatch:
    return TripletBatch(torch.zeros(n, dtype=torch.long), torch.arange(n), torch.arange(n), rows=torch.arange(n))


def test_schedule_matches_reference_linspace():
    import numpy as np

    ref = np.linspace(0, 0.2, 100)
    for t in (0, 1, 50, 98, 99):
        assert drop_rate_schedule(t, 0.2, 100) == pytest.approx(ref[t])
    assert drop_rate_schedule(100, 0.2, 100) == 0.2
    assert drop_rate_schedule(10**6, 0.2, 100) == 0.2


@pytest.mark.parametrize("step", [0, 25, 50, 99, 500])
def test_tce_drops_exactly_the_scheduled_fraction(step):
    B = 200
    reducer = TruncatedReducer(max_drop_rate=0.3, num_gradual=100)
    losses = torch.randperm(B).float().requires_grad_()
    scalar, weights = reducer(losses, _batch(B), step, torch.zeros(B))
    keep = int((1 - drop_rate_schedule(step, 0.3, 100)) * B)
    assert int(weights.sum()) == keep
    # the dropped ones are exactly the largest losses
    assert set(torch.nonzero(weights == 0).squeeze(1).tolist()) == set(torch.argsort(losses.detach())[keep:].tolist())
    torch.testing.assert_close(scalar, torch.sort(losses.detach()).values[:keep].mean())
    scalar.backward()
    torch.testing.assert_close(losses.grad, weights / keep)


def test_tce_positive_ranking_uses_positive_scores():
    B = 10
    reducer = TruncatedReducer(max_drop_rate=0.2, num_gradual=1, rank_by="positive")
    losses = torch.ones(B)  # identical whole-triple losses: the ranking must come from the positives
    pos_scores = torch.linspace(-3, 3, B)  # lowest scores = largest positive BCE term
    _, weights = reducer(losses, _batch(B), 10, pos_scores)
    assert weights[:2].sum() == 0 and weights[2:].sum() == 8


def test_rce_weights():
    B = 6
    pos, neg = torch.randn(B), torch.randn(B)
    bce = ReweightedReducer(beta=0.25, score_by="positive")
    losses = (F.softplus(-pos) + F.softplus(neg)).requires_grad_()
    scalar, w = bce(losses, _batch(B), 0, pos)
    torch.testing.assert_close(w, torch.sigmoid(pos) ** 0.25)
    torch.testing.assert_close(scalar, (w * losses).mean())
    scalar.backward()
    torch.testing.assert_close(losses.grad, w / B)  # weights are constants

    bpr = ReweightedReducer(beta=0.5, score_by="loss")
    losses = F.softplus(neg - pos)
    _, w = bpr(losses, _batch(B), 0, pos)
    torch.testing.assert_close(w, torch.sigmoid(pos - neg) ** 0.5)
    _, w0 = ReweightedReducer(beta=0.0)(losses, _batch(B), 0, pos)
    torch.testing.assert_close(w0, torch.ones(B))


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_plugged_into_pairwise_objective(loss):
    from recdenoise.models import MF

    torch.manual_seed(0)
    model = MF(3, 20, embedding_dim=4)
    batch = TripletBatch(torch.randint(3, (16,)), torch.randint(20, (16,)), torch.randint(20, (16, 2)), rows=torch.arange(16))
    for reducer in (TruncatedReducer(0.25, 1, rank_by="loss"), ReweightedReducer(0.25)):
        objective = PairwiseObjective(loss, reg_weight=0.0, reducer=reducer)
        u, i = model(None)
        out = objective(model, u, i, batch, step=5)
        assert out.weights is not None and out.weights.shape == (16,)
        out.loss.backward()
        assert torch.isfinite(model.user_embedding.weight.grad).all()
    assert int(out.weights.gt(0).sum()) == 16


def test_bad_options():
    with pytest.raises(ConfigError):
        TruncatedReducer(max_drop_rate=1.0)
    with pytest.raises(ConfigError):
        TruncatedReducer(num_gradual=0)
    with pytest.raises(ConfigError):
        TruncatedReducer(rank_by="neg")
    with pytest.raises(ConfigError):
        ReweightedReducer(beta=-1)
