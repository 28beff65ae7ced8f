"""Pruning scores: closed forms against autograd, seeded k-means, AUC, and noise detection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import make_synthetic, ratio_split
from recdenoise.data.noise import add_noise
from recdenoise.graph import BipartiteGraph
from recdenoise.methods import build_method
from recdenoise.methods.pruning.kmeans import kmeans
from recdenoise.methods.pruning.scores import detection_auc, el2n_scores, grand_scores, prune_keep_mask
from recdenoise.models import LightGCN, build_model
from recdenoise.scoring import LOSSES
from recdenoise.training.diagnostics import binary_auc


def _tiny(num_negatives, seed=0):
    gen = torch.Generator().manual_seed(seed)
    user_emb, item_emb = torch.randn(5, 4, generator=gen), torch.randn(9, 4, generator=gen)
    users = torch.tensor([0, 1, 2, 3, 4, 0])
    items = torch.tensor([0, 2, 4, 6, 8, 1])
    negatives = torch.randint(9, (6, num_negatives), generator=gen)
    negatives = torch.where(negatives == items.unsqueeze(1), (negatives + 1) % 9, negatives)
    negatives[0, :] = 3  # the same negative drawn several times: autograd merges the rows
    return user_emb, item_emb, users, items, negatives


def _autograd_norms(user_emb, item_emb, users, items, negatives, loss):
    out = []
    for r in range(users.numel()):
        u, i = user_emb.clone().requires_grad_(), item_emb.clone().requires_grad_()
        pos = (u[users[r]] * i[items[r]]).sum().reshape(1)
        neg = (i[negatives[r]] @ u[users[r]]).reshape(1, -1)
        gu, gi = torch.autograd.grad(LOSSES[loss](pos, neg).sum(), (u, i))
        out.append(torch.sqrt(gu.pow(2).sum() + gi.pow(2).sum()))
    return torch.stack(out)


@pytest.mark.parametrize("loss", ["bpr", "bce"])
@pytest.mark.parametrize("num_negatives", [1, 3])
def test_grand_closed_form_matches_autograd_on_mf(loss, num_negatives):
    args = _tiny(num_negatives)
    torch.testing.assert_close(grand_scores(*args, loss=loss), _autograd_norms(*args, loss=loss))


def test_grand_on_lightgcn_final_embeddings_matches_autograd():
    model = LightGCN(5, 9, embedding_dim=4, num_layers=2)
    users, items = torch.tensor([0, 1, 2, 3, 4, 4]), torch.tensor([0, 2, 4, 6, 8, 1])
    graph = BipartiteGraph(users, items, 5, 9)
    with torch.no_grad():
        user_emb, item_emb = model(graph)
    negatives = torch.tensor([[3], [5], [7], [1], [0], [2]])
    torch.testing.assert_close(
        grand_scores(user_emb, item_emb, users, items, negatives), _autograd_norms(user_emb, item_emb, users, items, negatives, "bpr")
    )


@pytest.mark.parametrize("loss", ["bpr", "bce"])
@pytest.mark.parametrize("num_negatives", [1, 4])
def test_el2n_is_the_rms_error_of_the_predicted_probabilities(loss, num_negatives):
    user_emb, item_emb, users, items, negatives = _tiny(num_negatives)
    pos = (user_emb[users] * item_emb[items]).sum(-1)
    neg = (item_emb[negatives] * user_emb[users].unsqueeze(1)).sum(-1)
    prob = torch.sigmoid(pos.unsqueeze(1) - neg) if loss == "bpr" else torch.sigmoid(pos).unsqueeze(1)
    expected = torch.sqrt(((1 - prob) ** 2).mean(1))
    torch.testing.assert_close(el2n_scores(user_emb, item_emb, users, items, negatives, loss), expected)
    if loss == "bpr" and num_negatives == 1:  # the error 1 - p is also |d loss / d score difference|
        diff = (pos - neg.squeeze(1)).requires_grad_()
        (grad,) = torch.autograd.grad(LOSSES["bpr"](diff, torch.zeros_like(diff)).sum(), diff)
        torch.testing.assert_close(el2n_scores(user_emb, item_emb, users, items, negatives), grad.abs())


def test_kmeans_is_seeded():
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(1))
    runs = [kmeans(x, 8, generator=torch.Generator().manual_seed(s)) for s in (3, 3, 4)]
    assert torch.equal(runs[0][1], runs[1][1]) and torch.equal(runs[0][0], runs[1][0])
    assert not torch.equal(runs[0][0], runs[2][0])


def test_kmeans_finds_planted_clusters_and_distances_are_to_the_nearest():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=gen) for c in centres])
    centroids, assign, dist = kmeans(x, 3, generator=torch.Generator().manual_seed(0))
    assert all(assign[i * 50 : (i + 1) * 50].unique().numel() == 1 for i in range(3))
    assert assign.unique().numel() == 3
    torch.testing.assert_close(dist, torch.cdist(x, centroids).min(1).values, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_detection_auc_matches_the_diagnostics_auc_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 5, 200).astype(np.float32)  # many ties
    noisy = rng.random(200) < 0.3
    assert detection_auc(torch.from_numpy(scores), torch.from_numpy(noisy)) == pytest.approx(binary_auc(scores, noisy))
    assert detection_auc(torch.ones(3), torch.zeros(3, dtype=torch.bool)) is None


@pytest.mark.parametrize(
    "scores, users, fraction, prune, min_per_user, kept",
    [
        ([0.1, 0.9, 0.5, 0.7], [0, 0, 1, 1], 0.5, "high", 1, [0, 2]),
        ([0.1, 0.9, 0.5, 0.7], [0, 0, 1, 1], 0.5, "low", 1, [1, 3]),
        ([0.1, 0.9, 0.8, 0.7], [0, 0, 0, 1], 0.5, "high", 1, [0, 3]),  # user 1's only row is protected
        ([0.1, 0.9, 0.8, 0.7], [0, 0, 0, 1], 0.5, "high", 0, [0, 3]),
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 0, 1], 0.5, "high", 0, [0, 1]),  # user 1 emptied when allowed
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 0, 1], 0.5, "high", 1, [0, 3]),
        ([0.3, 0.3, 0.3, 0.3], [0, 0, 1, 1], 0.25, "high", 1, [0, 1, 2]),  # ties: row order
    ],
)
def test_prune_keep_mask_table(scores, users, fraction, prune, min_per_user, kept):
    keep = prune_keep_mask(torch.tensor(scores), torch.tensor(users), 2, fraction, prune, min_per_user)
    assert torch.nonzero(keep).squeeze(1).tolist() == kept


def test_el2n_detects_strongly_planted_noise():
    """With 40 % items a user never chose (planted uniformly) among strong personal signal,
    early EL2N ranks the planted interactions high (this check can fail)."""
    data = make_synthetic(150, 200, interactions_per_user=30, seed=0, signal=3.0).interactions
    split, _ = add_noise(ratio_split(data, (0.8, 0.1, 0.1), seed=0), "injected", ratio=0.4, seed=0)
    model = build_model("mf", split.num_users, split.num_items, embedding_dim=16)
    parts = build_method("el2n", split.train, model, batch_size=256, seed=0, options={"score_epochs": 10, "score_runs": 2, "score_lr": 0.01})
    summary = parts.sampler.summary()
    assert summary["detection_auc"] > 0.6, summary
    assert summary["kept_noisy_share"] < summary["train_noisy_share"]
