"""run.json records every model-selection criterion's epoch and test metrics; ``--select`` picks the reported one."""

from __future__ import annotations

import json

import pytest

from recdenoise.config import config_from_dict
from recdenoise.experiment import load_run, run_experiment
from recdenoise.training.selection import CRITERIA, select_epochs


def _config(tmp_path, select="metric", valid="noisy", patience=0, name="run"):
    return config_from_dict({
        "seed": 0, "output_dir": str(tmp_path / name),
        "data": {"dataset": "synthetic", "options": {"num_users": 50, "num_items": 70, "interactions_per_user": 14}},
        "noise": {"kind": "injected", "ratio": 0.3, "valid": valid},
        "model": {"name": "mf", "embedding_dim": 8},
        "method": {"name": "bpr"},
        "train": {"epochs": 6, "batch_size": 64, "lr": 0.05, "patience": patience, "device": "cpu", "progress": False,
                  "select": select, "select_negatives": 2},
    })  # fmt: skip


@pytest.mark.parametrize("select", CRITERIA)
def test_run_json_holds_every_criterion(tmp_path, select):
    result = run_experiment(_config(tmp_path, select))
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    sel = record["selection"]
    assert sel["select"] == select and sel["loss"] == "bpr" and sel["trim"] == 0.2
    assert set(sel["criteria"]) == set(CRITERIA)
    picked = select_epochs(record["history"], "recall@20")
    for criterion, chosen in sel["criteria"].items():
        assert chosen["epoch"] == picked[criterion]
        assert set(chosen["test_metrics"]) >= {"recall@20", "ndcg@20"}
        assert chosen["valid_losses"] == record["history"][chosen["epoch"] - 1]["selection"]
    # the reported model is the selected criterion's
    assert record["best_epoch"] == sel["criteria"][select]["epoch"]
    assert record["test_metrics"]["recall@20"] == pytest.approx(sel["criteria"][select]["test_metrics"]["recall@20"])
    assert result.test.metrics["ndcg@20"] == pytest.approx(sel["criteria"][select]["test_metrics"]["ndcg@20"])
    # model.pt holds those weights: evaluating it again gives the same test metrics
    assert load_run(tmp_path / "run").test.metrics["recall@20"] == pytest.approx(record["test_metrics"]["recall@20"])
    assert record["noise"]["valid"] == "noisy" and record["noise"]["valid_num_noisy"] > 0


def test_metric_selection_matches_the_trainer(tmp_path):
    record = run_experiment(_config(tmp_path, "metric", valid="clean")).record
    best = max(record["history"], key=lambda h: h["valid"]["recall@20"])  # max returns the first maximum
    assert record["best_epoch"] == best["epoch"] == record["selection"]["criteria"]["metric"]["epoch"]


def test_early_stopping_follows_the_selected_loss(tmp_path):
    record = run_experiment(_config(tmp_path, "loss", patience=1)).record
    losses = [h["selection"]["loss"] for h in record["history"]]
    if record["stopped_early"]:
        assert losses[-1] >= min(losses[:-1])  # stopped on a non-improving validation loss
    assert record["best_epoch"] == 1 + losses.index(min(losses))


def test_selection_is_free_of_side_effects_on_training(tmp_path):
    """The callback never draws from the training streams: histories agree across criteria."""
    a = run_experiment(_config(tmp_path, "metric", name="a")).record
    b = run_experiment(_config(tmp_path, "trimmed_loss", name="b")).record
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]


def test_both_protocols_in_one_run_match_two_runs(tmp_path):
    """``noise.valid = "both"`` trains once: its clean picks equal a clean run's, its shadow a noisy run's."""
    both = run_experiment(_config(tmp_path, "metric", valid="both", name="both")).record["selection"]
    clean = run_experiment(_config(tmp_path, "metric", valid="clean", name="clean")).record["selection"]
    noisy = run_experiment(_config(tmp_path, "metric", valid="noisy", name="noisy")).record["selection"]
    assert both["shadow"]["protocol"] == "noisy"
    for mine, theirs in ((both["criteria"], clean["criteria"]), (both["shadow"]["criteria"], noisy["criteria"])):
        for criterion in CRITERIA:
            assert mine[criterion]["epoch"] == theirs[criterion]["epoch"]
            assert mine[criterion]["test_metrics"] == pytest.approx(theirs[criterion]["test_metrics"])
            assert mine[criterion]["valid_metrics"] == pytest.approx(theirs[criterion]["valid_metrics"])


def test_one_test_evaluation_per_distinct_selected_epoch(tmp_path, monkeypatch):
    """Criteria (of both protocols) that pick the same epoch share one test evaluation."""
    from recdenoise.evaluation import Evaluator

    calls = []
    evaluate = Evaluator.evaluate

    def counting(self, scorer, targets, *args, **kwargs):
        calls.append(targets)
        return evaluate(self, scorer, targets, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "evaluate", counting)
    record = run_experiment(_config(tmp_path, "metric", valid="both")).record
    sel = record["selection"]
    epochs = {c["epoch"] for c in sel["criteria"].values()} | {c["epoch"] for c in sel["shadow"]["criteria"].values()}
    test_calls = [t for t in calls if t is calls[-1]]  # the last call is the final test report
    # one per distinct epoch, plus the final report of the selected weights (per-user results, top-k)
    assert len(test_calls) == len(epochs) + 1 < 2 * len(CRITERIA) + 1
