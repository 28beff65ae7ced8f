"""The denoising grid end to end on the real pipeline (``run_experiment``) and the CLI.

A tiny grid on the ``synthetic`` dataset, 2 epochs per cell: the report files exist, a rerun
computes nothing, and a cell interrupted mid-training resumes from its checkpoint.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recdenoise.bench.grid import DenoiseGrid, load_cells, write_report
from recdenoise.cli import main
from recdenoise.config import RunConfig, apply_overrides
from recdenoise.experiment import run_experiment
from recdenoise.training.callbacks import Callback

SMALL = {"num_users": 60, "num_items": 80, "interactions_per_user": 12}


def base_config() -> RunConfig:
    return apply_overrides(
        RunConfig(),
        {
            "data.options": SMALL,
            "train.epochs": 2,
            "train.lr": 0.01,
            "train.batch_size": 256,
            "train.progress": False,
            "train.device": "cpu",
            "model.embedding_dim": 8,
            "model.num_layers": 1,
            "method.options": {},
            "eval.ks": (20,),
            "eval.metrics": ("recall", "ndcg"),
        },
    )


class InterruptAtEpoch(Callback):
    """When ``active``, raises KeyboardInterrupt at the end of the 2nd epoch (epoch 1's checkpoint is on disk).

    Every run gets one (active or not): a resumed run must have the callbacks it was checkpointed with.
    """

    def __init__(self, active: bool):
        self.active = active

    def on_epoch_end(self, trainer, epoch, logs):
        if self.active and epoch == 1:  # 0-based: the second epoch
            raise KeyboardInterrupt


class Runner:
    """run_experiment, interrupting the cell whose folder ends with ``interrupt`` once."""

    def __init__(self, interrupt: str | None = None):
        self.interrupt = interrupt
        self.calls: list[str] = []

    def __call__(self, config, *, resume=False, progress=None):
        self.calls.append(str(config.output_dir))
        active = bool(self.interrupt) and str(config.output_dir).endswith(self.interrupt)
        if active:
            self.interrupt = None
        return run_experiment(config, resume=resume, progress=progress, callbacks=(InterruptAtEpoch(active),))


def _grid(root, runner):
    return DenoiseGrid(
        ["synthetic"], base_config(), root, backbones=("mf",), methods=("bpr", "pld"),
        noise=[("injected", 0.2), ("natural", None)], seeds=(0, 1), method_options={"pld": {"warmup": 1}},
        runner=runner, progress=False,
    )  # fmt: skip


def test_real_grid_report_rerun_and_resume(tmp_path):
    root = tmp_path / "grid"
    interrupted = "natural/mf/pld/seed0"
    runner = Runner(interrupt=interrupted)
    with pytest.raises(KeyboardInterrupt):
        _grid(root, runner).run()
    cell = root / "synthetic" / interrupted
    assert json.loads((cell / "run.json").read_text())["status"] == "interrupted"
    assert (cell / "checkpoint.pt").is_file()
    done_before = len(runner.calls) - 1

    result = _grid(root, runner).run()
    assert len(result.reused) == done_before and len(result.computed) == 8 - done_before
    resumed = json.loads((cell / "run.json").read_text())
    assert resumed["status"] == "complete" and resumed["resumed_from_epoch"] == 1
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    # each injected-noise record carries its noise labels' summary and diagnostics
    record = dict(result.cells)[next(k for k, _ in result.cells if k.noise == "injected" and k.method == "pld")]
    assert record["noise"]["num_noisy"] > 0 and record["diagnostics"]["epochs"]

    # a rerun reads every cell back and computes nothing
    calls = len(runner.calls)
    again = _grid(root, runner).run()
    assert len(runner.calls) == calls and not again.computed and len(again.reused) == 8

    written = write_report(load_cells(root), tmp_path / "report")
    table = pd.read_csv(written["table.csv"])
    assert len(table) == 4 and set(table["seeds"]) == {2}
    assert set(table.loc[table["method"] == "pld", "baseline"]) == {"bpr"}
    md = written["table.md"].read_text()
    assert "| synthetic | injected | 0.2 | mf | pld | 2 |" in md and "| synthetic | natural | — | mf | **bpr** | 2 |" in md


def test_cli_bench_denoise_writes_tables_and_resumes(tmp_path, capsys):
    argv = [
        "bench", "denoise", "--datasets", "synthetic", "--backbones", "mf", "--methods", "bce,tce",
        "--noise", "injected:0.2", "--seeds", "0", "--epochs", "2", "--option", "tce.num_gradual=2",
        "--set", "data.options={num_users = 60, num_items = 80, interactions_per_user = 12}",
        "--set", "model.embedding_dim=8", "--set", "train.lr=0.01", "--set", "train.device=\"cpu\"",
        "--output", str(tmp_path / "grid"), "--report-dir", str(tmp_path / "report"), "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 cells computed, 0 reused" in out and "| tce |" in out.replace("| mf | tce", "| tce")
    assert (tmp_path / "report" / "table.md").is_file() and (tmp_path / "report" / "table.csv").is_file()
    record = json.loads((tmp_path / "grid" / "synthetic" / "injected-0.2" / "mf" / "tce" / "seed0" / "run.json").read_text())
    assert record["config"]["method"]["options"] == {"num_gradual": 2} and record["config"]["train"]["progress"] is False
    assert main(argv) == 0
    assert "0 cells computed, 2 reused" in capsys.readouterr().out
