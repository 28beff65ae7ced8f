"""Where the cells of a benchmark grid run: in this process, in local worker processes, or on Ray.

Every executor runs :func:`run_cell` (``run_experiment(config, resume=True)``) for the cells
that have no complete ``run.json`` yet, so the records, resumption and the final table are the
same whichever runs them: a cell's record is its run folder, written by the cell itself.

- :class:`LocalExecutor`: ``workers`` spawned processes (``concurrent.futures``), each with
  ``threads_per_worker`` torch threads; when several GPUs are visible and the cells ask for CUDA,
  worker ``w`` uses GPU ``w mod #GPUs``.
- :class:`RayExecutor`: one Ray task per cell on a cluster (``ray.init(address)``), with
  ``num_cpus`` / ``num_gpus`` per task; install with ``pip install recdenoise[ray]``. The run
  folders must be on storage every node sees (the grid reads the records back).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import multiprocessing
import os
from typing import Any, Callable, Iterator, Optional, Sequence

from ..errors import ConfigError

__all__ = ["Executor", "LocalExecutor", "RayExecutor", "run_cell", "make_executor", "run_grid_cells"]

logger = logging.getLogger(__name__)

_WORKER: dict[str, Any] = {}  # per worker process: its GPU, set by _init_worker


def _on_device(config: Any, device: Optional[str]) -> Any:
    if device is None or str(config.train.device) not in ("auto", "cuda"):
        return config
    return dataclasses.replace(config, train=dataclasses.replace(config.train, device=device))


def run_cell(config: Any, threads: Optional[int] = None) -> Optional[str]:
    """Run (or resume) one cell; returns ``None`` or the error as one line (so it crosses processes)."""
    import torch

    from ..experiment import run_experiment

    if threads:
        torch.set_num_threads(threads)
    config = _on_device(config, _WORKER.get("device"))
    try:
        run_experiment(config, resume=True, progress=False)
    except Exception as exc:  # noqa: BLE001 - reported by the grid (keep_going) or raised there
        return f"{type(exc).__name__}: {exc}"
    return None


def _init_worker(threads: int, counter, num_gpus: int) -> None:
    import torch

    torch.set_num_threads(threads)
    with counter.get_lock():
        slot = counter.value
        counter.value += 1
    _WORKER["device"] = f"cuda:{slot % num_gpus}" if num_gpus > 1 else None


class Executor:
    """Runs cells; ``submit_all`` yields ``(index, error or None)`` as cells finish."""

    def submit_all(self, configs: Sequence[Any]) -> Iterator[tuple[int, Optional[str]]]:  # pragma: no cover
        raise NotImplementedError


class LocalExecutor(Executor):
    """``workers`` local processes (spawned), ``threads_per_worker`` torch threads each.

    Args:
        workers: processes running cells at once.
        threads_per_worker: torch intra-op threads per worker (default: CPU cores / workers).
        num_gpus: GPUs to spread workers over (default: the visible ones; 0 or 1 = no pinning).
    """

    def __init__(self, workers: int, threads_per_worker: Optional[int] = None, num_gpus: Optional[int] = None):
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"--workers must be a positive integer, got {workers!r}")
        self.workers = workers
        self.threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        if num_gpus is None:
            import torch

            num_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        self.num_gpus = num_gpus

    def submit_all(self, configs):
        ctx = multiprocessing.get_context("spawn")  # no fork after torch started its thread pools
        counter = ctx.Value("i", 0)
        with cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self.threads, counter, self.num_gpus)) as pool:
            futures = {pool.submit(run_cell, cfg): i for i, cfg in enumerate(configs)}
            try:
                for future in cf.as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


class RayExecutor(Executor):
    """One Ray task per cell.

    Args:
        address: the cluster (``"auto"``, ``"ray://host:10001"``); ``None`` starts a local Ray.
        num_cpus, num_gpus: resources of each task (``num_cpus`` is also its torch thread count).
        init: call ``ray.init`` when Ray is not initialised yet.
    """

    def __init__(self, address: Optional[str] = None, num_cpus: int = 1, num_gpus: float = 0, init: bool = True):
        try:
            import ray
        except ImportError as exc:
            raise ConfigError("--executor ray needs Ray: pip install 'recdenoise[ray]'") from exc
        self.ray = ray
        self.address, self.num_cpus, self.num_gpus, self.init = address, num_cpus, num_gpus, init

    def submit_all(self, configs):
        ray = self.ray
        if self.init and not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        task = ray.remote(run_cell).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=0)
        refs = {task.remote(cfg, self.num_cpus): i for i, cfg in enumerate(configs)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], ray.get(ref)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise


def make_executor(kind: str = "local", workers: int = 1, threads_per_worker: Optional[int] = None, address: Optional[str] = None) -> Optional[Executor]:
    """The executor behind ``bench denoise --executor/--workers`` (``None``: cells run in this process)."""
    if kind == "ray":
        return RayExecutor(address=address, num_cpus=threads_per_worker or 1)
    if kind != "local":
        raise ConfigError(f"--executor must be 'local' or 'ray', got {kind!r}")
    return LocalExecutor(workers, threads_per_worker) if workers > 1 else None


def run_grid_cells(grid, executor: Executor, on_done: Optional[Callable[[Any], None]] = None):
    """:meth:`DenoiseGrid.run` with the unfinished cells handed to ``executor``; the same
    :class:`~recdenoise.bench.grid.GridRun` (cells in grid order, per validation protocol) and the same errors."""
    from .grid import GridRun, read_record

    keys = [(key, protocol) for key in grid.cells() for protocol in grid.valid_noise]
    records = {pair: read_record(grid.record_path(*pair)) for pair in keys}
    todo = [pair for pair in keys if records[pair] is None]
    failed: dict = {}
    for index, error in executor.submit_all([grid.config_for(*pair) for pair in todo]):
        pair = todo[index]
        key = pair[0]
        if error is not None:
            if not grid.keep_going:
                raise ConfigError(f"cell {key.relpath()} failed: {error}")
            logger.error("cell %s failed: %s", key.relpath(), error)
            failed[pair] = error
            continue
        records[pair] = read_record(grid.record_path(*pair))
        if records[pair] is None:
            raise ConfigError(f"cell {key.relpath()}: the cell finished but {grid.record_path(*pair)} is missing or incomplete")
        if on_done is not None:
            on_done(key)
    result = GridRun()
    for pair in keys:
        key, protocol = pair
        if pair in failed:
            result.failed.append((key, failed[pair]))
        elif records[pair] is not None:
            result.cells.append((key, records[pair]))
            result.by_protocol.setdefault(protocol, []).append((key, records[pair]))
            (result.computed if pair in todo else result.reused).append(key)
    logger.info("grid: %d cells, %d computed, %d reused, %d failed", len(keys), len(result.computed), len(result.reused), len(result.failed))
    return result
