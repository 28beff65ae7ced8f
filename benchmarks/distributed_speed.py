"""LightGCN on ``N`` gloo ranks vs 1 process (CPU): epoch, full evaluation, peak memory per rank.

Gowalla (LightGCN++ split, 719K training interactions) by default, LightGCN dim 64, 2 layers,
batch 2048, BPR, Adam: the README speed-table setting. With ``N`` ranks the propagation is
sharded (each rank multiplies its row block of the normalised adjacency), the batch is split
across ranks and evaluation is sharded by users (:mod:`recdenoise.training.distributed`).

Each world size runs in fresh spawned processes. ``--steps`` optimiser steps are timed (after
2 warm-up steps) and scaled to an epoch; one full validation pass is timed. Times are given as
process CPU seconds per rank (the work each rank does, unaffected by other load on a shared
machine) and wall seconds (what a user waits; on a machine with fewer free cores than ranks
the wall time says little). Peak memory: peak RSS of each rank after the data are loaded
(``VmHWM`` reset through ``/proc/self/clear_refs``) minus its RSS then.

    python benchmarks/distributed_speed.py --world-sizes 1,2 --steps 30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir, load_split  # noqa: E402
from scaling import _reset_peak, _rss_kib, run_steps  # noqa: E402

from recdenoise.evaluation import Evaluator  # noqa: E402
from recdenoise.evaluation.sharded import ShardedEvaluator  # noqa: E402
from recdenoise.graph import BipartiteGraph  # noqa: E402
from recdenoise.graph.sharded import ShardedGraph  # noqa: E402
from recdenoise.losses import PairwiseObjective  # noqa: E402
from recdenoise.models import LightGCN  # noqa: E402
from recdenoise.samplers import UniformSampler  # noqa: E402
from recdenoise.testing.distributed import run_ranks  # noqa: E402
from recdenoise.training import Trainer  # noqa: E402
from recdenoise.training.distributed import AllReduceOptimizer, DistributedObjective  # noqa: E402


def measure(ctx, dataset: str, data_dir: str, steps: int, dim: int, layers: int, batch_size: int) -> dict:
    split, _how = load_split(dataset, Path(data_dir), 0)
    train = split.train
    torch.manual_seed(0)
    model = LightGCN(train.num_users, train.num_items, dim, layers)
    graph = BipartiteGraph.from_interactions(train)
    objective = PairwiseObjective("bpr", 1e-4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    evaluator = Evaluator(ks=(20,), metrics=("recall", "ndcg"))
    world = ctx.world_size
    if world > 1:
        graph = ShardedGraph(graph, ctx.rank, world)
        objective = DistributedObjective(objective, ctx)
        optimizer = AllReduceOptimizer(optimizer, ctx)
        evaluator = ShardedEvaluator(evaluator, ctx)
    sampler = UniformSampler(train, batch_size=batch_size, seed=0)
    trainer = Trainer(model, graph, sampler, objective, optimizer=optimizer)
    run_steps(trainer, 2)
    base = _reset_peak()
    c, w = time.process_time(), time.perf_counter()
    run_steps(trainer, steps)
    step_cpu, step_wall = (time.process_time() - c) / steps, (time.perf_counter() - w) / steps
    train_peak = (_rss_kib("VmHWM:") - base) / 1024
    c, w = time.process_time(), time.perf_counter()
    metrics = evaluator.evaluate(model.scorer(trainer.graph), split.valid, exclude=[train]).metrics
    eval_cpu, eval_wall = time.process_time() - c, time.perf_counter() - w
    all_peak = (_rss_kib("VmHWM:") - base) / 1024
    local_nnz = trainer.graph.local_nnz if world > 1 else 2 * graph.num_edges
    return {
        "world_size": world, "rank": ctx.rank, "train": len(train), "steps_per_epoch": len(sampler), "timed_steps": steps,
        "epoch_cpu_s": step_cpu * len(sampler), "epoch_wall_s": step_wall * len(sampler), "eval_cpu_s": eval_cpu,
        "eval_wall_s": eval_wall, "train_peak_mib": train_peak, "train_eval_peak_mib": all_peak, "local_nnz": local_nnz,
        "valid_recall@20": metrics["recall@20"], "threads": torch.get_num_threads(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="gowalla")
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--world-sizes", default="1,2")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    args = parser.parse_args(argv)
    for world in [int(w) for w in args.world_sizes.split(",")]:
        rows = run_ranks(measure, world, args.dataset, str(args.data_dir), args.steps, args.dim, args.layers, args.batch_size,
                         threads=args.threads, timeout=3600)
        for row in rows:
            line = json.dumps({"dataset": args.dataset, **row})
            print(line, flush=True)
            if args.out:
                with args.out.open("a") as fh:
                    fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
