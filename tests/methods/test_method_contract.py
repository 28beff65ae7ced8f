"""The contract every registered training method keeps, parametrised over ``METHODS``.

A method registered with :func:`~recdenoise.methods.register_method` is checked here without
editing this file: it trains two epochs on small noisy synthetic data (a) through the CLI
(``recdenoise train --method NAME``) and (b) through the own-loop API (``build_method`` + a
hand-written loop, as ``examples/denoise_own_loop.py``); its options class is a frozen
dataclass whose every field has a default; an unknown option is a ConfigError that lists
the valid ones.

``llmrec`` needs an augment dir: a small synthetic one (triples + text features) is written
for the split being trained on, as ``recdenoise augment`` would.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pytest
import torch

import recdenoise.methods
from recdenoise.cli import build_parser, config_from_args, main
from recdenoise.data import Interactions, make_synthetic, ratio_split
from recdenoise.data.noise import add_noise
from recdenoise.data.pipeline import prepare_run_data
from recdenoise.errors import ConfigError
from recdenoise.methods import METHODS, build_method, method_options
from recdenoise.methods.llmrec import EDGES_FILE, FEATURE_FILES
from recdenoise.models import build_model
from recdenoise.scoring import EmbeddingScorer
from recdenoise.utils import seeded_rng

NAMES = sorted(recdenoise.methods.METHODS)
"""Every registered method (a newly registered one is tested automatically)."""

SMALL = {"num_users": 40, "num_items": 60, "interactions_per_user": 12}

# Options that make two epochs exercise the method (defaults otherwise): PLD resamples from
# epoch 2 (warm-up 1), LLMRec mixes, prunes and reconstructs.
OPTIONS: dict[str, dict] = {
    "pld": {"warmup": 1, "k": 3},
    "llmrec": {"aug_rate": 0.5, "prune_rate": 0.2, "mask_rate": 0.2},
}
# methods that read an augment dir (their options name one): they get a synthetic one
NEEDS_AUGMENT_DIR = {name for name, spec in METHODS.items() if "augment_dir" in {f.name for f in dataclasses.fields(spec.options)}}



def write_augment_dir(path: Path, train: Interactions, num_edges: int = 40, seed: int = 0) -> Path:
    """A stand-in for ``recdenoise augment`` output: random triples (pos != neg) + random text features."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    users = rng.integers(0, train.num_users, num_edges)
    pos = rng.integers(0, train.num_items, num_edges)
    neg = (pos + rng.integers(1, train.num_items, num_edges)) % train.num_items
    pd.DataFrame({"user": users, "pos_item": pos, "neg_item": neg}).to_csv(path / EDGES_FILE, index=False)
    for _name, (side, file_name) in FEATURE_FILES.items():
        rows = train.num_users if side == "user" else train.num_items
        np.save(path / file_name, rng.normal(size=(rows, 8)).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def split():
    data = make_synthetic(**SMALL, seed=0).interactions
    noisy, _summary = add_noise(ratio_split(data, seed=0), "injected", 0.2, seed=0)
    return noisy


class MethodContract:
    """Checks every method passes; subclasses provide the ``name`` fixture."""

    def cli_argv(self, name: str, output: Path) -> list[str]:
        argv = ["train", "--dataset", "synthetic", "--model", "lightgcn", "--embedding-dim", "8", "--num-layers", "2",
                "--method", name, "--epochs", "2", "--batch-size", "64", "--lr", "0.01", "--seed", "0",
                "--noise-kind", "injected", "--noise-ratio", "0.2", "--no-progress", "--output", str(output)]  # fmt: skip
        for key, value in SMALL.items():
            argv += ["--data-option", f"{key}={value}"]
        for key, value in OPTIONS.get(name, {}).items():
            argv += (["--augment-option"] if name in NEEDS_AUGMENT_DIR else ["--option"]) + [f"{key}={value}"]
        return argv

    def test_trains_through_the_cli(self, name, tmp_path, capsys, request):
        self.run_cli(name, tmp_path, capsys)

    def run_cli(self, name, tmp_path, capsys, noise: bool = True):
        out = tmp_path / "run"
        argv = self.cli_argv(name, out)
        if not noise:
            argv[argv.index("--noise-kind") + 1] = "none"
            argv[argv.index("--noise-ratio") + 1] = "0"
        if name in NEEDS_AUGMENT_DIR:  # an augment dir for the split this command trains on
            cfg = config_from_args(build_parser().parse_args([*argv, "--augment", str(tmp_path / "aug")]))
            cli_split, _info, _noise = prepare_run_data(cfg.data, cfg.noise, cfg.seed)
            write_augment_dir(tmp_path / "aug", cli_split.train)
            argv += ["--augment", str(tmp_path / "aug")]
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 0, err
        record = json.loads((out / "run.json").read_text())
        assert record["status"] == "complete" and record["config"]["method"]["name"] == name
        assert len(record["history"]) == 2
        assert all(math.isfinite(h["loss"]) for h in record["history"])
        metrics = record["test_metrics"]
        assert metrics and all(math.isfinite(v) for v in metrics.values()), metrics
        assert 0.0 <= metrics["recall@20"] <= 1.0

    def test_trains_in_an_own_loop(self, name, split, tmp_path):
        augment_dir: Optional[str] = None
        if name in NEEDS_AUGMENT_DIR:
            augment_dir = str(write_augment_dir(tmp_path / "aug", split.train))
        with seeded_rng(0):
            backbone = build_model("lightgcn", split.num_users, split.num_items, embedding_dim=8, num_layers=2)
        parts = build_method(name, split.train, backbone, options=OPTIONS.get(name, {}), batch_size=64, seed=0, augment_dir=augment_dir)
        model, graph, sampler, objective = parts.model, parts.graph, parts.sampler, parts.objective
        params = list(model.parameters()) + [p for p in objective.parameters() if all(p is not q for q in model.parameters())]
        before = [p.detach().clone() for p in model.parameters()]
        optimizer = torch.optim.Adam(params, lr=0.01)
        epoch_losses, step = [], 0
        for epoch in range(2):
            losses = []
            for batch in sampler.batches(epoch):
                user_emb, item_emb = model(graph)
                if sampler.needs_scores:
                    batch = sampler.select(batch, EmbeddingScorer(user_emb, item_emb), epoch)
                out = objective(model, user_emb, item_emb, batch, step, graph=graph)
                optimizer.zero_grad()
                out.loss.backward()
                optimizer.step()
                losses.append(out.loss.item())
                step += 1
            assert losses and all(math.isfinite(x) for x in losses), losses
            epoch_losses.append(float(np.mean(losses)))
        changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
        assert epoch_losses[1] < epoch_losses[0] or changed, epoch_losses

    def test_options_are_a_frozen_dataclass_with_defaults(self, name):
        options = METHODS[name].options
        assert dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen
        missing = [f.name for f in dataclasses.fields(options)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]  # fmt: skip
        assert not missing, f"options of {name!r} without a default: {missing}"
        defaults = options()
        assert method_options(name, {}) == defaults
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(defaults, dataclasses.fields(options)[0].name, None)

    def test_unknown_option_lists_the_valid_ones(self, name):
        valid = sorted(f.name for f in dataclasses.fields(METHODS[name].options))
        with pytest.raises(ConfigError) as err:
            method_options(name, {"bogus": 1})
        message = str(err.value)
        assert f"unknown option(s) ['bogus'] for method '{name}'; valid options: " in message
        assert all(repr(field) in message for field in valid), message

    def test_wrong_type_names_the_option(self, name):
        ints = [f.name for f in dataclasses.fields(METHODS[name].options) if f.type in (int, "int")]
        if not ints:
            pytest.skip(f"method {name!r} has no int option")
        with pytest.raises(ConfigError, match=rf"method '{name}' option {ints[0]}: expected int, got"):
            method_options(name, {ints[0]: "many"})


def test_llmrec_trains_through_the_cli_without_noise_labels(tmp_path, capsys):
    """LLMRec through the CLI without noise labels (no diagnostics) trains too."""
    MethodContract().run_cli("llmrec", tmp_path, capsys, noise=False)


class TestMethods(MethodContract):
    @pytest.fixture(params=NAMES)
    def name(self, request) -> str:
        return request.param


def test_every_registered_method_is_in_the_contract():
    assert set(NAMES) >= {"bpr", "bce", "pld", "nbpo", "tce", "rce", "llmrec"}
