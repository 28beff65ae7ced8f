"""The contract every sampler keeps, checked for every sampler class in :mod:`recdenoise.samplers`.

A sampler decides which (user, positive, negative) triples are optimised; whatever it does
inside, the trainer (and an own loop) relies on:

- the same seed gives identical batches, another seed other batches;
- a negative is never a training positive of its user;
- every tensor lives on the requested device;
- shapes: users ``[B]``, pos_items ``[B]`` (or ``[B, k]`` candidate pools before ``select``),
  neg_items ``[B]`` or ``[B, n]``, rows shaped like pos_items and pointing at the training row
  of each (user, positive) (``-1`` for an augmented triple);
- ``len(sampler)`` batches per epoch;
- ``state_dict`` / ``load_state_dict`` resumes the same stream.

``SamplerContract`` holds the checks; ``TestSamplers`` runs them over ``CASES``: every built-in
sampler (PLD before and after ``select``, during warm-up, the augmented sampler with a few
LLM triples) and, through a generic constructor, any other ``Sampler`` subclass that
:mod:`recdenoise.samplers` defines (so a new sampler is checked without editing this file).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import torch

import recdenoise.samplers
from recdenoise.data import Interactions, make_synthetic
from recdenoise.samplers import PLDSampler, Sampler, UniformSampler
from recdenoise.samplers.augmented import AugmentedSampler
from recdenoise.scoring import EmbeddingScorer
from recdenoise.types import TripletBatch

BATCH = 48
EPOCHS = (0, 1)


@pytest.fixture(scope="module")
def train() -> Interactions:
    # ~330 interactions: 7 batches of 48, the last one partial
    return make_synthetic(30, 50, interactions_per_user=11, seed=0).interactions


def _augmented_triples(train: Interactions, count: int = 12, seed: int = 0):
    """A few LLM-style triples: (user, item, item) with a negative that is not a training positive."""
    rng = np.random.default_rng(seed)
    positives = np.zeros((train.num_users, train.num_items), dtype=bool)
    positives[train.users, train.items] = True
    users = rng.integers(0, train.num_users, count)
    pos = rng.integers(0, train.num_items, count)
    neg = np.array([rng.choice(np.flatnonzero(~positives[u] & (np.arange(train.num_items) != p))) for u, p in zip(users, pos)])
    return users, pos, neg


@dataclass(frozen=True)
class Case:
    """How to build one sampler: ``make(train, seed, device)``; ``select``: run ``select`` with a scorer."""

    make: Callable[[Interactions, int, str], Sampler]
    select: bool = False
    pools: int = 0  # k of the candidate pools a batch carries (before select), 0 = none
    extra_rows: float = 0.0  # augmented triples per original one


CASES: dict[str, Case] = {
    "uniform": Case(lambda t, s, d: UniformSampler(t, batch_size=BATCH, device=d, seed=s)),
    "uniform-3neg": Case(lambda t, s, d: UniformSampler(t, batch_size=BATCH, num_negatives=3, device=d, seed=s)),
    "pld-warmup": Case(lambda t, s, d: PLDSampler(t, batch_size=BATCH, device=d, seed=s, k=4, warmup=5), select=True),
    "pld-pools": Case(lambda t, s, d: PLDSampler(t, batch_size=BATCH, device=d, seed=s, k=4, warmup=0), pools=4),
    "pld-select": Case(lambda t, s, d: PLDSampler(t, batch_size=BATCH, device=d, seed=s, k=4, warmup=0), select=True),
    "pld-select-2neg-interaction": Case(
        lambda t, s, d: PLDSampler(t, batch_size=BATCH, num_negatives=2, device=d, seed=s, k=3, warmup=1, user_sampling="interaction"),
        select=True,
    ),
    "pld-select-replacement": Case(
        lambda t, s, d: PLDSampler(t, batch_size=BATCH, device=d, seed=s, k=6, warmup=0, pool_replacement=True, loss="bce"), select=True
    ),
    "augmented": Case(
        lambda t, s, d: AugmentedSampler(t, *_augmented_triples(t), aug_rate=0.25, batch_size=BATCH, device=d, seed=s), extra_rows=0.25
    ),
    "augmented-none": Case(lambda t, s, d: AugmentedSampler(t, [], [], [], aug_rate=0.0, batch_size=BATCH, device=d, seed=s)),
}
_COVERED = {UniformSampler, PLDSampler, AugmentedSampler}


def _all_sampler_classes() -> set[type]:
    """Every concrete ``Sampler`` subclass defined in the modules of :mod:`recdenoise.samplers`."""
    found = set()
    for info in pkgutil.walk_packages(recdenoise.samplers.__path__, recdenoise.samplers.__name__ + "."):
        module = importlib.import_module(info.name)
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Sampler) and obj is not Sampler and obj.__module__.startswith("recdenoise.samplers"):
                found.add(obj)
    return found


for _cls in sorted(_all_sampler_classes() - _COVERED, key=lambda c: c.__qualname__):  # a new sampler: the generic constructor
    CASES[f"discovered-{_cls.__qualname__}"] = Case(
        (lambda cls: lambda t, s, d: cls(t, batch_size=BATCH, device=d, seed=s))(_cls), select=_cls.needs_scores
    )


def test_every_sampler_class_is_covered():
    assert _COVERED <= _all_sampler_classes()  # the discovery finds the built-in ones
    assert all(any(name.startswith(prefix) for name in CASES) for prefix in ("uniform", "pld", "augmented"))


def _scorer(train: Interactions, device: str) -> EmbeddingScorer:
    g = torch.Generator().manual_seed(123)
    return EmbeddingScorer(torch.randn(train.num_users, 4, generator=g).to(device), torch.randn(train.num_items, 4, generator=g).to(device))


def _fields(batch: TripletBatch) -> dict[str, torch.Tensor]:
    out = {"users": batch.users, "pos_items": batch.pos_items, "neg_items": batch.neg_items}
    for name in ("rows", "weights", "is_augmented"):
        if getattr(batch, name) is not None:
            out[name] = getattr(batch, name)
    if batch.selection is not None:
        out.update(sel_rows=batch.selection.rows, sel_losses=batch.selection.losses, sel_chosen=batch.selection.chosen)
    return out


class SamplerContract:
    """Checks every sampler passes; subclasses provide the ``case``, ``device`` and ``train`` fixtures."""

    def draw(self, sampler: Sampler, case: Case, train: Interactions, device: str, epoch: int) -> list[TripletBatch]:
        scorer = _scorer(train, device) if case.select else None
        out = []
        for batch in sampler.batches(epoch):
            out.append(sampler.select(batch, scorer, epoch) if case.select else batch)
        return out

    def assert_same(self, a: list[TripletBatch], b: list[TripletBatch]) -> None:
        assert len(a) == len(b)
        for x, y in zip(a, b):
            fx, fy = _fields(x), _fields(y)
            assert fx.keys() == fy.keys()
            for name in fx:
                assert torch.equal(fx[name], fy[name]), name

    def test_same_seed_same_batches(self, case, train, device):
        a, b = case.make(train, 7, device), case.make(train, 7, device)
        for epoch in EPOCHS:
            self.assert_same(self.draw(a, case, train, device, epoch), self.draw(b, case, train, device, epoch))

    def test_other_seed_other_batches(self, case, train, device):
        a, b = case.make(train, 7, device), case.make(train, 8, device)
        for epoch in EPOCHS:
            xa, xb = self.draw(a, case, train, device, epoch), self.draw(b, case, train, device, epoch)
            assert any(
                not torch.equal(fa[name], fb[name])
                for x, y in zip(xa, xb)
                for fa, fb in [(_fields(x), _fields(y))]
                for name in ("users", "pos_items", "neg_items")
            ), f"epoch {epoch}: seeds 7 and 8 drew the same batches"

    def test_negatives_are_never_training_positives(self, case, train, device):
        positives = torch.zeros(train.num_users, train.num_items, dtype=torch.bool)
        positives[torch.from_numpy(train.users), torch.from_numpy(train.items)] = True
        sampler = case.make(train, 0, device)
        for epoch in EPOCHS:
            for batch in self.draw(sampler, case, train, device, epoch):
                users, neg = batch.users.cpu(), batch.neg_items.cpu().reshape(len(batch), -1)
                hit = positives[users.unsqueeze(1), neg]
                assert not hit.any(), f"negative {neg[hit.any(1)][0].tolist()} is a training positive of user {users[hit.any(1)][0]}"

    def test_tensors_on_the_requested_device(self, case, train, device):
        sampler = case.make(train, 0, device)
        for epoch in EPOCHS:
            for batch in self.draw(sampler, case, train, device, epoch):
                for name, tensor in _fields(batch).items():
                    assert tensor.device.type == torch.device(device).type, name

    def test_shapes_and_rows_aligned(self, case, train, device):
        sampler = case.make(train, 0, device)
        users_t, items_t = torch.from_numpy(train.users), torch.from_numpy(train.items)
        n = sampler.num_negatives
        for epoch in EPOCHS:
            for batch in self.draw(sampler, case, train, device, epoch):
                b = len(batch)
                assert batch.users.shape == (b,) and batch.users.dtype == torch.long
                assert 0 < b <= BATCH + round(case.extra_rows * BATCH)
                pools = case.pools if (case.pools and epoch >= getattr(sampler, "warmup", 0)) else 0
                assert batch.pos_items.shape == ((b, pools) if pools else (b,))
                assert batch.neg_items.shape == ((b,) if n == 1 else (b, n))
                assert batch.pos_items.dtype == batch.neg_items.dtype == torch.long
                assert batch.rows is not None and batch.rows.shape == batch.pos_items.shape
                rows, users, pos = batch.rows.cpu(), batch.users.cpu(), batch.pos_items.cpu()
                real = rows >= 0
                if batch.is_augmented is not None:
                    assert batch.is_augmented.shape == (b,) and batch.is_augmented.dtype == torch.bool
                    flags = batch.is_augmented.cpu()
                    flags = flags.unsqueeze(1).expand_as(rows) if rows.dim() == 2 else flags
                    assert torch.equal(~real, flags)  # rows == -1 exactly on augmented triples
                else:
                    assert real.all()
                expanded_users = users.unsqueeze(1).expand_as(rows) if rows.dim() == 2 else users
                assert torch.equal(users_t[rows[real]], expanded_users[real])  # rows point at this user's
                assert torch.equal(items_t[rows[real]], pos[real])  # training positive
                if batch.weights is not None:
                    assert batch.weights.shape == (b,)
                if batch.selection is not None:
                    assert batch.pos_items.dim() == 1 and batch.selection.rows.shape[0] == b
                    picked = batch.selection.rows.cpu().gather(1, batch.selection.chosen.cpu().unsqueeze(1)).squeeze(1)
                    assert torch.equal(picked, rows)

    def test_batches_per_epoch_is_len(self, case, train, device):
        sampler = case.make(train, 0, device)
        for epoch in EPOCHS:
            assert len(self.draw(sampler, case, train, device, epoch)) == len(sampler)

    def test_state_dict_resumes_the_stream(self, case, train, device):
        straight = case.make(train, 3, device)
        self.draw(straight, case, train, device, 0)
        state = straight.state_dict()
        expected = [self.draw(straight, case, train, device, epoch) for epoch in (1, 2)]
        resumed = case.make(train, 99, device)  # another seed: only the loaded state can make it match
        resumed.load_state_dict(state)
        self.assert_same(self.draw(resumed, case, train, device, 1), expected[0])
        self.assert_same(self.draw(resumed, case, train, device, 2), expected[1])


class TestSamplers(SamplerContract):
    @pytest.fixture(params=sorted(CASES))
    def case(self, request) -> Case:
        return CASES[request.param]

    @pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
    def device(self, request) -> str:
        return request.param
