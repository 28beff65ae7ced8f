"""MF and LightGCN: shapes, scoring, recommend(), argument errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError
from recdenoise.graph import BipartiteGraph
from recdenoise.models import MF, MODELS, EmbeddingScorer, LightGCN, build_model

NUM_USERS, NUM_ITEMS = 7, 11


@pytest.fixture
def graph() -> BipartiteGraph:
    rng = np.random.default_rng(0)
    mask = rng.random((NUM_USERS, NUM_ITEMS)) < 0.35
    mask[0, :] = True
    mask[0, -3:] = False  # user 0 has seen all but 3 items
    users, items = np.nonzero(mask)
    return BipartiteGraph.from_interactions(Interactions(users, items, NUM_USERS, NUM_ITEMS))


def make(name: str, dim: int = 8, **kw):
    torch.manual_seed(0)
    return build_model(name, NUM_USERS, NUM_ITEMS, embedding_dim=dim, **kw)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dim", [1, 8])
def test_forward_shapes(name, dim, graph):
    model = make(name, dim)
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (NUM_USERS, dim) and item_emb.shape == (NUM_ITEMS, dim)
    eu, ei = model.ego_embeddings(torch.tensor([0, 2, 2]), torch.tensor([[1, 3], [4, 5], [0, 0]]))
    assert eu.shape == (3, dim) and ei.shape == (3, 2, dim)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_scorer_matches_forward_and_has_no_grad(name, graph):
    model = make(name)
    model.train()
    scorer = model.scorer(graph)
    assert model.training  # mode restored
    user_emb, item_emb = model(graph)
    users = torch.tensor([3, 0, 6])
    scores = scorer(users)
    assert scores.shape == (3, NUM_ITEMS) and not scores.requires_grad
    torch.testing.assert_close(scores, (user_emb[users] @ item_emb.T).detach())
    assert scorer.num_items == NUM_ITEMS
    pairs = scorer.pairs(users.unsqueeze(1), torch.tensor([[0, 1], [2, 3], [4, 5]]))
    torch.testing.assert_close(pairs, scores.gather(1, torch.tensor([[0, 1], [2, 3], [4, 5]])))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_recommend_excludes_seen_and_sorts(name, k, graph):
    model = make(name)
    users = torch.arange(NUM_USERS)
    ids, scores = model.recommend(users, k, graph)
    assert ids.shape == scores.shape == (NUM_USERS, k)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])
    seen = graph.has_edges(users.unsqueeze(1).expand(-1, k), ids)
    finite = torch.isfinite(scores)
    assert not seen[finite].any()  # every recommendation with a real score is unseen
    assert finite[0, :3].all()  # user 0 has exactly 3 unseen items
    if k > 3:
        assert torch.isinf(scores[0, 3:]).all()
    full = model.scorer(graph)(users)
    for row in range(NUM_USERS):  # reference (test-only loop)
        s = full[row].clone()
        s[graph.items[graph.users == row]] = -float("inf")
        torch.testing.assert_close(scores[row], torch.topk(s, k).values)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_recommend_with_seen_and_without_exclusion(name, graph):
    model = make(name)
    users = torch.tensor([0, 1])
    ids, scores = model.recommend(users, 4, graph, exclude_seen=False)
    torch.testing.assert_close(scores, torch.topk(model.scorer(graph)(users), 4).values)
    empty = BipartiteGraph(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), NUM_USERS, NUM_ITEMS)
    ids2, scores2 = model.recommend(users, 4, graph, seen=empty)
    torch.testing.assert_close(scores2, scores)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("k", [0, -1, NUM_ITEMS + 1])
def test_recommend_rejects_bad_k(name, k, graph):
    with pytest.raises(ConfigError, match="k must be"):
        make(name).recommend(torch.tensor([0]), k, graph)


def test_recommend_needs_seen_interactions():
    with pytest.raises(ConfigError, match="exclude_seen"):
        make("mf").recommend(torch.tensor([0]), 2)
    ids, _ = make("mf").recommend(torch.tensor([0]), 2, exclude_seen=False)
    assert ids.shape == (1, 2)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mismatched_graph_is_rejected(name):
    other = BipartiteGraph(torch.tensor([0]), torch.tensor([0]), NUM_USERS + 1, NUM_ITEMS)
    with pytest.raises(ConfigError, match="same id space"):
        make(name)(other)


def test_mf_ignores_graph(graph):
    model = make("mf")
    no_graph = model()
    with_graph = model(graph)
    dropped = model(graph.drop_edges(0.5, torch.Generator().manual_seed(0)))
    for a, b, c in zip(no_graph, with_graph, dropped):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert torch.equal(no_graph[0], model.user_embedding.weight)


def test_lightgcn_needs_graph_and_depends_on_it(graph):
    model = make("lightgcn", num_layers=2)
    with pytest.raises(ConfigError, match="needs the interaction graph"):
        model()
    a = model(graph)[0]
    b = model(graph.drop_edges(0.5, torch.Generator().manual_seed(0)))[0]
    assert not torch.allclose(a, b)


def test_lightgcn_zero_layers_equals_mf_weights(graph):
    model = make("lightgcn", num_layers=0)
    user_emb, item_emb = model(graph)
    assert torch.equal(user_emb, model.user_embedding.weight) and torch.equal(item_emb, model.item_embedding.weight)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_layers=-1), "num_layers"),
        (dict(num_layers=2, alpha=[0.5, 0.5]), "alpha"),
        (dict(embedding_dim=0), "embedding_dim"),
    ],
)
def test_lightgcn_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LightGCN(NUM_USERS, NUM_ITEMS, **kwargs)


@pytest.mark.parametrize("cls", [MF, LightGCN])
@pytest.mark.parametrize("bad", [dict(num_users=0), dict(num_items=-2), dict(num_users=2.5)])
def test_bad_sizes(cls, bad):
    kwargs = dict(num_users=NUM_USERS, num_items=NUM_ITEMS) | bad
    with pytest.raises(ConfigError, match="positive integer"):
        cls(**kwargs)


def test_build_model():
    assert isinstance(build_model("mf", 3, 4, num_layers=3, alpha=None), MF)
    model = build_model("lightgcn", 3, 4, embedding_dim=5, num_layers=1)
    assert isinstance(model, LightGCN) and model.num_layers == 1 and model.embedding_dim == 5
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("ngcf", 3, 4)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_default_init_std(name):
    torch.manual_seed(0)
    model = build_model(name, 500, 600, embedding_dim=64)
    std = model.user_embedding.weight.std().item()
    assert abs(std - 0.1) < 0.005


def test_embedding_scorer_moves_users():
    scorer = EmbeddingScorer(torch.eye(3), torch.eye(3))
    assert torch.equal(scorer(torch.tensor([2])), torch.tensor([[0.0, 0.0, 1.0]]))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_on_cuda_match_cpu(name, graph):
    model = make(name)
    cpu_u, cpu_i = model(graph)
    (cpu_u.sum() + cpu_i.pow(2).sum()).backward()
    cpu_u, cpu_i = cpu_u.detach().clone(), cpu_i.detach().clone()  # MF returns its parameters, which .to() moves
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model = model.to("cuda")
    gpu_graph = graph.to("cuda")
    gpu_u, gpu_i = model(gpu_graph)
    (gpu_u.sum() + gpu_i.pow(2).sum()).backward()
    torch.testing.assert_close(gpu_u.detach().cpu(), cpu_u.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gpu_i.detach().cpu(), cpu_i.detach(), rtol=1e-5, atol=1e-6)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad.cpu(), g, rtol=1e-5, atol=1e-6)
    ids, scores = model.recommend(torch.arange(NUM_USERS, device="cuda"), 3, gpu_graph)
    assert ids.device.type == "cuda"
    assert not gpu_graph.has_edges(torch.arange(NUM_USERS, device="cuda").unsqueeze(1).expand(-1, 3), ids)[torch.isfinite(scores)].any()
