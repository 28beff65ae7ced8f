"""Every method trains through build_method + Trainer, on MF and LightGCN, on tiny noisy data."""

from __future__ import annotations

import json
import math

import pytest
import torch

from recdenoise.data import make_synthetic, ratio_split
from recdenoise.data.noise import add_noise
from recdenoise.training.diagnostics import NoiseDiagnostics
from recdenoise.errors import ConfigError
from recdenoise.graph import BipartiteGraph
from recdenoise.methods import build_method
from recdenoise.models import build_model
from recdenoise.training import Trainer

OPTIONS = {
    "bpr": {},
    "bce": {},
    "pld": {"warmup": 1, "k": 4},
    "nbpo": {"flip_dim": 8},
    "tce": {"num_gradual": 10, "max_drop_rate": 0.2},
    "tce-bpr": {"num_gradual": 10, "loss": "bpr", "granularity": "triple"},
    "tce-triple": {"num_gradual": 10, "granularity": "triple"},
    "rce": {"beta": 0.25},
    "rce-bpr": {"loss": "bpr", "granularity": "triple"},
    "rce-triple": {"beta": 0.25, "granularity": "triple"},
}


@pytest.fixture(scope="module")
def split():
    data = make_synthetic(60, 80, interactions_per_user=12, seed=0).interactions
    noisy, _ = add_noise(ratio_split(data, (0.8, 0.1, 0.1), seed=0), "injected", ratio=0.3, seed=0)
    return noisy


@pytest.mark.parametrize("model_name", ["mf", "lightgcn"])
@pytest.mark.parametrize("method", sorted(OPTIONS))
def test_method_trains(split, method, model_name):
    name = method.split("-")[0]
    torch.manual_seed(0)
    parts = build_method(name, split.train, batch_size=64, reg_weight=1e-4, seed=0, options=OPTIONS[method])
    # build_method no longer appends the diagnostics (the experiment does for noise-labelled data)
    assert not any(isinstance(cb, NoiseDiagnostics) for cb in parts.callbacks)
    callbacks = [*parts.callbacks, NoiseDiagnostics(split.train)]
    model = build_model(model_name, split.num_users, split.num_items, embedding_dim=8, num_layers=2)
    trainer = Trainer(model, BipartiteGraph.from_interactions(split.train), parts.sampler, parts.objective,
                      lr=0.01, callbacks=callbacks, seed=0)
    result = trainer.fit(6)
    losses = [h["loss"] for h in result.history]
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0], losses
    diag = next(cb for cb in callbacks if isinstance(cb, NoiseDiagnostics)).summary()
    assert len(diag["epochs"]) == 6
    json.dumps(diag)
    if name == "nbpo":  # the flip factors were optimised too
        assert trainer.optimizer.param_groups[0]["params"][-1] is parts.objective.item_flip.weight
    if name == "pld":
        assert diag["epochs"][-1]["keep_prob_auc"] is not None and "keep_prob_auc" not in diag["epochs"][0]


def test_build_method_adds_no_diagnostics(split):
    clean = split.train.replace(is_noise=None)
    assert build_method("pld", clean).callbacks == []
    assert build_method("pld", split.train).callbacks == []  # the experiment adds them, not build_method
    assert NoiseDiagnostics(clean).enabled is False and NoiseDiagnostics(split.train).enabled is True


def test_unknown_options_are_errors(split):
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['drop_rate'\] for method 'tce'; valid options: \[.*'max_drop_rate'"):
        build_method("tce", split.train, options={"drop_rate": 0.1})
    with pytest.raises(ConfigError):
        build_method("rce", split.train, options={"loss": "mse"})
    with pytest.raises(ConfigError) as err:
        build_method("bpr", split.train, options={"k": 1})
    assert str(err.value) == "unknown option(s) ['k'] for method 'bpr'; valid options: ['num_negatives']"


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["pld", "nbpo", "tce", "rce"])
def test_method_trains_on_cuda(split, method):
    torch.manual_seed(0)
    opts = {"pld": {"warmup": 1}, "nbpo": {}, "tce": {"num_gradual": 5}, "rce": {}}[method]
    parts = build_method(method, split.train, batch_size=64, seed=0, device="cuda", options=opts)
    model = build_model("lightgcn", split.num_users, split.num_items, embedding_dim=8, num_layers=2).cuda()
    trainer = Trainer(model, BipartiteGraph.from_interactions(split.train), parts.sampler, parts.objective,
                      lr=0.01, callbacks=parts.callbacks, seed=0)
    losses = [h["loss"] for h in trainer.fit(3).history]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


@pytest.mark.parametrize("method", ["pld", "nbpo"])
def test_exact_resume(split, method, tmp_path):
    opts = {"pld": {"warmup": 1, "k": 3}, "nbpo": {"flip_dim": 4}}[method]

    def make():
        torch.manual_seed(0)
        parts = build_method(method, split.train, batch_size=64, seed=1, options=opts)
        model = build_model("mf", split.num_users, split.num_items, embedding_dim=8)
        return Trainer(model, BipartiteGraph.from_interactions(split.train), parts.sampler, parts.objective,
                       lr=0.01, callbacks=[*parts.callbacks, NoiseDiagnostics(split.train)], seed=0)

    straight = make()
    straight.fit(3)
    first = make()
    first.fit(2)
    first.save_checkpoint(tmp_path / "ckpt.pt")
    resumed = make()
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    resumed.fit(3)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.objective.state_dict().values(), resumed.objective.state_dict().values()):
        assert torch.equal(a, b)
    diag = lambda t: next(cb for cb in t.callbacks if isinstance(cb, NoiseDiagnostics)).summary()  # noqa: E731
    assert diag(straight) == diag(resumed)
