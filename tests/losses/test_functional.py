"""Per-example BPR / BCE and the L2 penalty against their formulas."""

from __future__ import annotations

import math

import pytest
import torch

from recdenoise.losses import bce_loss, bpr_loss, l2_penalty


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_bpr_hand_computed():
    pos = torch.tensor([2.0, 0.0, -1.0])
    neg = torch.tensor([1.0, 0.0, 1.0])
    expected = torch.tensor([-math.log(sigmoid(1.0)), math.log(2.0), -math.log(sigmoid(-2.0))])
    torch.testing.assert_close(bpr_loss(pos, neg), expected)


def test_bce_hand_computed():
    pos = torch.tensor([2.0, -1.0])
    neg = torch.tensor([1.0, -3.0])
    expected = torch.tensor(
        [
            -math.log(sigmoid(2.0)) - math.log(1 - sigmoid(1.0)),
            -math.log(sigmoid(-1.0)) - math.log(1 - sigmoid(-3.0)),
        ]
    )
    torch.testing.assert_close(bce_loss(pos, neg), expected)


@pytest.mark.parametrize("fn", [bpr_loss, bce_loss])
@pytest.mark.parametrize("n", [1, 4])
def test_multiple_negatives_average(fn, n):
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(5, generator=gen)
    neg = torch.randn(5, n, generator=gen)
    out = fn(pos, neg)
    assert out.shape == (5,)
    expected = torch.stack([fn(pos, neg[:, j]) for j in range(n)], 1)
    if fn is bce_loss:  # the positive term is counted once, the negative terms averaged
        pos_term = torch.nn.functional.softplus(-pos)
        expected = pos_term + (expected - pos_term.unsqueeze(1)).mean(1)
    else:
        expected = expected.mean(1)
    torch.testing.assert_close(out, expected)
    if n == 1:
        torch.testing.assert_close(fn(pos, neg[:, 0]), out)


@pytest.mark.parametrize("fn", [bpr_loss, bce_loss])
def test_stable_for_extreme_scores(fn):
    pos = torch.tensor([100.0, -100.0, 0.0], requires_grad=True)
    neg = torch.tensor([-100.0, 100.0, 0.0], requires_grad=True)
    out = fn(pos, neg)
    assert torch.isfinite(out).all()
    assert out[0] < 1e-30 and out[1] > 199
    out.sum().backward()
    assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()


def test_bpr_gradient_is_sigmoid_of_margin():
    pos = torch.tensor([0.3, -0.2], requires_grad=True)
    neg = torch.tensor([0.1, 0.4], requires_grad=True)
    bpr_loss(pos, neg).sum().backward()
    expected = -torch.sigmoid(torch.tensor([0.1 - 0.3, 0.4 + 0.2]))
    torch.testing.assert_close(pos.grad, expected)
    torch.testing.assert_close(neg.grad, -expected)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_l2_penalty(batch_size):
    a = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    b = torch.tensor([3.0])
    torch.testing.assert_close(l2_penalty(a, b, batch_size=batch_size), torch.tensor((1 + 4 + 1 + 9) / (2.0 * batch_size)))


def test_l2_penalty_matches_pyg_bpr_regulariser():
    """Our lambda/(2B) sum ||e||^2 equals PyG's BPRLoss with lambda/2 on the same rows."""
    from torch_geometric.nn.models.lightgcn import BPRLoss

    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(6, 3, generator=gen)
    pos, neg = torch.randn(2, generator=gen), torch.randn(2, generator=gen)
    lam = 1e-2
    ours = bpr_loss(pos, neg).mean() + lam * l2_penalty(emb, batch_size=2)
    pyg = BPRLoss(lambda_reg=lam / 2)(pos, neg, emb)
    torch.testing.assert_close(ours, pyg)
