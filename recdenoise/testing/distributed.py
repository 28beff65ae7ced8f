"""Run a function on ``N`` local gloo ranks (spawned processes) and collect what each returns.

Used by the distributed tests and benchmarks; ``torchrun`` is the launcher for users. Each rank
runs ``target(ctx, *args)`` with a :class:`~recdenoise.training.distributed.DistContext` over a
gloo group rendezvoused through a file, with one intra-op thread unless told otherwise.
"""

from __future__ import annotations

import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
import torch.multiprocessing as mp

__all__ = ["run_ranks", "train_run", "Killed"]


class Killed(Exception):
    """Raised by :func:`train_run`'s ``kill_at_epoch`` to stop a run the way a kill would."""


def _entry(target: Callable, rank: int, world_size: int, store: str, out: str, threads: int, args: tuple) -> None:
    import torch.distributed as dist

    from ..training.distributed import DistContext

    torch.set_num_threads(threads)
    try:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
        try:
            value = {"ok": target(DistContext(rank, world_size), *args)}
        finally:
            dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - reported to the parent
        value = {"error": traceback.format_exc()}
    torch.save(value, out)


def run_ranks(target: Callable, world_size: int, *args: Any, threads: int = 1, timeout: float = 300.0) -> list:
    """``[target(ctx_0, *args), ..., target(ctx_{N-1}, *args)]``; ``target`` must be importable
    (a module-level function). Raises ``RuntimeError`` with the rank's traceback when one fails."""
    spawn = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="recdenoise-ranks-") as tmp:
        outs = [str(Path(tmp) / f"rank{r}.pt") for r in range(world_size)]
        procs = [
            spawn.Process(target=_entry, args=(target, r, world_size, str(Path(tmp) / "store"), outs[r], threads, args))
            for r in range(world_size)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout)
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        results = []
        for r, out in enumerate(outs):
            if not Path(out).is_file():
                raise RuntimeError(f"rank {r} ended without a result (exit code {procs[r].exitcode}; timeout {timeout}s?)")
            value = torch.load(out, weights_only=False)
            if "error" in value:
                raise RuntimeError(f"rank {r} failed:\n{value['error']}")
            results.append(value["ok"])
        return results


def train_run(ctx, config: dict, resume: bool = False, kill_at_epoch: int | None = None) -> dict:
    """:func:`~recdenoise.experiment.run_experiment` of a config dict on this rank; returns the
    test metrics and the per-epoch losses (``{"killed": True}`` when ``kill_at_epoch`` stopped it)."""
    from ..config import config_from_dict
    from ..experiment import run_experiment
    from ..training.callbacks import Callback

    class KillAt(Callback):
        def on_epoch_start(self, trainer, epoch):
            if epoch == kill_at_epoch:
                raise Killed(f"killed at the start of epoch {epoch + 1}")

    callbacks = (KillAt(),)  # also when not killing: a resumed run's callbacks line up with the checkpoint's
    try:
        result = run_experiment(config_from_dict(config), resume=resume, distributed=ctx, callbacks=callbacks)
    except Killed:
        return {"killed": True}
    return {"test": result.test.metrics, "losses": [h["loss"] for h in result.record["history"]], "record": result.record}
