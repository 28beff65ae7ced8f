"""Model selection: ERM_RE trimming, each criterion's pick on a hand-made history, the callback."""

from __future__ import annotations

import math

import pytest
import torch

from recdenoise.data import make_synthetic, ratio_split
from recdenoise.errors import ConfigError
from recdenoise.scoring import bpr_loss
from recdenoise.training.selection import (
    ModelSelection,
    SelectionEarlyStopping,
    criterion_score,
    select_epochs,
    trimmed_mean,
    validation_losses,
)


def test_trimmed_mean_drops_the_largest_share():
    losses = torch.tensor([0.1, 5.0, 0.3, 0.2, 9.0, 0.4, 0.5, 0.6, 0.7, 0.8])
    # 20 % of 10 = 2 largest (9.0, 5.0) trimmed
    assert float(trimmed_mean(losses, 0.2)) == pytest.approx((0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.6 + 0.7 + 0.8) / 8)
    assert float(trimmed_mean(losses, 0.0)) == pytest.approx(float(losses.mean()))
    assert float(trimmed_mean(losses, 0.25)) == pytest.approx(float(trimmed_mean(losses, 0.2)))  # floor(2.5) = 2
    assert float(trimmed_mean(torch.tensor([3.0, 1.0]), 0.9)) == pytest.approx(1.0)  # at least one kept
    with pytest.raises(ConfigError, match="trim"):
        trimmed_mean(losses, 1.0)


# epoch 2: best recall; epoch 3: lowest mean loss; epoch 4: lowest trimmed loss (its mean is
# pulled up by a few huge losses: the noisy positives ERM_RE ignores)
HISTORY = [
    {"epoch": 1, "valid": {"recall@20": 0.10}, "selection": {"loss": 0.70, "trimmed_loss": 0.60}},
    {"epoch": 2, "valid": {"recall@20": 0.30}, "selection": {"loss": 0.50, "trimmed_loss": 0.40}},
    {"epoch": 3, "valid": {"recall@20": 0.20}, "selection": {"loss": 0.40, "trimmed_loss": 0.35}},
    {"epoch": 4, "valid": {"recall@20": 0.25}, "selection": {"loss": 0.45, "trimmed_loss": 0.30}},
    {"epoch": 5, "loss": 1.0},  # no validation this epoch
    {"epoch": 6, "valid": {"recall@20": 0.30}, "selection": {"loss": 0.40, "trimmed_loss": 0.30}},  # ties: first kept
]


def test_each_criterion_picks_its_epoch():
    assert select_epochs(HISTORY, "recall@20") == {"metric": 2, "loss": 3, "trimmed_loss": 4}
    assert criterion_score(HISTORY[4], "loss", "recall@20") is None
    assert criterion_score(HISTORY[0], "trimmed_loss", "recall@20") == -0.60


class _FakeTrainer:
    def __init__(self, model, graph=None):
        self.model, self.graph, self.should_stop = model, graph, False


def test_selection_early_stopping_follows_the_loss_criterion():
    stop = SelectionEarlyStopping("trimmed_loss", patience=2)
    trainer = _FakeTrainer(None)
    for logs in HISTORY:
        stop.on_epoch_end(trainer, logs["epoch"] - 1, logs)
    assert not trainer.should_stop  # epoch 4 improved; epoch 6 is one bad evaluation
    stop.on_epoch_end(trainer, 6, {"epoch": 7, "selection": {"loss": 1.0, "trimmed_loss": 1.0}})
    assert trainer.should_stop
    with pytest.raises(ConfigError):
        SelectionEarlyStopping("metric")


def test_validation_losses_are_bpr_against_the_fixed_negatives():
    gen = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(4, 3, generator=gen), torch.randn(6, 3, generator=gen)
    users, pos, neg = torch.tensor([0, 1, 3]), torch.tensor([1, 2, 5]), torch.tensor([[0, 4], [3, 3], [1, 2]])
    got = validation_losses(user_emb, item_emb, users, pos, neg, "bpr", chunk=2)
    ps = (user_emb[users] * item_emb[pos]).sum(-1)
    ns = (user_emb[users].unsqueeze(1) * item_emb[neg]).sum(-1)
    torch.testing.assert_close(got, bpr_loss(ps, ns))


class _Model(torch.nn.Module):
    """Scores from a fixed table that the test changes between epochs."""

    def __init__(self, num_users, num_items):
        super().__init__()
        self.user = torch.nn.Parameter(torch.zeros(num_users, 2))
        self.item = torch.nn.Parameter(torch.zeros(num_items, 2))

    def scorer(self, graph=None):
        from recdenoise.scoring import EmbeddingScorer

        return EmbeddingScorer(self.user, self.item)


def test_callback_keeps_each_criterions_weights_and_loads_the_primary():
    split = ratio_split(make_synthetic(20, 30, interactions_per_user=8, seed=0).interactions, seed=0)
    model = _Model(split.num_users, split.num_items)
    sel = ModelSelection(split.valid, split.train, primary="loss", num_negatives=2, seed=0)
    trainer = _FakeTrainer(model)
    recalls = [0.1, 0.5, 0.2]
    for epoch, scale in enumerate([0.0, 1.0, 0.5]):
        with torch.no_grad():
            model.user.fill_(scale)
            model.item.fill_(scale)
            model.item[split.valid.items, 0] += scale  # validation items score higher
        logs = {"epoch": epoch + 1, "valid": {"recall@20": recalls[epoch]}}
        sel.on_epoch_end(trainer, epoch, logs)
        assert set(logs["selection"]) == {"loss", "trimmed_loss"} and all(math.isfinite(v) for v in logs["selection"].values())
    chosen = sel.chosen()
    assert chosen["metric"]["epoch"] == 2
    sel.on_fit_end(trainer)  # the model now holds the loss criterion's weights
    best = sel.best["loss"]
    torch.testing.assert_close(model.state_dict()["user"], best["state"]["user"])
    # the fixed negatives are drawn once: the same losses for the same weights
    assert sel.losses(model, None)["loss"] == pytest.approx(-best["score"])
    restored = ModelSelection(split.valid, split.train, primary="loss")
    restored.load_state_dict(sel.state_dict())
    assert restored.chosen() == chosen


def test_bad_settings_are_config_errors():
    split = ratio_split(make_synthetic(10, 20, interactions_per_user=6, seed=0).interactions, seed=0)
    for kwargs, match in (({"primary": "oracle"}, "select"), ({"loss": "mse"}, "loss"), ({"trim": 1.5}, "trim"), ({"num_negatives": 0}, "negatives")):
        with pytest.raises(ConfigError, match=match):
            ModelSelection(split.valid, split.train, **kwargs)
