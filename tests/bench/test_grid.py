"""DenoiseGrid: cell layout, resumability (finished cells are never recomputed), report files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recdenoise.bench.grid import DenoiseGrid, load_cells, parse_noise, read_record, write_report
from recdenoise.errors import ConfigError
from recdenoise.reporting.summary import CellKey
from recdenoise.utils import atomic_write_json


# --------------------------------------------------------------------------- fake runner
@dataclass(frozen=True)
class _Data:
    dataset: str = "synthetic"


@dataclass(frozen=True)
class _Noise:
    kind: str = "none"
    ratio: float = 0.0


@dataclass(frozen=True)
class _Model:
    name: str = "mf"


@dataclass(frozen=True)
class _Method:
    name: str = "bpr"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Config:
    data: _Data = _Data()
    noise: _Noise = _Noise()
    model: _Model = _Model()
    method: _Method = _Method()
    seed: int = 0
    output_dir: Path = Path("out")


class FakeRunner:
    """Writes a run.json like run_experiment would; counts calls; can fail once mid-grid."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list = []
        self.fail_on = fail_on

    def __call__(self, config, *, resume=False, progress=True):
        self.calls.append(config)
        if self.fail_on and self.fail_on in str(config.output_dir):
            self.fail_on = None
            raise KeyboardInterrupt  # an interrupted cell leaves no run.json
        r = 0.1 + 0.01 * config.seed + (0.02 if config.method.name == "pld" else 0.0)
        history = [{"epoch": e, "loss": 1.0, "valid": {"recall@20": r * e / 2}} for e in (1, 2)]
        atomic_write_json(Path(config.output_dir) / "run.json", {
            "status": "complete", "best_epoch": 2, "history": history,
            "valid_metrics": {"recall@20": r}, "test_metrics": {"recall@20": r, "ndcg@20": r / 2},
            "config": {"method": config.method.name, "options": config.method.options},
        })


def _grid(tmp_path, runner, **kw):
    return DenoiseGrid(
        ["synthetic"], _Config(), tmp_path / "grid", backbones=("mf",), methods=("bpr", "pld"),
        noise=[("injected", 0.2), ("natural", None)], seeds=(0, 1), runner=runner, progress=False, **kw,
    )


def test_parse_noise():
    assert parse_noise("injected:0.2") == ("injected", 0.2)
    assert parse_noise("natural") == ("natural", None)
    for bad in ("injected", "injected:x", "loud:0.1"):
        with pytest.raises(ConfigError):
            parse_noise(bad)


def test_cell_configs(tmp_path):
    grid = _grid(tmp_path, FakeRunner(), method_options={"pld": {"k": 3}})
    keys = grid.cells()
    assert len(keys) == 2 * 2 * 2
    cfg = grid.config_for(CellKey("synthetic", "injected", 0.2, "mf", "pld", 1))
    assert (cfg.noise.kind, cfg.noise.ratio, cfg.method.name, cfg.method.options, cfg.seed) == ("injected", 0.2, "pld", {"k": 3}, 1)
    assert cfg.output_dir == tmp_path / "grid" / "synthetic" / "injected-0.2" / "mf" / "pld" / "seed1"
    assert grid.config_for(CellKey("synthetic", "natural", None, "mf", "bpr", 0)).noise.kind == "natural"


def test_rerun_recomputes_nothing(tmp_path):
    runner = FakeRunner()
    grid = _grid(tmp_path, runner)
    first = grid.run()
    assert len(first.computed) == 8 and not first.reused and len(runner.calls) == 8
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "grid").rglob("run.json")}
    second = _grid(tmp_path, runner).run()
    assert len(runner.calls) == 8 and not second.computed and len(second.reused) == 8
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "grid").rglob("run.json")} == mtimes
    assert [k for k, _ in second.cells] == [k for k, _ in first.cells]


def test_interrupted_grid_resumes_only_missing_cells(tmp_path):
    runner = FakeRunner(fail_on="natural/mf/bpr/seed1")
    with pytest.raises(KeyboardInterrupt):
        _grid(tmp_path, runner).run()
    done = len(runner.calls) - 1
    # an incomplete record (e.g. written by a crashed run) does not count as finished
    partial = tmp_path / "grid" / "synthetic" / "natural" / "mf" / "pld" / "seed0" / "run.json"
    partial.parent.mkdir(parents=True)
    partial.write_text('{"status": "running"}')
    assert read_record(partial) is None
    result = _grid(tmp_path, runner).run()
    assert len(result.reused) == done and len(result.computed) == 8 - done


def test_runner_called_with_resume(tmp_path):
    seen = []

    def runner(config, *, resume=False, progress=True):
        seen.append((resume, progress))
        FakeRunner()(config)

    _grid(tmp_path, runner).run()
    assert set(seen) == {(True, False)}


def test_keep_going_reports_failures(tmp_path):
    def runner(config, *, resume=False, progress=True):
        if config.method.name == "pld":
            raise ConfigError("boom")
        FakeRunner()(config)

    result = _grid(tmp_path, runner, keep_going=True).run()
    assert len(result.failed) == 4 and len(result.cells) == 4


def test_report_files(tmp_path):
    grid = _grid(tmp_path, FakeRunner())
    grid.run()
    cells = load_cells(tmp_path / "grid")
    assert sorted(k for k, _ in cells) == sorted(grid.cells())
    written = write_report(cells, tmp_path / "report")
    md = (tmp_path / "report" / "table.md").read_text()
    assert "pld" in md and "bpr" in md and "+" in md
    assert (tmp_path / "report" / "table.csv").read_text().startswith("dataset,noise,ratio,backbone,method")
    pngs = [p for name, p in written.items() if name.endswith(".png")]
    assert len(pngs) == 2 and all(p.stat().st_size > 1000 for p in pngs)
