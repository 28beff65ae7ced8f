"""run_experiment / `recdenoise train`: outputs, seeds, exact resume, re-evaluation (issue 2, points 2 and 6)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recdenoise.cli import main
from recdenoise.config import RunConfig, apply_overrides
from recdenoise.errors import CheckpointError
from recdenoise.experiment import load_run, run_experiment
from recdenoise.methods import method_options
from recdenoise.samplers import PLDOptions
from recdenoise.training.callbacks import Callback

SMALL = {"num_users": 120, "num_items": 150, "interactions_per_user": 20}


def small_config(tmp_path, **overrides) -> RunConfig:
    values = {
        "data.options": SMALL,
        "train.epochs": 6,
        "train.lr": 0.01,
        "train.batch_size": 256,
        "train.progress": False,
        "train.device": "cpu",
        "model.num_layers": 2,
        "model.embedding_dim": 16,
        "output_dir": str(tmp_path / "run"),
    }
    values.update(overrides)
    return apply_overrides(RunConfig(), values)


class CrashAt(Callback):
    """Raises KeyboardInterrupt at the end of epoch ``epoch`` (1-based), before the checkpoint of that epoch."""

    def __init__(self, epoch: int | None):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if self.epoch is not None and epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_no_argument_train_prints_metrics(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "recall" in out and "ndcg" in out and "@20" in out
    record = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert record["status"] == "complete" and record["config"]["data"]["dataset"] == "synthetic"


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    a = run_experiment(small_config(tmp_path, output_dir=None))
    b = run_experiment(small_config(tmp_path, output_dir=None))
    c = run_experiment(small_config(tmp_path, output_dir=None, seed=1))
    assert a.test.metrics == b.test.metrics
    assert [h["loss"] for h in a.record["history"]] == [h["loss"] for h in b.record["history"]]
    assert a.test.metrics != c.test.metrics


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"method.name": "pld", "method.options": {"warmup": 2}, "noise.kind": "injected", "noise.ratio": 0.2},
        {"model.name": "mf", "method.name": "nbpo"},
        {"method.name": "tce", "train.edge_dropout": 0.1},
    ],
    ids=["lightgcn-bpr", "lightgcn-pld-noise", "mf-nbpo", "tce-edge-dropout"],
)
def test_resume_after_crash_equals_uninterrupted(tmp_path, overrides):
    full = run_experiment(small_config(tmp_path / "a", **overrides), callbacks=(CrashAt(None),))
    cfg = small_config(tmp_path / "b", **overrides)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, callbacks=(CrashAt(4),))
    interrupted = json.loads((cfg.output_dir / "run.json").read_text())
    assert interrupted["status"] == "interrupted"  # Ctrl-C is recorded (reporting.records)
    resumed = run_experiment(cfg, resume=True, callbacks=(CrashAt(None),))
    assert resumed.record["resumed_from_epoch"] == 3
    assert resumed.test.metrics == full.test.metrics
    assert [h["loss"] for h in resumed.record["history"]] == [h["loss"] for h in full.record["history"]]
    assert resumed.record["best_epoch"] == full.record["best_epoch"]


def test_train_more_epochs_with_resume(tmp_path):
    full = run_experiment(small_config(tmp_path / "a"))
    cfg = small_config(tmp_path / "b", **{"train.epochs": 3})
    run_experiment(cfg)
    resumed = run_experiment(replace(cfg, train=replace(cfg.train, epochs=6)), resume=True)
    assert resumed.test.metrics == full.test.metrics


def test_resume_with_another_config_is_refused(tmp_path):
    cfg = small_config(tmp_path, **{"train.epochs": 2})
    run_experiment(cfg)
    with pytest.raises(CheckpointError, match=r"train.lr: 0.01 -> 0.02"):
        run_experiment(apply_overrides(cfg, {"train.lr": 0.02}), resume=True)


def test_outputs_use_raw_ids_and_reproduce_the_metrics(tmp_path):
    cfg = small_config(tmp_path, **{"noise.kind": "injected", "noise.ratio": 0.2})
    result = run_experiment(cfg)
    out = cfg.output_dir
    record = json.loads((out / "run.json").read_text())
    for key in ("config", "seed", "versions", "data_checksum", "history", "valid_metrics", "test_metrics", "noise", "diagnostics"):
        assert record[key] is not None, key
    assert record["versions"]["torch"] and record["noise"]["num_noisy"] > 0
    assert len(record["diagnostics"]["epochs"]) == record["epochs_run"]

    train = pd.read_csv(out / "split" / "train.csv")
    test = pd.read_csv(out / "split" / "test.csv")
    split = result.split
    assert len(train) == len(split.train) and train["is_noise"].sum() == record["noise"]["num_noisy"]
    assert set(train["user"]) <= set(split.train.user_ids.tolist())

    # Recall@20 recomputed from test_topk.csv and test.csv (raw ids) equals the reported value.
    topk = pd.read_csv(out / "test_topk.csv")
    assert list(topk.columns) == ["user", "rank", "item", "score"]
    assert topk.groupby("user")["rank"].max().eq(20).all()
    truth = test.groupby("user")["item"].apply(set)
    hits = topk.groupby("user")["item"].apply(set)
    recall = np.mean([len(hits[u] & truth[u]) / len(truth[u]) for u in truth.index])
    assert recall == pytest.approx(record["test_metrics"]["recall@20"], abs=1e-6)
    # no training item is ever recommended
    seen = set(zip(train["user"], train["item"]))
    assert not any((u, i) in seen for u, i in zip(topk["user"], topk["item"]))


def test_evaluate_from_checkpoint_matches(tmp_path, capsys):
    cfg = small_config(tmp_path, **{"train.epochs": 3})
    result = run_experiment(cfg)
    again = load_run(cfg.output_dir)
    assert again.test.metrics == pytest.approx(result.test.metrics)
    from_ckpt = load_run(cfg.output_dir / "checkpoint.pt")  # best_state of the trainer checkpoint
    assert from_ckpt.test.metrics == pytest.approx(result.test.metrics)
    assert main(["evaluate", "--checkpoint", str(cfg.output_dir), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["test"]["recall@20"] == pytest.approx(result.test.metrics["recall@20"])


def test_cli_flags_and_config_file(tmp_path, capsys):
    toml = tmp_path / "run.toml"
    toml.write_text(
        '[data]\ndataset = "synthetic"\noptions = { num_users = 80, num_items = 100 }\n'
        '[model]\nname = "mf"\nembedding_dim = 8\n[train]\nepochs = 2\nlr = 0.01\n'
    )
    out = tmp_path / "r"
    code = main(["train", "--config", str(toml), "--epochs", "3", "--method", "pld", "--pld-k", "3", "--pld-warmup", "1",
                 "--noise-kind", "injected", "--noise-ratio", "0.1", "--output", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    record = json.loads((out / "run.json").read_text())
    cfg = record["config"]
    assert cfg["model"] == {"name": "mf", "embedding_dim": 8, "num_layers": 3}
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["lr"] == 0.01
    assert cfg["method"]["name"] == "pld"
    # the values as PLD reads them (the record holds typed values: test_method_flags_are_recorded_typed)
    assert method_options("pld", cfg["method"]["options"]) == PLDOptions(k=3, warmup=1)
    assert set(cfg["method"]["options"]) == {"k", "warmup"}
    assert record["noise"]["kind"] == "injected" and record["diagnostics"]["epochs"]
    assert "noise: injected" in capsys.readouterr().out


def test_method_flags_are_recorded_typed(tmp_path, capsys):
    out = tmp_path / "r"
    common = ["train", "--dataset", "synthetic", "--data-option", "num_users=40", "--data-option", "num_items=50",
              "--model", "mf", "--method", "pld", "--no-progress", "--output", str(out)]  # fmt: skip
    assert main([*common, "--epochs", "1", "--pld-k", "3"]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["method"]["options"] == {"k": 3}
    assert main([*common, "--epochs", "2", "--option", "k=3", "--resume"]) == 0  # the same settings
