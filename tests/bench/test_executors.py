"""Parallel grid executors: the same records and table as the serial grid.

The local executor runs in CI (2 spawned workers, 1 thread each). The Ray executor runs on a
local ``ray.init()`` when Ray is installed (``pip install 'recdenoise[ray]'``), else it is skipped.
"""

from __future__ import annotations

import pytest

from recdenoise.bench.executors import LocalExecutor, RayExecutor, make_executor
from recdenoise.bench.grid import DenoiseGrid, write_report
from recdenoise.errors import ConfigError

from test_grid_real import base_config  # noqa: E402 - tests/bench is on sys.path (pytest prepend mode)


def _grid(root, executor=None, methods=("bpr", "pld")):
    return DenoiseGrid(
        ["synthetic"], base_config(), root, backbones=("mf",), methods=methods, noise=[("injected", 0.2)],
        seeds=(0, 1), method_options={"pld": {"warmup": 1}}, progress=False, executor=executor, keep_going=True,
    )  # fmt: skip


def _metrics(run) -> dict:
    return {key.relpath(): record["test_metrics"] for key, record in run.cells}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    root = tmp_path_factory.mktemp("serial")
    return _grid(root).run(), root


def test_local_workers_give_the_serial_records_and_table(serial, tmp_path):
    serial_run, serial_root = serial
    run = _grid(tmp_path / "grid", LocalExecutor(workers=2, threads_per_worker=1)).run()
    assert [k for k, _ in run.cells] == [k for k, _ in serial_run.cells]  # grid order, not completion order
    assert len(run.computed) == 4 and not run.failed
    assert _metrics(run) == _metrics(serial_run)  # seeded cells: identical wherever they ran
    write_report(run.cells, tmp_path / "report")
    write_report(serial_run.cells, tmp_path / "serial_report")
    assert (tmp_path / "report" / "table.md").read_text() == (tmp_path / "serial_report" / "table.md").read_text()
    rerun = _grid(tmp_path / "grid", LocalExecutor(workers=2, threads_per_worker=1)).run()  # resumable: nothing to do
    assert len(rerun.reused) == 4 and not rerun.computed


def test_local_worker_failure_is_reported_with_keep_going(tmp_path):
    grid = _grid(tmp_path / "grid", LocalExecutor(workers=2, threads_per_worker=1), methods=("bpr", "no-such-method"))
    grid.check = lambda: None  # the grid's own check would stop it before any cell: make the workers meet the error
    run = grid.run()
    assert len(run.cells) == 2 and len(run.failed) == 2
    assert all("no-such-method" in error for _, error in run.failed)


def test_make_executor_choices():
    assert make_executor("local", 1) is None  # one worker: cells run in this process
    assert isinstance(make_executor("local", 3), LocalExecutor)
    with pytest.raises(ConfigError):
        make_executor("slurm", 2)
    with pytest.raises(ConfigError):
        LocalExecutor(0)


def test_ray_executor_on_a_local_ray(serial, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'recdenoise[ray]')")
    serial_run, _ = serial
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = _grid(tmp_path / "grid", RayExecutor(num_cpus=1)).run()
    finally:
        ray.shutdown()
    assert len(run.computed) == 4 and not run.failed
    assert _metrics(run) == _metrics(serial_run)
