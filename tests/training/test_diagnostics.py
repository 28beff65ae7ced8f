"""Noise-separation diagnostics: AUC, weighted noisy share, PLD pools, per-interaction losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recdenoise.data import Interactions
from recdenoise.training.diagnostics import NoiseDiagnostics, binary_auc, interaction_losses
from recdenoise.models import MF
from recdenoise.types import CandidateSelection


def test_binary_auc_hand_cases():
    assert binary_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert binary_auc([1, 2, 3], [False, True, True]) == 1.0
    assert binary_auc([1, 1, 1, 1], [False, True, False, True]) == 0.5  # ties count one half
    assert binary_auc([1, 2], [True, True]) is None


def _train() -> Interactions:
    # 6 rows; rows 4 and 5 are noisy
    return Interactions(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 1, 2, 0, 1, 2]), 2, 5,
                        is_noise=np.array([0, 0, 0, 0, 1, 1], bool))


def test_epoch_metrics_from_weights_and_losses():
    diag = NoiseDiagnostics(_train())
    rows = torch.tensor([0, 1, 4, 5, 2, 3])
    losses = torch.tensor([0.1, 0.2, 0.9, 0.8, 0.3, 0.5])
    weights = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])  # one noisy row dropped (T-CE style)
    diag.update(rows[:3], losses[:3], weights[:3])
    diag.update(rows[3:], losses[3:], weights[3:])
    m = diag.end_epoch(0)
    assert m["num_examples"] == 6
    assert m["noisy_share_optimised"] == pytest.approx(1 / 5)
    assert m["train_noisy_share"] == pytest.approx(2 / 6)
    assert m["loss_auc"] == 1.0  # both noisy rows have the largest losses
    assert m["weight_auc"] == pytest.approx(binary_auc(weights.numpy(), ~np.array([0, 0, 1, 1, 0, 0], bool)))
    assert m["mean_loss_clean"] == pytest.approx(np.mean([0.1, 0.2, 0.3, 0.5]))
    assert m["mean_loss_noisy"] == pytest.approx(0.85)
    json.dumps(diag.summary())
    assert diag.summary()["epochs"][0]["epoch"] == 1


def test_batches_with_and_without_weights_and_augmented_rows():
    """A batch whose reducer returned no weights counts every example 1; augmented triples
    (row -1, not training interactions) are left out instead of borrowing the last row's label."""
    diag = NoiseDiagnostics(_train())
    diag.update(torch.tensor([0, 4]), torch.tensor([0.1, 0.9]), torch.tensor([1.0, 0.0]))
    diag.update(torch.tensor([1, 5, -1]), torch.tensor([0.2, 0.8, 5.0]), None)  # nothing dropped; one augmented
    m = diag.end_epoch(0)
    assert m["num_examples"] == 4
    assert m["noisy_share_optimised"] == pytest.approx(1 / 3)
    assert m["mean_loss_noisy"] == pytest.approx(0.85)
    assert m["weight_auc"] == pytest.approx(binary_auc(np.array([1.0, 0.0, 1.0, 1.0]), np.array([1, 0, 1, 0], bool)))


def test_pld_selection_metrics():
    diag = NoiseDiagnostics(_train())
    sel = CandidateSelection(
        rows=torch.tensor([[3, 4, 5]]), losses=torch.tensor([[0.1, 2.0, 3.0]]), chosen=torch.tensor([0]), tau=0.1,
    )
    diag.update(torch.tensor([3]), torch.tensor([0.1]), None, sel)
    m = diag.end_epoch(0)
    assert m["keep_prob_auc"] == 1.0 and m["candidate_loss_auc"] == 1.0
    assert m["candidate_noisy_share"] == pytest.approx(2 / 3)
    assert m["noisy_share_optimised"] == 0.0 and m["weight_auc"] is None


def test_noop_without_labels_and_state_roundtrip():
    clean = _train().replace(is_noise=None)
    diag = NoiseDiagnostics(clean)
    diag.update(torch.tensor([0]), torch.tensor([1.0]))
    assert diag.end_epoch(0) == {} and diag.summary()["epochs"] == []
    d1 = NoiseDiagnostics(_train())
    d1.update(torch.arange(6), torch.rand(6))
    d1.end_epoch(0)
    d2 = NoiseDiagnostics(_train())
    d2.load_state_dict(d1.state_dict())
    assert d2.summary() == d1.summary()


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_interaction_losses(loss):
    torch.manual_seed(0)
    train = _train()
    model = MF(2, 5, embedding_dim=3)
    out = interaction_losses(model, None, train, loss=loss, num_negatives=2, seed=1, batch_size=4)
    assert out.shape == (6,) and torch.isfinite(out).all()
    again = interaction_losses(model, None, train, loss=loss, num_negatives=2, seed=1)
    torch.testing.assert_close(out, again)  # seeded, batch size does not matter
    # negatives of user 0 / 1 can only be items 3, 4 (never a training positive)
    u, i = model(None)
    pos = (u[train.users] * i[train.items]).sum(-1).detach()
    lo = torch.stack([(u[train.users] * i[j]).sum(-1) for j in (3, 4)], 1).detach()
    fn = (lambda p, n: F.softplus(n - p.unsqueeze(1))) if loss == "bpr" else (lambda p, n: F.softplus(-p).unsqueeze(1) + F.softplus(n))
    bounds = fn(pos, lo)
    assert ((out >= bounds.min(1).values - 1e-5) & (out <= bounds.max(1).values + 1e-5)).all()
