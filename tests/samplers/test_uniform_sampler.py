"""UniformSampler: each training row once per epoch, seeded, resumable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recdenoise.data import Interactions
from recdenoise.errors import ConfigError
from recdenoise.samplers import TripletBatch, UniformSampler


def train_data(num_users: int = 9, num_items: int = 12, density: float = 0.5, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    mask = rng.random((num_users, num_items)) < density
    mask[np.arange(num_users), rng.integers(num_items, size=num_users)] = False
    users, items = np.nonzero(mask)
    return Interactions(users, items, num_users, num_items)


def epoch(sampler: UniformSampler, index: int = 0) -> list[TripletBatch]:
    return list(sampler.batches(index))


def flat(batches: list[TripletBatch], field: str) -> torch.Tensor:
    return torch.cat([getattr(b, field) for b in batches])


@pytest.mark.parametrize("batch_size", [1, 7, 16, 1000])
@pytest.mark.parametrize("num_negatives", [1, 3])
def test_every_row_once_per_epoch(batch_size, num_negatives):
    x = train_data()
    sampler = UniformSampler(x, batch_size=batch_size, num_negatives=num_negatives, seed=0)
    for e in range(2):
        batches = epoch(sampler, e)
        assert len(batches) == len(sampler) == -(-len(x) // batch_size)
        assert all(len(b) == batch_size for b in batches[:-1]) and 0 < len(batches[-1]) <= batch_size
        rows = flat(batches, "rows")
        assert torch.equal(torch.sort(rows).values, torch.arange(len(x)))
        users, pos = flat(batches, "users"), flat(batches, "pos_items")
        assert torch.equal(users, torch.from_numpy(x.users)[rows])
        assert torch.equal(pos, torch.from_numpy(x.items)[rows])
        neg = flat(batches, "neg_items")
        assert neg.shape == ((len(x),) if num_negatives == 1 else (len(x), num_negatives))
        assert batches[0].weights is None


def test_negatives_are_never_positives_over_many_epochs():
    x = train_data(density=0.8)
    dense = x.csr.toarray().astype(bool)
    sampler = UniformSampler(x, batch_size=5, num_negatives=2, seed=1)
    for e in range(30):
        for batch in sampler.batches(e):
            u = batch.users.unsqueeze(1).expand_as(batch.neg_items)
            assert not dense[u.numpy(), batch.neg_items.numpy()].any()


def test_same_seed_identical_different_seed_different():
    x = train_data()
    a = UniformSampler(x, batch_size=8, seed=5)
    b = UniformSampler(x, batch_size=8, seed=5)
    c = UniformSampler(x, batch_size=8, seed=6)
    for e in range(2):
        ba, bb, bc = epoch(a, e), epoch(b, e), epoch(c, e)
        for field in ("users", "pos_items", "neg_items", "rows"):
            assert torch.equal(flat(ba, field), flat(bb, field))
        assert not torch.equal(flat(ba, "rows"), flat(bc, "rows"))
    # consecutive epochs differ
    assert not torch.equal(flat(epoch(a, 2), "rows"), flat(epoch(a, 3), "rows"))


def test_state_dict_reproduces_the_next_epoch():
    x = train_data()
    sampler = UniformSampler(x, batch_size=6, num_negatives=2, seed=2)
    epoch(sampler, 0)
    state = sampler.state_dict()
    expected = epoch(sampler, 1)
    fresh = UniformSampler(x, batch_size=6, num_negatives=2, seed=99)
    fresh.load_state_dict(state)
    got = epoch(fresh, 1)
    for field in ("users", "pos_items", "neg_items", "rows"):
        assert torch.equal(flat(got, field), flat(expected, field))
    # the state survives torch.save/torch.load with weights_only=True
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    again = UniformSampler(x, batch_size=6, num_negatives=2, seed=99)
    again.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(flat(epoch(again, 1), "neg_items"), flat(expected, "neg_items"))


def test_user_with_all_items_is_a_config_error():
    x = Interactions(np.array([0, 0, 1]), np.array([0, 1, 1]), 2, 2)
    with pytest.raises(ConfigError, match="every item"):
        UniformSampler(x)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(batch_size=0), "batch_size"), (dict(batch_size=2.0), "batch_size"), (dict(num_negatives=0), "num_negatives")],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        UniformSampler(train_data(), **kwargs)


def test_empty_train_is_a_config_error():
    x = Interactions(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 2, 3)
    with pytest.raises(ConfigError, match="empty"):
        UniformSampler(x)


def test_select_is_identity():
    sampler = UniformSampler(train_data(), batch_size=4)
    batch = next(iter(sampler.batches(0)))
    assert sampler.select(batch, scorer=None, epoch=0) is batch
    assert not sampler.needs_scores


@pytest.mark.gpu
def test_uniform_sampler_on_cuda():
    x = train_data(30, 40, 0.4)
    sampler = UniformSampler(x, batch_size=64, num_negatives=2, device="cuda", seed=0)
    batches = epoch(sampler)
    rows = flat(batches, "rows")
    assert rows.device.type == "cuda"
    assert torch.equal(torch.sort(rows).values.cpu(), torch.arange(len(x)))
    dense = x.csr.toarray().astype(bool)
    neg = flat(batches, "neg_items").cpu()
    users = flat(batches, "users").cpu().unsqueeze(1).expand_as(neg)
    assert not dense[users.numpy(), neg.numpy()].any()
    again = UniformSampler(x, batch_size=64, num_negatives=2, device="cuda", seed=0)
    assert torch.equal(flat(epoch(again), "neg_items"), flat(batches, "neg_items"))
