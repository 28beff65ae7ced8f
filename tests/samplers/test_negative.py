"""NegativeSampler: never a training positive, uniform over the rest, seeded, vectorised."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError
from recdenoise.samplers import NegativeSampler


def dense_ish(num_users: int = 6, num_items: int = 8, density: float = 0.7, seed: int = 0) -> Interactions:
    """Most items are positives; every user keeps at least one unseen item."""
    rng = np.random.default_rng(seed)
    mask = rng.random((num_users, num_items)) < density
    mask[np.arange(num_users), rng.integers(num_items, size=num_users)] = False
    mask[0, :] = True
    mask[0, num_items - 1] = False  # user 0: exactly one negative
    users, items = np.nonzero(mask)
    return Interactions(users, items, num_users, num_items)


@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_never_returns_a_training_positive(n, seed):
    x = dense_ish(seed=seed)
    sampler = NegativeSampler(x)
    dense = x.csr.toarray().astype(bool)
    gen = torch.Generator().manual_seed(seed)
    users = torch.arange(x.num_users).repeat(400)
    neg = sampler.sample(users, n, gen)
    assert neg.shape == (users.numel(), n) and neg.dtype == torch.long
    assert int(neg.min()) >= 0 and int(neg.max()) < x.num_items
    assert not dense[users.unsqueeze(1).expand(-1, n).numpy(), neg.numpy()].any()
    # user 0 has exactly one unseen item
    assert (neg[users == 0] == x.num_items - 1).all()
    # every unseen (user, item) pair is reachable
    hit = np.zeros_like(dense)
    hit[users.unsqueeze(1).expand(-1, n).numpy(), neg.numpy()] = True
    np.testing.assert_array_equal(hit, ~dense)


def test_uniform_over_unseen_items():
    x = Interactions(np.array([0, 0, 0]), np.array([0, 2, 4]), 1, 10)
    gen = torch.Generator().manual_seed(0)
    neg = NegativeSampler(x).sample(torch.zeros(70_000, dtype=torch.long), 1, gen).squeeze(1)
    counts = torch.bincount(neg, minlength=10).numpy()
    assert counts[[0, 2, 4]].sum() == 0
    free = counts[[1, 3, 5, 6, 7, 8, 9]]
    expected = 10_000
    chi2 = ((free - expected) ** 2 / expected).sum()
    assert chi2 < 25  # 6 dof: p ~ 3e-4


def test_same_seed_same_draws_and_is_positive():
    x = dense_ish()
    sampler = NegativeSampler(x)
    users = torch.arange(x.num_users).repeat(5)
    a = sampler.sample(users, 2, torch.Generator().manual_seed(3))
    b = sampler.sample(users, 2, torch.Generator().manual_seed(3))
    c = sampler.sample(users, 2, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    u = torch.from_numpy(x.users)
    i = torch.from_numpy(x.items)
    assert sampler.is_positive(u, i).all()
    assert not sampler.is_positive(users.unsqueeze(1).expand(-1, 2), a).any()


def test_user_with_all_items_is_a_config_error():
    x = Interactions(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0]), 2, 3)
    with pytest.raises(ConfigError, match="every item"):
        NegativeSampler(x)


def test_empty_positives():
    x = Interactions(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2, 3)
    neg = NegativeSampler(x).sample(torch.tensor([0, 1]), 4, torch.Generator().manual_seed(0))
    assert neg.shape == (2, 4)


@pytest.mark.gpu
def test_negatives_on_cuda():
    x = dense_ish(20, 30, 0.6)
    sampler = NegativeSampler(x, device="cuda")
    users = torch.arange(20, device="cuda").repeat(50)
    neg = sampler.sample(users, 3, torch.Generator(device="cuda").manual_seed(0))
    assert neg.device.type == "cuda"
    dense = x.csr.toarray().astype(bool)
    assert not dense[users.unsqueeze(1).expand(-1, 3).cpu().numpy(), neg.cpu().numpy()].any()
