"""AugmentedSampler: the configured share of augmented triples, drawn only from the augmented set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError, DataError
from recdenoise.samplers.augmented import AugmentedBatch, AugmentedSampler
from recdenoise.samplers.base import TripletBatch

U, I = 30, 40


def _train() -> Interactions:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(U), 5)
    items = np.concatenate([rng.choice(I, 5, replace=False) for _ in range(U)])
    return Interactions(users, items, U, I)


def _augmented(n: int = 25, seed: int = 1):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, U, n)
    pos = rng.integers(0, I, n)
    neg = (pos + rng.integers(1, I, n)) % I
    return users, pos, neg


@pytest.mark.parametrize("aug_rate, batch_size", [(0.1, 32), (0.5, 20), (1.0, 64), (2.0, 7), (0.0, 16)])
def test_batches_mix_the_configured_share(aug_rate, batch_size):
    train = _train()
    aug = _augmented()
    sampler = AugmentedSampler(train, *aug, aug_rate=aug_rate, batch_size=batch_size, seed=3)
    aug_keys = set(zip(*(a.tolist() for a in aug)))
    train_keys = set(zip(train.users.tolist(), train.items.tolist()))
    seen_rows = []
    batches = list(sampler.batches(0))
    assert len(batches) == len(sampler)
    for batch in batches:
        assert isinstance(batch, AugmentedBatch) and isinstance(batch, TripletBatch)
        original = int((batch.rows >= 0).sum())
        expected = int(round(aug_rate * original))
        flags = batch.is_augmented
        assert flags.dtype == torch.bool and flags.shape == batch.users.shape
        assert int(flags.sum()) == expected and len(batch) == original + expected
        assert not flags[:original].any() and flags[original:].all()  # augmented triples form the tail
        assert (batch.rows[flags] == -1).all() and (batch.rows[~flags] >= 0).all()
        for u, p, n in zip(batch.users[flags].tolist(), batch.pos_items[flags].tolist(), batch.neg_items[flags].tolist()):
            assert (u, p, n) in aug_keys  # pos and neg together come from one augmented triple
        for u, p, n in zip(batch.users[~flags].tolist(), batch.pos_items[~flags].tolist(), batch.neg_items[~flags].tolist()):
            assert (u, p) in train_keys and (u, n) not in train_keys
        seen_rows.append(batch.rows[~flags])
    assert torch.sort(torch.cat(seen_rows)).values.tolist() == list(range(len(train)))  # each original once per epoch


def test_determinism_and_resume():
    train, aug = _train(), _augmented()
    a = AugmentedSampler(train, *aug, aug_rate=0.5, batch_size=16, seed=5)
    b = AugmentedSampler(train, *aug, aug_rate=0.5, batch_size=16, seed=5)
    for x, y in zip(a.batches(0), b.batches(0)):
        assert torch.equal(x.users, y.users) and torch.equal(x.neg_items, y.neg_items) and torch.equal(x.is_augmented, y.is_augmented)
    state = a.state_dict()
    expected = [x.users.clone() for x in a.batches(1)]
    b.load_state_dict(state)
    assert all(torch.equal(x, y.users) for x, y in zip(expected, b.batches(1)))


def test_replace_keeps_the_flag():
    sampler = AugmentedSampler(_train(), *_augmented(), aug_rate=0.5, batch_size=8, seed=0)
    batch = next(iter(sampler.batches(0)))
    moved = batch.replace(weights=torch.ones(len(batch)))
    assert isinstance(moved, AugmentedBatch) and torch.equal(moved.is_augmented, batch.is_augmented)


def test_invalid_inputs():
    train = _train()
    users, pos, neg = _augmented()
    with pytest.raises(DataError):
        AugmentedSampler(train, users, pos + I, neg)
    with pytest.raises(DataError):
        AugmentedSampler(train, users[:-1], pos, neg)
    with pytest.raises(ConfigError):
        AugmentedSampler(train, users, pos, neg, num_negatives=2)
    with pytest.raises(ConfigError):
        AugmentedSampler(train, users, pos, neg, aug_rate=-0.1)
    with pytest.raises(ConfigError):
        AugmentedSampler(train, [], [], [], aug_rate=0.2)
    empty = AugmentedSampler(train, [], [], [], aug_rate=0.0, batch_size=50)
    assert all(not b.is_augmented.any() for b in empty.batches(0))
