"""The pruning methods (random, el2n, grand, prototype, elr, kd): build, train, options, keep-sets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from recdenoise.data import make_synthetic, ratio_split
from recdenoise.data.noise import add_noise
from recdenoise.errors import ConfigError
from recdenoise.graph import BipartiteGraph
from recdenoise.methods import METHODS, build_method, method_options
from recdenoise.methods.pruning import PrunedSampler
from recdenoise.models import build_model
from recdenoise.training import Trainer
from recdenoise.training.diagnostics import NoiseDiagnostics

FAST = {"score_epochs": 1, "score_runs": 2}
CASES = {  # method -> options for a fast build
    "random": {"fraction": 0.3},
    "el2n": {"fraction": 0.3, **FAST},
    "grand": {"fraction": 0.3, **FAST},
    "prototype": {"fraction": 0.3, "k": 5, **FAST},
    "elr": {"lam": 1.0},
    "kd": {"fraction": 0.3, "teacher_epochs": 2},
}
PRUNING = ["random", "el2n", "grand", "prototype", "kd"]


@pytest.fixture(scope="module")
def split():
    data = make_synthetic(60, 80, interactions_per_user=12, seed=0).interactions
    noisy, _ = add_noise(ratio_split(data, (0.8, 0.1, 0.1), seed=0), "injected", ratio=0.3, seed=0)
    return noisy


def _build(split, method, model_name="mf", **options):
    model = build_model(model_name, split.num_users, split.num_items, embedding_dim=8, num_layers=2)
    return build_method(method, split.train, model, batch_size=64, seed=0, options={**CASES[method], **options})


def test_all_registered():
    assert set(CASES) <= set(METHODS)


@pytest.mark.parametrize("model_name", ["mf", "lightgcn"])
@pytest.mark.parametrize("method", sorted(CASES))
def test_trains_two_epochs_in_an_own_loop(split, method, model_name):
    parts = _build(split, method, model_name)
    optimizer = torch.optim.Adam(parts.model.parameters(), lr=0.01)
    diagnostics, step, losses = NoiseDiagnostics(split.train), 0, []
    for epoch in range(2):
        total = 0.0
        for batch in parts.sampler.batches(epoch):
            user_emb, item_emb = parts.model(parts.graph)
            out = parts.objective(parts.model, user_emb, item_emb, batch, step)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
            step += 1
            total += float(out.loss.detach())
            diagnostics.update(batch.rows, out.per_example, out.weights)
        losses.append(total)
        diagnostics.end_epoch(epoch)
    assert all(math.isfinite(x) for x in losses)
    summary = (parts.sampler if hasattr(parts.sampler, "summary") else parts.objective).summary()
    json.dumps(summary)
    assert summary["method"] == method and summary["detection_auc"] is not None
    if method in PRUNING:
        assert isinstance(parts.sampler, PrunedSampler)
        # what was optimised is exactly what was kept
        assert diagnostics.history[-1]["num_examples"] == summary["num_kept"]
        assert summary["kept_noisy_share"] == pytest.approx(diagnostics.history[-1]["noisy_share_optimised"], abs=1e-6)


@pytest.mark.parametrize("method", ["el2n", "elr"])
def test_trains_with_the_trainer(split, method):
    parts = _build(split, method, "lightgcn")
    trainer = Trainer(parts.model, parts.graph, parts.sampler, parts.objective, lr=0.01, seed=0, callbacks=[NoiseDiagnostics(split.train)])
    history = trainer.fit(3).history
    assert history[-1]["loss"] < history[0]["loss"]
    if method == "elr":  # the targets are checkpointed with the objective
        assert "reducer.targets" in trainer.state_dict()["objective"]


@pytest.mark.parametrize(
    "method, options, match",
    [
        ("el2n", {"fractio": 0.2}, r"unknown option\(s\) \['fractio'\] for method 'el2n'; valid options: \[.*'fraction'.*'score_epochs'"),
        ("prototype", {"kk": 3}, r"valid options: \[.*'k', 'kmeans_iters'"),
        ("elr", {"lambda": 3}, r"valid options: \['beta', 'lam', 'loss', 'num_negatives'\]"),
        ("kd", {"weight": 1}, r"valid options: \[.*'alpha'.*'teacher_dir'"),
        ("random", {"fraction": 1.0}, r"fraction must be in \[0, 1\)"),
        ("el2n", {"prune": "middle"}, r"prune must be one of \['high', 'low'\]"),
        ("grand", {"loss": "mse"}, r"loss must be one of"),
        ("prototype", {"representation": "sum"}, r"representation must be one of"),
        ("prototype", {"k": 100000}, r"option k must be an integer"),
        ("elr", {"beta": 1.0}, r"beta must be in \[0, 1\)"),
        ("kd", {"score": "el2n"}, r"score must be one of \['teacher', 'random'\]"),
        ("kd", {"alpha": 2.0}, r"alpha must be in \[0, 1\]"),
        ("kd", {"teacher_dir": "/nonexistent/run{seed}"}, r"no model.pt at /nonexistent/run0"),
        ("random", {"fraction": 0.99, "min_per_user": 3}, r"protects"),
    ],
)
def test_bad_options_are_errors(split, method, options, match):
    with pytest.raises(ConfigError, match=match):
        _build(split, method, **options)


def test_options_are_typed():
    opts = method_options("el2n", {"fraction": "0.1", "score_epochs": "2", "prune": "low"})
    assert (opts.fraction, opts.score_epochs, opts.prune) == (0.1, 2, "low")


@pytest.mark.parametrize("method", PRUNING)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.33, 0.5])
@pytest.mark.parametrize("prune", ["high", "low"])
def test_keeps_exactly_round_1_minus_f_n_and_no_user_is_emptied(split, method, fraction, prune):
    options = {"fraction": fraction} if method == "random" else {"fraction": fraction, "prune": prune}
    parts = _build(split, method, **options)
    n = len(split.train)
    summary = parts.sampler.summary()
    assert parts.sampler.num_kept == summary["num_kept"] == round((1 - fraction) * n)
    assert summary["users_emptied"] == 0
    rows = torch.cat([b.rows for b in parts.sampler.batches(0)])
    assert rows.numel() == round((1 - fraction) * n) and rows.unique().numel() == rows.numel()
    assert set(np.unique(split.train.users[rows.numpy()])) == set(np.unique(split.train.users))
    if fraction > 0:  # the pruned edges left the propagation graph
        assert parts.graph.num_edges == round((1 - fraction) * n)


def test_min_per_user_zero_may_empty_users(split):
    parts = _build(split, "random", fraction=0.9, min_per_user=0)
    assert parts.sampler.num_kept == round(0.1 * len(split.train))
    assert parts.sampler.summary()["users_emptied"] > 0


def test_prune_graph_off_keeps_the_graph(split):
    parts = _build(split, "random", "lightgcn", prune_graph=False)
    assert parts.graph.num_edges == BipartiteGraph.from_interactions(split.train).num_edges


def test_scoring_is_seeded(split):
    a, b = _build(split, "el2n"), _build(split, "el2n")
    assert torch.equal(a.sampler.kept_rows, b.sampler.kept_rows)
    assert a.sampler.summary()["detection_auc"] == b.sampler.summary()["detection_auc"]


def test_kd_loads_a_teacher_folder(split, tmp_path):
    model = build_model("mf", split.num_users, split.num_items, embedding_dim=8)
    (tmp_path / "seed0").mkdir()
    torch.save(model.state_dict(), tmp_path / "seed0" / "model.pt")
    parts = build_method("kd", split.train, model, seed=0, options={"teacher_dir": str(tmp_path / "seed{seed}")})
    assert parts.sampler.summary()["teacher"] == str(tmp_path / "seed0")
    assert torch.equal(parts.objective.teacher_user, model.user_embedding.weight.detach())
    other = build_model("mf", split.num_users, split.num_items, embedding_dim=4)
    with pytest.raises(ConfigError, match="does not fit this run's backbone"):
        build_method("kd", split.train, other, seed=0, options={"teacher_dir": str(tmp_path / "seed{seed}")})
