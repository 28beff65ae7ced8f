"""The contract every model in :data:`recdenoise.models.MODELS` must honour.

A new model registered in ``MODELS`` is picked up automatically; if its constructor needs
more than ``(num_users, num_items, embedding_dim=...)``, add its extra arguments to
``EXTRA_KWARGS`` below.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.graph import BipartiteGraph
from recdenoise.losses import bpr_loss
from recdenoise.models import MODELS, Recommender, build_model

NUM_USERS, NUM_ITEMS, DIM = 12, 10, 8
EXTRA_KWARGS: dict[str, dict] = {"lightgcn": {"num_layers": 2}}
NAMES = sorted(MODELS)


def planted() -> Interactions:
    """Two communities: users 0..5 like items 0..4, users 6..11 like items 5..9 (each 3 of 5)."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(NUM_USERS):
        block = 0 if u < NUM_USERS // 2 else NUM_ITEMS // 2
        for i in rng.choice(NUM_ITEMS // 2, size=3, replace=False):
            users.append(u)
            items.append(block + int(i))
    return Interactions(np.array(users), np.array(items), NUM_USERS, NUM_ITEMS)


@pytest.fixture(scope="module")
def data() -> tuple[Interactions, BipartiteGraph]:
    x = planted()
    return x, BipartiteGraph.from_interactions(x)


def make(name: str, seed: int = 0) -> Recommender:
    torch.manual_seed(seed)
    return build_model(name, NUM_USERS, NUM_ITEMS, embedding_dim=DIM, **EXTRA_KWARGS.get(name, {}))


def bpr_step_loss(model: Recommender, graph: BipartiteGraph, x: Interactions, gen: torch.Generator) -> torch.Tensor:
    users = torch.from_numpy(x.users)
    pos = torch.from_numpy(x.items)
    neg = torch.randint(NUM_ITEMS, pos.shape, generator=gen)
    user_emb, item_emb = model(graph)
    u = user_emb[users]
    loss = bpr_loss((u * item_emb[pos]).sum(-1), (u * item_emb[neg]).sum(-1)).mean()
    eu, ei = model.ego_embeddings(users, pos)
    return loss + 1e-4 * (eu.pow(2).sum() + ei.pow(2).sum()) / len(users)


@pytest.mark.parametrize("name", NAMES)
def test_is_a_recommender_with_shapes(name, data):
    x, graph = data
    model = make(name)
    assert isinstance(model, Recommender)
    assert (model.num_users, model.num_items, model.embedding_dim) == (NUM_USERS, NUM_ITEMS, DIM)
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (NUM_USERS, DIM) and item_emb.shape == (NUM_ITEMS, DIM)
    eu, ei = model.ego_embeddings(torch.tensor([1, 2]), torch.tensor([3, 4]))
    assert eu.shape == ei.shape == (2, DIM)
    scores = model.scorer(graph)(torch.arange(NUM_USERS))
    assert scores.shape == (NUM_USERS, NUM_ITEMS)
    ids, top = model.recommend(torch.arange(3), 2, graph)
    assert ids.shape == top.shape == (3, 2)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_are_finite_and_reach_all_parameters(name, data):
    x, graph = data
    model = make(name)
    bpr_step_loss(model, graph, x, torch.Generator().manual_seed(0)).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}.{pname} has non-finite gradients"
        assert p.grad.abs().sum() > 0, f"{name}.{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", NAMES)
def test_training_loss_decreases_on_planted_data(name, data):
    x, graph = data
    model = make(name)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(30):
        loss = bpr_step_loss(model, graph, x, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    # the planted communities are recovered: each user's top item is in its own block
    ids, _ = model.recommend(torch.arange(NUM_USERS), 1, graph, exclude_seen=False)
    own_block = (torch.arange(NUM_USERS) >= NUM_USERS // 2).long()
    assert ((ids[:, 0] >= NUM_ITEMS // 2).long() == own_block).float().mean() >= 0.9


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name, data):
    x, graph = data

    def run(seed):
        model = make(name, seed)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(3):
            loss = bpr_step_loss(model, graph, x, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return model.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name, data):
    x, graph = data
    model = make(name, seed=3)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other = make(name, seed=4)
    assert not torch.equal(other(graph)[0], model(graph)[0])
    other.load_state_dict(torch.load(buffer, weights_only=True))
    for a, b in zip(model(graph), other(graph)):
        assert torch.equal(a, b)
    assert torch.equal(model.scorer(graph)(torch.arange(NUM_USERS)), other.scorer(graph)(torch.arange(NUM_USERS)))
