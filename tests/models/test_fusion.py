"""FeatureFusion: shapes, the Recommender contract, and that stored features stay untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError
from recdenoise.graph import BipartiteGraph
from recdenoise.losses.llmrec import FeatureMAE, LLMRecObjective
from recdenoise.losses.objective import PairwiseObjective
from recdenoise.models import MF, LightGCN
from recdenoise.models.fusion import FeatureFusion
from recdenoise.samplers import UniformSampler

U, I, D = 12, 15, 8


def _train(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(U), 4)
    items = np.concatenate([rng.choice(I, 4, replace=False) for _ in range(U)])
    return Interactions(users, items, U, I)


def _fusion(base_cls=LightGCN, **kw) -> FeatureFusion:
    torch.manual_seed(0)
    base = base_cls(U, I, embedding_dim=D) if base_cls is MF else base_cls(U, I, embedding_dim=D, num_layers=2)
    return FeatureFusion(base, [torch.randn(U, 5)], [torch.randn(I, 7), torch.randn(I, 3)], **kw)


@pytest.mark.parametrize("base_cls", [LightGCN, MF])
@pytest.mark.parametrize("options", [{}, {"feature_layers": 0}, {"residual": True}, {"proj_dim": 4, "dropout": 0.2}, {"feature_layers": 2}])
def test_forward_shapes_and_contract(base_cls, options):
    model = _fusion(base_cls, **options)
    graph = BipartiteGraph.from_interactions(_train())
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (U, D) and item_emb.shape == (I, D)
    assert torch.isfinite(user_emb).all() and torch.isfinite(item_emb).all()
    eu, ei = model.ego_embeddings(torch.tensor([0, 1]), torch.tensor([2, 3, 4]))
    assert eu.shape == (2, D) and ei.shape == (3, D)
    assert model.scorer(graph)(torch.tensor([0, 3])).shape == (2, I)
    ids, scores = model.recommend(torch.tensor([0, 1]), k=3, graph=graph)
    assert ids.shape == scores.shape == (2, 3)
    seen = graph.has_edges(torch.tensor([0, 0, 0]), ids[0])
    assert not seen.any()


def test_zero_weight_equals_base_and_weighted_sum():
    model = _fusion(feature_weight=0.0)
    graph = BipartiteGraph.from_interactions(_train())
    u, i = model(graph)
    bu, bi = model.base(graph)
    assert torch.allclose(u, bu) and torch.allclose(i, bi)

    model = _fusion(feature_weight=[0.5, 0.0, 0.0])  # only the user feature
    model.eval()
    u, i = model(graph)
    up, ip = model.encode_feature(0, graph)
    assert torch.allclose(u, bu + 0.5 * torch.nn.functional.normalize(up, dim=1), atol=1e-6)
    assert torch.allclose(i, bi + 0.5 * torch.nn.functional.normalize(ip, dim=1), atol=1e-6)


def test_without_graph_features_reach_their_own_side_only():
    model = _fusion(MF)
    user_part, item_part = model.encode_feature(1, None)  # an item feature
    assert user_part is None and item_part.shape == (I, D)
    user_part, item_part = model.encode_feature(0, None)
    assert item_part is None and user_part.shape == (U, D)
    u, i = model(None)
    assert u.shape == (U, D)


def test_features_are_non_persistent_buffers_that_move_with_the_model():
    model = _fusion()
    keys = set(model.state_dict())
    assert not any(k.startswith("feature_") and k != "feature_weights" for k in keys)
    assert {name for name, _ in model.named_buffers()} >= {"feature_0", "feature_1", "feature_2"}
    model.double()
    assert model.feature(0).dtype == torch.float64


def test_caller_array_is_not_aliased():
    x = torch.randn(U, 4)
    model = FeatureFusion(MF(U, I, embedding_dim=D), [x], [])
    x.zero_()
    assert model.feature(0).abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"user_features": [torch.randn(U + 1, 3)]},
        {"item_features": [torch.randn(I, 3, 2)]},
        {"item_features": [torch.full((I, 3), float("nan"))]},
        {"item_features": [torch.randn(I, 3)], "feature_weight": [1.0, 2.0]},
        {},
        {"item_features": [torch.randn(I, 3)], "dropout": 1.0},
        {"item_features": [torch.randn(I, 3)], "feature_layers": -1},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        FeatureFusion(MF(U, I, embedding_dim=D), **kwargs)


def test_graph_of_another_id_space_is_rejected():
    model = _fusion()
    other = BipartiteGraph(torch.tensor([0]), torch.tensor([0]), U + 1, I)
    with pytest.raises(ConfigError):
        model(other)


def test_training_with_mae_keeps_features_and_trains_decoder():
    train = _train()
    graph = BipartiteGraph.from_interactions(train)
    model = _fusion(dropout=0.1)
    stored = [model.feature(k).clone() for k in range(model.num_features)]
    mae = FeatureMAE.for_model(model, mask_rate=0.3, seed=1)
    objective = LLMRecObjective(PairwiseObjective(), mae=mae, mae_weight=1.0)
    decoder_before = [p.detach().clone() for p in objective.mae.decoders.parameters()]
    tokens_before = [p.detach().clone() for p in objective.mae.mask_tokens]
    optimizer = torch.optim.Adam(list(model.parameters()) + list(objective.parameters()), lr=0.01)
    sampler = UniformSampler(train, batch_size=16, seed=0)
    for step, batch in enumerate(sampler.batches(0)):
        user_emb, item_emb = model(graph)
        out = objective(model, user_emb, item_emb, batch, step, graph=graph)
        assert "mae" in out.stats and out.stats["mae"] > 0
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    for k, x in enumerate(stored):
        assert torch.equal(model.feature(k), x), f"stored feature {k} was modified"
    assert any(not torch.equal(a, b) for a, b in zip(decoder_before, objective.mae.decoders.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(tokens_before, objective.mae.mask_tokens))
