"""The CPU fast path of the negative sampler draws exactly what the device path draws."""

from __future__ import annotations

import numpy as np
import torch

from recdenoise.data import Interactions
from recdenoise.samplers.negative import NegativeSampler


def _dense_positives(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    num_users, num_items = 50, 40
    mask = rng.random((num_users, num_items)) < 0.6  # dense: many rejection rounds
    mask[:, 0] = False  # every user has an unseen item
    users, items = np.nonzero(mask)
    return Interactions(users, items, num_users, num_items)


def test_compact_cpu_path_equals_the_mask_path():
    train = _dense_positives()
    fast, masked = NegativeSampler(train), NegativeSampler(train)
    masked.compact_on_cpu = False
    users = torch.randint(train.num_users, (3000,), generator=torch.Generator().manual_seed(1))
    for n in (1, 3):
        g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        a, b = fast.sample(users, n, g1), masked.sample(users, n, g2)
        assert torch.equal(a, b)
        assert torch.equal(g1.get_state(), g2.get_state())  # the same stream consumed
        assert not bool(fast.is_positive(users.unsqueeze(1).expand(-1, n), a).any())
