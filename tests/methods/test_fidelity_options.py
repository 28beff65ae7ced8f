"""Reference-faithful defaults and their named alternatives: T-CE/R-CE granularity, NBPO's
likelihood and flip regulariser, PLD's optimiser."""

from __future__ import annotations

import pytest
import torch

from recdenoise.config import RunConfig, apply_overrides
from recdenoise.data import make_synthetic, ratio_split
from recdenoise.errors import ConfigError
from recdenoise.experiment import run_experiment
from recdenoise.losses import ElementReweighting, ElementTruncation, ElementwiseObjective, PairwiseObjective
from recdenoise.losses.nbpo import reference_flip_reg
from recdenoise.methods import build_method
from recdenoise.training.callbacks import Callback


@pytest.fixture(scope="module")
def train():
    return ratio_split(make_synthetic(40, 60, interactions_per_user=10, seed=0).interactions, (0.8, 0.1, 0.1), seed=0).train


@pytest.mark.parametrize(
    "method, options, objective, reducer",
    [
        ("tce", {}, ElementwiseObjective, ElementTruncation),
        ("rce", {}, ElementwiseObjective, ElementReweighting),
        ("tce", {"granularity": "triple"}, PairwiseObjective, None),
        ("rce", {"granularity": "triple"}, PairwiseObjective, None),
        ("tce", {"granularity": "triple", "loss": "bpr"}, PairwiseObjective, None),
    ],
)
def test_denoising_granularity(train, method, options, objective, reducer):
    parts = build_method(method, train, options=options)
    assert type(parts.objective) is objective
    if reducer is not None:
        assert type(parts.objective.reducer) is reducer
    if method == "rce":
        beta = parts.objective.reducer.beta
        assert beta == 0.2  # the reference's alpha


@pytest.mark.parametrize("method", ["tce", "rce"])
def test_element_granularity_needs_bce(train, method):
    with pytest.raises(ConfigError, match="granularity=triple"):
        build_method(method, train, options={"loss": "bpr"})
    with pytest.raises(ConfigError, match="granularity"):
        build_method(method, train, options={"granularity": "pair"})


def test_nbpo_defaults_are_the_reference(train):
    objective = build_method("nbpo", train).objective
    assert objective.likelihood == "reference"
    w_user, w_item = reference_flip_reg(1.0, train.num_users, train.num_items, 4)
    assert (objective.user_flip_reg, objective.item_flip_reg) == (w_user, w_item)
    # lambda_phi / (n_ref * B_ref) per user row; the item rows are shared by the positive and n unvoted items
    assert w_user == pytest.approx(train.num_users / 20000) and w_item == pytest.approx(train.num_items / 100000)
    explicit = build_method("nbpo", train, options={"flip_reg_weight": 1e-4, "likelihood": "exact"}).objective
    assert (explicit.user_flip_reg, explicit.item_flip_reg, explicit.likelihood) == (1e-4, 1e-4, "exact")


def _synthetic_config(method: str, options: dict, epochs: int) -> RunConfig:
    return apply_overrides(RunConfig(), {
        "data.options": {"num_users": 150, "num_items": 200, "interactions_per_user": 40},
        "noise.kind": "injected", "noise.ratio": 0.2, "model.name": "mf", "model.embedding_dim": 16,
        "method.name": method, "method.options": options, "train.epochs": epochs, "train.lr": 0.01,
        "train.batch_size": 256, "train.patience": 0, "train.progress": False, "train.device": "cpu",
    })  # fmt: skip


def test_nbpo_default_does_not_collapse():
    """The exact likelihood with a weak flip regulariser collapses on ML-100K (0.284 -> 0.133);
    the default (reference rule, converted lambda_phi) must end within 10 % of its best."""
    history = run_experiment(_synthetic_config("nbpo", {}, 25)).record["history"]
    curve = [h["valid"]["recall@20"] for h in history]
    assert curve[-1] >= 0.9 * max(curve), curve
    assert max(curve) > 2 * curve[0], curve  # and it learned something


class _GrabOptimizer(Callback):
    def on_fit_start(self, trainer):
        self.optimizer = trainer.optimizer


@pytest.mark.parametrize("optimizer, cls, decay", [("adam", torch.optim.Adam, 0.0), ("adamw", torch.optim.AdamW, 0.01)])
def test_pld_optimizer_option(train, optimizer, cls, decay):
    parts = build_method("pld", train, options={"optimizer": optimizer})
    assert (parts.make_optimizer is None) == (optimizer == "adam")
    grab = _GrabOptimizer()
    run_experiment(_synthetic_config("pld", {"optimizer": optimizer, "warmup": 0}, 1), callbacks=[grab])
    assert type(grab.optimizer) is cls and grab.optimizer.param_groups[0]["weight_decay"] == decay
    with pytest.raises(ConfigError, match="optimizer"):
        build_method("pld", train, options={"optimizer": "sgd"})


def test_pld_adamw_weight_decay(train):
    parts = build_method("pld", train, options={"optimizer": "adamw", "adamw_weight_decay": 0.05})
    opt = parts.make_optimizer([torch.nn.Parameter(torch.zeros(2))], 0.001)
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["weight_decay"] == 0.05 and opt.param_groups[0]["lr"] == 0.001
