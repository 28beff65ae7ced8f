"""The grid under both validation protocols and the side-by-side selection table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recdenoise.bench.grid import DenoiseGrid
from recdenoise.cli import main
from recdenoise.config import RunConfig
from recdenoise.errors import ConfigError
from recdenoise.reporting.selection import selection_markdown, selection_rows, selection_summary
from recdenoise.utils import atomic_write_json


def fake_runner(config, *, resume=False, progress=True):
    """A run.json with selection records; noisy validation makes the loss criteria pick worse epochs."""
    noisy = config.noise.valid == "noisy"
    bonus = {"bpr": 0.0, "bce": 0.0, "tce": 0.02}[config.method.name]
    criteria = {
        c: {"epoch": e, "test_metrics": {"recall@20": 0.30 + bonus - (0.05 if noisy and c != "metric" else 0.0) + 0.01 * config.seed,
                                         "ndcg@20": 0.2}}
        for c, e in (("metric", 3), ("loss", 5), ("trimmed_loss", 4))
    }  # fmt: skip
    atomic_write_json(Path(config.output_dir) / "run.json", {
        "status": "complete", "best_epoch": 3, "history": [], "valid_metrics": {"recall@20": 0.1},
        "test_metrics": criteria["metric"]["test_metrics"], "selection": {"select": "metric", "criteria": criteria},
        "config": {"noise": {"valid": config.noise.valid}},
    })  # fmt: skip


def test_grid_runs_each_protocol_in_its_own_folder(tmp_path):
    grid = DenoiseGrid(["synthetic"], RunConfig(), tmp_path / "g", backbones=("mf",), methods=("bce", "tce"),
                       noise=[("injected", 0.2)], seeds=(0, 1), runner=fake_runner, progress=False,
                       valid_noise=("clean", "noisy"))  # fmt: skip
    run = grid.run()
    assert len(run.computed) == 2 * 2 * 2 and set(run.by_protocol) == {"clean", "noisy"}
    key = grid.cells()[0]
    assert grid.config_for(key, "noisy").noise.valid == "noisy" and grid.config_for(key).noise.valid == "clean"
    assert grid.cell_dir(key, "noisy") == tmp_path / "g" / "valid-noisy" / key.relpath()
    assert grid.cell_dir(key) == tmp_path / "g" / key.relpath()  # clean keeps today's layout
    assert len(grid.run().reused) == 8  # resumable per protocol

    summary = selection_summary(selection_rows(run.by_protocol))
    row = summary[(summary.method == "tce") & (summary.protocol == "noisy") & (summary.criterion == "loss")].iloc[0]
    assert row["baseline"] == "bce" and row["recall@20_rel"] == pytest.approx(100 * 0.02 / 0.255)
    assert row["epoch_mean"] == 5 and row["seeds"] == 2
    table = selection_markdown(summary)
    assert "noisy valid, ERM_RE (trimmed loss)" in table and "@4" in table
    with pytest.raises(ConfigError, match="valid_noise"):
        DenoiseGrid(["synthetic"], RunConfig(), tmp_path / "h", valid_noise=("dirty",))


def _bench_argv(output, methods: str, valid: str, select: str) -> list[str]:
    """A two-epoch synthetic ``bench denoise`` command line (``--output`` and ``--no-progress`` last)."""
    return ["bench", "denoise", "--datasets", "synthetic", "--backbones", "mf", "--methods", methods, "--noise", "injected:0.2",
            "--seeds", "0", "--epochs", "2", "--patience", "0", "--device", "cpu", "--valid-noise", valid, "--select", select,
            "--set", "data.options.num_users=30", "--set", "data.options.num_items=40", "--set", "train.batch_size=64",
            "--output", str(output), "--no-progress"]  # fmt: skip


def test_bench_cli_reports_protocols_and_criteria_side_by_side(tmp_path, capsys):
    argv = _bench_argv(tmp_path / "g", "bpr,udt", "clean,noisy", "metric,trimmed_loss")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "clean valid, ERM_RE (trimmed loss)" in out and "noisy valid, valid Recall@20" in out
    assert (tmp_path / "g" / "table_selection.csv").is_file() and (tmp_path / "g" / "valid-noisy" / "table.md").is_file()
    record = json.loads(next((tmp_path / "g" / "valid-noisy").rglob("run.json")).read_text())
    assert record["config"]["noise"]["valid"] == "noisy"
    assert main([*argv[:-3], "--select", "oracle", "--output", str(tmp_path / "h"), "--no-progress"]) == 2


def test_bench_cli_both_trains_once_and_reports_both_protocols(tmp_path, capsys):
    argv = _bench_argv(tmp_path / "g", "bpr,dcf", "both", "metric,loss")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "clean valid, valid loss" in out and "noisy valid, valid Recall@20" in out
    assert len(list((tmp_path / "g" / "valid-both").rglob("run.json"))) == 2  # one run per cell
    assert (tmp_path / "g" / "table.md").is_file()
