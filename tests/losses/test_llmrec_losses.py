"""PruneAugmented drops exactly the configured share; the MAE term reconstructs masked features."""

from __future__ import annotations

import math

import pytest
import torch

from recdenoise.errors import ConfigError
from recdenoise.graph import BipartiteGraph
from recdenoise.losses.llmrec import FeatureMAE, LLMRecObjective, PruneAugmented, scaled_cosine_error
from recdenoise.losses.objective import PairwiseObjective
from recdenoise.models import LightGCN
from recdenoise.models.fusion import FeatureFusion
from recdenoise.samplers.augmented import AugmentedBatch
from recdenoise.samplers.base import TripletBatch


def _batch(flags, weights=None) -> AugmentedBatch:
    n = len(flags)
    z = torch.zeros(n, dtype=torch.long)
    return AugmentedBatch(z, z, z, rows=z, weights=weights, is_augmented=torch.tensor(flags, dtype=torch.bool))


LOSSES = torch.tensor([0.5, 3.0, 0.1, 2.0, 9.0, 0.2, 4.0, 0.3, 1.0, 7.0])
FLAGS = [False, False, False, False, True, True, True, True, True, True]  # augmented losses: 9, .2, 4, .3, 1, 7


@pytest.mark.parametrize(
    "keep, scope, rate, dropped",
    [
        ("smallest", "augmented", 0.5, {4, 9, 6}),  # the 3 largest augmented losses: 9, 7, 4
        ("largest", "augmented", 0.5, {5, 7, 8}),  # the 3 smallest augmented: .2, .3, 1
        ("smallest", "all", 0.3, {4, 9, 6}),  # 10 - floor(7) = 3 largest overall
        ("largest", "all", 0.3, {2, 5, 7}),
        ("smallest", "augmented", 0.0, set()),
        ("smallest", "augmented", 0.99, {4, 9, 6, 8, 7, 5}),  # floor(0.06) = 0 kept
        ("smallest", "augmented", 0.7, {4, 9, 6, 8, 7}),  # floor(1.8) = 1 kept: exactly (1 - rate) share, no float drift
    ],
)
def test_prune_drops_exactly_the_share(keep, scope, rate, dropped):
    reducer = PruneAugmented(rate, scope=scope, keep=keep)
    losses = LOSSES.clone().requires_grad_(True)
    loss, weights = reducer(losses, _batch(FLAGS), 0, torch.zeros(10))
    kept = [i for i in range(10) if i not in dropped]
    assert loss.item() == pytest.approx(LOSSES[kept].mean().item())
    if weights is None:
        assert not dropped
    else:
        assert {i for i in range(10) if weights[i] == 0} == dropped
    loss.backward()
    assert all(losses.grad[i] == 0 for i in dropped) and all(losses.grad[i] > 0 for i in kept)


def test_prune_reference_rate_floor():
    reducer = PruneAugmented(0.71, scope="all", keep="largest")
    assert reducer.num_dropped(1024) == 1024 - int((1 - 0.71) * 1024 + 1e-9)
    assert reducer.num_dropped(10) == 8


def test_prune_without_flags_and_with_sampler_weights():
    reducer = PruneAugmented(0.5)
    plain = TripletBatch(torch.zeros(10, dtype=torch.long), torch.zeros(10, dtype=torch.long), torch.zeros(10, dtype=torch.long))
    loss, weights = reducer(LOSSES, plain, 0, torch.zeros(10))
    assert weights is None and loss.item() == pytest.approx(LOSSES.mean().item())
    w = torch.linspace(0.5, 1.5, 10)
    loss, weights = reducer(LOSSES, _batch(FLAGS, weights=w), 0, torch.zeros(10))
    keep = torch.ones(10)
    keep[[4, 9, 6]] = 0
    assert torch.allclose(weights, w * keep)
    assert loss.item() == pytest.approx(((w * keep * LOSSES).sum() / (w * keep).sum()).item())


@pytest.mark.parametrize("kwargs", [{"prune_rate": 1.0}, {"prune_rate": -0.1}, {"prune_rate": 0.5, "scope": "x"}, {"prune_rate": 0.5, "keep": "x"}])
def test_prune_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        PruneAugmented(**kwargs)


def test_scaled_cosine_error_hand_cases():
    target = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    pred = torch.tensor([[3.0, 0.0], [-1.0, 0.0], [0.0, 5.0], [1.0, 1.0]])
    expected = torch.tensor([0.0, 4.0, 1.0, (1 - 1 / math.sqrt(2)) ** 2])
    assert torch.allclose(scaled_cosine_error(pred, target, gamma=2.0), expected, atol=1e-6)
    assert torch.allclose(scaled_cosine_error(pred, target, gamma=1.0), torch.tensor([0.0, 2.0, 1.0, 1 - 1 / math.sqrt(2)]), atol=1e-6)


U, I, D = 10, 14, 6


def _model_and_graph():
    torch.manual_seed(0)
    users = torch.arange(U).repeat_interleave(3)
    items = (users * 5 + torch.arange(3).repeat(U)) % I
    graph = BipartiteGraph(users, items, U, I)
    item_text = torch.randn(I, 5)
    item_text[0] = 0  # an item without features
    model = FeatureFusion(LightGCN(U, I, embedding_dim=D, num_layers=1), [torch.randn(U, 4)], [item_text])
    return model, graph


def test_mae_gradients_reach_tokens_decoders_and_projections():
    model, graph = _model_and_graph()
    mae = FeatureMAE.for_model(model, mask_rate=0.5, seed=0)
    loss = mae(model, graph)
    assert loss.item() > 0
    loss.backward()
    for p in list(mae.parameters()) + list(model.projections.parameters()):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert model.base.user_embedding.weight.grad is None  # ID embeddings are not part of reconstruction


def test_mae_is_seeded_and_skips_featureless_nodes():
    model, graph = _model_and_graph()
    a = FeatureMAE.for_model(model, mask_rate=0.5, seed=7)
    b = FeatureMAE.for_model(model, mask_rate=0.5, seed=7)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.draw_masks(U, I)["item"], b.draw_masks(U, I)["item"])
    model.eval()
    assert a(model, graph).item() == pytest.approx(b(model, graph).item())
    # all masked rows featureless -> nothing to reconstruct
    zero = FeatureFusion(LightGCN(U, I, embedding_dim=D), [], [torch.zeros(I, 3)])
    assert FeatureMAE.for_model(zero, mask_rate=0.5)(zero, graph).item() == 0.0


def test_mae_options_and_checks():
    model, graph = _model_and_graph()
    assert FeatureMAE.for_model(model, mask_rate=0.0)(model, graph).item() == 0.0
    only_items = FeatureMAE.for_model(model, mask_rate=0.5, features=[1])
    assert len(only_items.decoders) == 1 and only_items.decoders[0].out_features == 5
    with pytest.raises(ConfigError):
        FeatureMAE.for_model(model, features=[2])
    with pytest.raises(ConfigError):
        FeatureMAE.for_model(model, mask_rate=1.0)
    other = FeatureFusion(LightGCN(U, I, embedding_dim=D), [], [torch.randn(I, 5), torch.randn(I, 2)])
    with pytest.raises(ConfigError):
        FeatureMAE.for_model(model)(other, graph)
    with pytest.raises(ConfigError):
        LLMRecObjective(PairwiseObjective(), mae=None, mae_weight=1.0)


def test_objective_adds_weighted_reconstruction_and_reports_pruning():
    model, graph = _model_and_graph()
    mae = FeatureMAE.for_model(model, mask_rate=0.3, seed=0)
    base = PairwiseObjective(reg_weight=0.0, reducer=PruneAugmented(0.5))
    objective = LLMRecObjective(base, mae=mae, mae_weight=0.25)  # the step's graph comes with each call
    model.eval()  # no dropout: both passes see the same embeddings
    user_emb, item_emb = model(graph)
    batch = AugmentedBatch(
        torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 10, 1]), torch.tensor([2, 3, 4, 6]),
        rows=torch.tensor([0, 1, -1, -1]), is_augmented=torch.tensor([False, False, True, True]),
    )  # fmt: skip
    state = mae.state_dict_extra()
    out = objective(model, user_emb, item_emb, batch, 0, graph=graph)
    mae.load_state_dict_extra(state)
    plain = base(model, user_emb, item_emb, batch, 0)
    assert out.loss.item() == pytest.approx(plain.loss.item() + 0.25 * mae(model, graph).item(), rel=1e-5)
    assert out.stats["augmented"] == 2 and out.stats["augmented_kept"] == 1
    assert (out.weights == 0).sum() == 1
