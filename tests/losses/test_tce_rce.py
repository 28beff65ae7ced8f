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


# ----------------------------------------------------------------- element-wise (the reference)
from recdenoise.losses import ElementReweighting, ElementTruncation, ElementwiseObjective  # noqa: E402


@pytest.mark.parametrize(
    "B, n, eps, pos_dropped",
    [
        (1000, 1, 0.2, 400),  # the audit's toy batch: 2B elements, int(0.2 * 2000) positives, no negative
        (1000, 4, 0.1, 500),  # N = 5000 elements: 500 positives
        (1000, 1, 0.0, 0),
        (10, 1, 0.6, 9),  # eps * N > B: all positives but one, still no negative
        (7, 2, 0.15, 4),  # N = 21, int(0.85 * 21) = 17 kept
    ],
)
def test_element_tce_drops_positives_only(B, n, eps, pos_dropped):
    gen = torch.Generator().manual_seed(B + n)
    pos_terms = torch.rand(B, generator=gen).requires_grad_()
    neg_terms = torch.rand(B, n, generator=gen).requires_grad_()
    reducer = ElementTruncation(max_drop_rate=eps, num_gradual=1)
    scalar, pos_w, neg_w = reducer(pos_terms, neg_terms, torch.zeros(B), torch.zeros(B, n), step=5)
    assert int((pos_w == 0).sum()) == pos_dropped and int((neg_w == 0).sum()) == 0
    # the dropped positives are the largest-loss ones
    assert set(torch.nonzero(pos_w == 0).squeeze(1).tolist()) == set(torch.argsort(pos_terms.detach())[B - pos_dropped :].tolist())
    kept = pos_terms.detach()[pos_w > 0]
    torch.testing.assert_close(scalar, (kept.sum() + neg_terms.detach().sum()) / (kept.numel() + B * n))
    scalar.backward()
    torch.testing.assert_close(pos_terms.grad, pos_w / (B + B * n - pos_dropped))
    torch.testing.assert_close(neg_terms.grad, torch.full((B, n), 1.0 / (B + B * n - pos_dropped)))


def test_triple_tce_on_the_toy_batch_drops_whole_triples():
    """The earlier behaviour, kept as granularity="triple": 200 triples = 200 positives + 200 negatives."""
    _, weights = TruncatedReducer(0.2, 1, rank_by="positive")(torch.rand(1000), _batch(1000), 5, torch.randn(1000))
    assert int((weights == 0).sum()) == 200


def test_element_tce_follows_the_schedule():
    reducer = ElementTruncation(max_drop_rate=0.2, num_gradual=11)
    assert [reducer.num_dropped(100, 200, t) for t in (0, 5, 10, 50)] == [0, 200 - int(0.9 * 200), 40, 40]


@pytest.mark.parametrize("beta", [0.0, 0.2, 0.5])
@pytest.mark.parametrize("n", [1, 3])
def test_element_rce_weights(beta, n):
    B = 8
    gen = torch.Generator().manual_seed(n)
    pos, neg = torch.randn(B, generator=gen), torch.randn(B, n, generator=gen)
    pos_terms, neg_terms = F.softplus(-pos).requires_grad_(), F.softplus(neg).requires_grad_()
    scalar, pos_w, neg_w = ElementReweighting(beta)(pos_terms, neg_terms, pos, neg, step=0)
    torch.testing.assert_close(pos_w, torch.sigmoid(pos) ** beta)  # reference: y_ ** alpha on label 1
    torch.testing.assert_close(neg_w, (1 - torch.sigmoid(neg)) ** beta)  # (1 - y_) ** alpha on label 0
    logits = torch.cat([pos, neg.reshape(-1)])
    labels = torch.cat([torch.ones(B), torch.zeros(B * n)])
    weight = torch.cat([pos_w, neg_w.reshape(-1)])
    reference = (F.binary_cross_entropy_with_logits(logits, labels, reduction="none") * weight).mean()
    torch.testing.assert_close(scalar, reference)
    scalar.backward()
    torch.testing.assert_close(pos_terms.grad, pos_w / (B * (1 + n)))  # weights are constants


@pytest.mark.parametrize("reducer", [None, ElementTruncation(0.2, 1), ElementReweighting(0.2)])
def test_elementwise_objective(reducer):
    from recdenoise.models import MF

    torch.manual_seed(0)
    model = MF(3, 20, embedding_dim=4)
    batch = TripletBatch(torch.randint(3, (16,)), torch.randint(20, (16,)), torch.randint(20, (16,)), rows=torch.arange(16))
    objective = ElementwiseObjective(reducer, reg_weight=0.0)
    u, i = model(None)
    out = objective(model, u, i, batch, step=5)
    pos, neg = (u[batch.users] * i[batch.pos_items]).sum(-1), (u[batch.users] * i[batch.neg_items]).sum(-1)
    if reducer is None:  # plain mean BCE over the 2B elements: half the per-triple sum of PairwiseObjective("bce")
        logits, labels = torch.cat([pos, neg]), torch.cat([torch.ones(16), torch.zeros(16)])
        torch.testing.assert_close(out.loss, F.binary_cross_entropy_with_logits(logits, labels))
        assert out.weights is None
    else:
        assert out.weights is not None and out.weights.shape == (16,)
    torch.testing.assert_close(out.per_example, F.softplus(-pos.detach()) + F.softplus(neg.detach()))
    out.loss.backward()
    assert torch.isfinite(model.user_embedding.weight.grad).all()
    with_reg = ElementwiseObjective(reducer, reg_weight=0.5)(model, *model(None), batch, step=5)
    assert "reg" in with_reg.stats and with_reg.loss > out.loss
