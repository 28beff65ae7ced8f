"""DCF, UDT and DeCA: formulas on toy inputs, two epochs through build_method + Trainer and the CLI, options validated."""

from __future__ import annotations

import json
import math

import pytest
import torch

from recdenoise.cli import main
from recdenoise.data import make_synthetic, ratio_split
from recdenoise.data.noise import add_noise
from recdenoise.errors import ConfigError
from recdenoise.evaluation import Evaluator
from recdenoise.losses.dcf import DCFObjective, confidence_lower_bound, damping
from recdenoise.losses.deca import bernoulli_kl
from recdenoise.losses.memory import LossMemory
from recdenoise.losses.udt import user_rank_weights
from recdenoise.methods import build_method, method_options
from recdenoise.models import build_model
from recdenoise.training import Trainer
from recdenoise.types import TripletBatch
from recdenoise.utils import seeded_rng
from field_toy import ToyModel  # noqa: E402 - tests/methods is on sys.path (pytest prepend mode)

FIELD = ("dcf", "udt", "deca")
OPTIONS = {"dcf": {"gradual_epochs": 1, "window": 2}, "udt": {"warmup": 1}, "deca": {"aux_dim": 4}}


@pytest.mark.parametrize("noise_model", ["fixed", "learned"])
def test_deca_noise_models_train(noise_model):
    data = make_synthetic(30, 40, interactions_per_user=10, seed=1).interactions
    train = ratio_split(data, seed=0).train
    with seeded_rng(0):
        backbone = build_model("mf", train.num_users, train.num_items, embedding_dim=8)
    parts = build_method("deca", train, backbone, options={"objective": "bound", "noise_model": noise_model, "aux_dim": 4}, batch_size=64)
    fit = Trainer(parts.model, parts.graph, parts.sampler, parts.objective, lr=0.01).fit(1)
    assert math.isfinite(fit.history[0]["loss"])


@pytest.fixture(scope="module")
def split():
    data = make_synthetic(40, 60, interactions_per_user=12, seed=0).interactions
    return add_noise(ratio_split(data, seed=0), "injected", 0.2, seed=0, valid="noisy")[0]


@pytest.mark.parametrize("name", FIELD)
def test_trains_two_epochs_with_build_method_and_trainer(name, split):
    with seeded_rng(0):
        backbone = build_model("lightgcn", split.num_users, split.num_items, embedding_dim=8, num_layers=2)
    parts = build_method(name, split.train, backbone, options=OPTIONS[name], batch_size=64, seed=0)
    trainer = Trainer(parts.model, parts.graph, parts.sampler, parts.objective, lr=0.01, evaluator=Evaluator(ks=(20,)),
                      valid=split.valid, train=split.train, callbacks=parts.callbacks)  # fmt: skip
    fit = trainer.fit(2)
    assert len(fit.history) == 2 and all(math.isfinite(h["loss"]) for h in fit.history)
    assert fit.best_epoch in (1, 2)


@pytest.mark.parametrize("name", FIELD)
def test_trains_through_the_cli_with_typed_options(name, tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--dataset", "synthetic", "--model", "mf", "--embedding-dim", "8", "--method", name, "--epochs", "2",
            "--batch-size", "64", "--noise-kind", "injected", "--noise-ratio", "0.2", "--valid-noise", "noisy",
            "--select", "trimmed_loss", "--no-progress", "--output", str(out),
            "--data-option", "num_users=40", "--data-option", "num_items=60"]  # fmt: skip
    for key, value in OPTIONS[name].items():
        argv += ["--option", f"{key}={value}"]
    assert main(argv) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["method"]["options"] == OPTIONS[name]  # typed, not strings
    assert record["selection"]["select"] == "trimmed_loss"


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("dcf", {"window": 0}, "window"),
        ("dcf", {"max_relabel_rate": 0.5}, "max_relabel_rate"),
        ("dcf", {"delta": 1.5}, "delta"),
        ("dcf", {"damping": "huber"}, "damping"),
        ("dcf", {"loss": "mse"}, "loss"),
        ("udt", {"tau": 0.0}, "tau"),
        ("udt", {"momentum": 1.0}, "momentum"),
        ("deca", {"true_positive_rate": 0.3}, "true_positive_rate"),
        ("deca", {"aux_dim": 0}, "aux_dim"),
        ("deca", {"noise_model": "mixture"}, "noise_model"),
        ("deca", {"noise_rate": 0.995}, "noise_rate"),
    ],
)
def test_bad_option_values_are_config_errors(name, options, match, split):
    with pytest.raises(ConfigError, match=match):
        build_method(name, split.train, None, options=options, batch_size=64)


@pytest.mark.parametrize("name", FIELD)
def test_unknown_option_lists_the_valid_ones(name):
    with pytest.raises(ConfigError, match="valid options"):
        method_options(name, {"no_such_option": 1})


def test_dcf_lower_bound_and_damping():
    assert float(damping(torch.tensor(0.0))) == 0.0 and float(damping(torch.tensor(100.0))) < 10.0
    memory = LossMemory(3, window=4)
    for losses in ([1.0, 1.0, 3.0], [1.0, 3.0, 3.0], [1.0, 1.0, 3.0], [1.0, 3.0, 3.0]):
        memory.update(torch.arange(3), torch.tensor(losses))
    rows = torch.arange(3)
    torch.testing.assert_close(memory.mean(rows), torch.tensor([1.0, 2.0, 3.0]))
    bound = confidence_lower_bound(memory, rows, delta=0.1, damped=False)
    # constant rows: no variance, bound = mean; the fluctuating row is bounded below its mean
    assert float(bound[0]) == pytest.approx(1.0) and float(bound[2]) == pytest.approx(3.0)
    var = 4.0 / 3.0  # sample variance of (1, 3, 1, 3)
    assert float(bound[1]) == pytest.approx(2.0 - math.sqrt(2 * var * math.log(2 / 0.1) / 4))


def test_dcf_drops_and_relabels_the_confidently_large_losses():
    """The library's earlier reading (triples, variance bound, relabel to 0), kept as options."""
    torch.manual_seed(0)
    model = ToyModel(4, 8)
    objective = DCFObjective(
        4, loss="bce", granularity="triple", bound="variance", relabel="negative", max_drop_rate=0.5,
        max_relabel_rate=0.25, num_gradual=1, window=2, reg_weight=0.0,
    )  # fmt: skip
    user_emb, item_emb = model.user_embedding.weight, model.item_embedding.weight
    with torch.no_grad():
        item_emb[0:2] = 5.0  # positives 0, 1 score high (clean), 2, 3 score low (noisy-looking)
        item_emb[2:4] = -5.0
        user_emb[:] = 1.0
        item_emb[4:] = 0.0
    batch = TripletBatch(torch.arange(4), torch.arange(4), torch.arange(4, 8), rows=torch.arange(4))
    out = objective(model, user_emb, item_emb, batch, step=5)
    assert out.weights.tolist() == [1.0, 1.0, 0.0, 0.0]  # half dropped: the two largest bounds
    pos = (user_emb[:4] * item_emb[:4]).sum(-1)
    relabelled = int(torch.argmax(torch.nn.functional.softplus(-pos)))  # ties: the first of the two largest
    expected = (out.per_example[:2].sum() + out.per_example[relabelled] + pos[relabelled]) / 3
    assert float(out.loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_udt_user_rank_weights():
    users = torch.tensor([0, 0, 0, 1, 1, 2])
    losses = torch.tensor([0.5, 0.1, 0.9, 2.0, 1.0, 7.0])
    w = user_rank_weights(users, losses, tau=0.5, num_users=3)
    # within user 0: ranks 1, 0, 2 -> q = 0.5, 0, 1; weights exp(-q/tau) normalised to mean 1 per user
    raw = torch.exp(-torch.tensor([0.5, 0.0, 1.0]) / 0.5)
    torch.testing.assert_close(w[:3], raw / raw.mean())
    assert float(w[3]) < float(w[4]) and float(w[5]) == pytest.approx(1.0)
    for u in range(3):
        assert float(w[users == u].mean()) == pytest.approx(1.0)


def test_deca_kl_is_zero_on_agreement_and_positive_otherwise():
    a = torch.tensor([-2.0, 0.0, 3.0])
    torch.testing.assert_close(bernoulli_kl(a, a), torch.zeros(3))
    assert (bernoulli_kl(a, -a)[[0, 2]] > 0).all()


def _valid_recall(name, split, options):
    with seeded_rng(0):
        backbone = build_model("mf", split.num_users, split.num_items, embedding_dim=16)
    parts = build_method(name, split.train, backbone, options=options, batch_size=256, seed=0)
    trainer = Trainer(parts.model, parts.graph, parts.sampler, parts.objective, lr=0.01, evaluator=Evaluator(ks=(20,)),
                      valid=split.valid, train=split.train, callbacks=parts.callbacks)  # fmt: skip
    return max(h["valid"]["recall@20"] for h in trainer.fit(15).history)


def test_deca_default_constants_learn_a_ranking_on_mf():
    """DeCA's default C_1 = C_2 = 1000 (the benchmark's ML-100K GMF setting) ranks about as well as
    plain BCE on planted data; ``main.py``'s fallback C_2 = 10 collapses MF (on ML-100K: test
    Recall@20 0.139 against 0.279), which is why it is not the default."""
    data = make_synthetic(300, 200, interactions_per_user=20, seed=0).interactions
    split = add_noise(ratio_split(data, seed=0), "injected", 0.2, seed=0)[0]
    bce, deca, deca_fallback = (_valid_recall(n, split, o) for n, o in (("bce", {}), ("deca", {}), ("deca", {"c_2": 10.0})))
    assert deca >= 0.75 * bce, (deca, bce)
    assert deca_fallback <= 0.6 * deca, (deca_fallback, deca)
