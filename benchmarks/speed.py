"""Speed: one LightGCN training epoch and one full evaluation, recdenoise vs PyTorch Geometric.

Part 1 (ML-100K, side by side in one process): dim 64, 2 layers, batch 2048, the same
:class:`~recdenoise.samplers.UniformSampler` batches and the same evaluator for every row;
only the propagation/training code differs. PyG's ``LightGCN`` runs on

* ``edge_index``: its default input, ``[2, 2E]`` with items offset by ``U``;
* ``csr``: a ``torch.sparse_csr`` ``(U+I) x (U+I)`` adjacency (``torch_sparse`` is not
  installed, so no ``SparseTensor``); ``LGConv`` normalises it in every layer (``gcn_norm``);
* ``csr, pre-normalised``: our normalised adjacency with ``normalize=False`` (PyG at its best).

Times are medians of ``--repeats`` runs after a warm-up; ratios are row / ours (> 1: we are faster).

Part 2 (recdenoise alone, each dataset in a fresh subprocess so peak memory is its own):
epoch time, full-ranking validation time and peak memory on ML-1M (LightGCN++ split) and
Gowalla (LightGCN++ split). Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA and, on
CPU, the peak RSS (``VmHWM``, reset through ``/proc/self/clear_refs`` after loading the data, so
the loader's own peak does not count; ``resource.getrusage`` where that is unavailable) minus the
RSS after loading the data and building the model (``tracemalloc`` does not see torch's allocations).

    python benchmarks/speed.py                 # both parts
    python benchmarks/speed.py --quick         # smoke run (ML-100K only, 1 repeat)
    python benchmarks/speed.py --device cuda
    python benchmarks/speed.py --profile       # torch.profiler table of one of our epochs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PygLightGCNRunner,
    default_data_dir,
    describe,
    env_line,
    load_split,
    median,
    set_threads,
    sync,
    timed,
)

from recdenoise.evaluation import Evaluator  # noqa: E402
from recdenoise.graph import BipartiteGraph  # noqa: E402
from recdenoise.losses import PairwiseObjective  # noqa: E402
from recdenoise.models import LightGCN  # noqa: E402
from recdenoise.samplers import UniformSampler  # noqa: E402
from recdenoise.training import Trainer  # noqa: E402
from recdenoise.utils import resolve_device  # noqa: E402

LARGE = ("ml-1m-split", "gowalla")


def build_ours(split, args, device) -> Trainer:
    torch.manual_seed(0)
    model = LightGCN(split.num_users, split.num_items, args.dim, args.layers).to(device)
    sampler = UniformSampler(split.train, batch_size=args.batch_size, device=device, seed=0)
    return Trainer(model, BipartiteGraph.from_interactions(split.train, device), sampler, PairwiseObjective("bpr", 1e-4), lr=1e-3)


def use_fused_propagation(trainer: Trainer) -> None:
    """Experiment: one spmm per layer with the full symmetric ``(U+I)^2`` adjacency instead of
    two with the ``U x I`` block and its transpose (half the kernel launches, same flops)."""
    from recdenoise.graph import SparseOperator, spmm

    model, num_users = trainer.model, trainer.graph.num_users
    adj = trainer.graph.normalized_adjacency()
    full = SparseOperator(adj, adj)  # symmetric: its own transpose

    def forward(graph=None):
        x = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
        out = x * model.alpha[0]
        for layer in range(model.num_layers):
            x = spmm(full, x)
            out = out + model.alpha[layer + 1] * x
        return out[:num_users], out[num_users:]

    model.forward = forward


def ours_eval(trainer: Trainer, evaluator: Evaluator, split) -> dict:
    return evaluator.evaluate(trainer.model.scorer(trainer.graph), split.valid, exclude=[split.train]).metrics


def build_pyg(split, args, device, kind: str) -> tuple[PygLightGCNRunner, UniformSampler]:
    from torch_geometric.nn.models import LightGCN as PygLightGCN
    from torch_geometric.utils import to_torch_csr_tensor

    n = split.num_users + split.num_items
    edge_index = split.train.to_edge_index(homogeneous=True, device=device)
    normalize = kind != "csr_prenorm"
    if kind == "edge_index":
        adj = edge_index
    elif kind == "csr":
        adj = to_torch_csr_tensor(edge_index, size=(n, n))
    else:
        adj = BipartiteGraph.from_interactions(split.train, device).normalized_adjacency()
    torch.manual_seed(0)
    model = PygLightGCN(n, args.dim, args.layers, normalize=normalize).to(device)
    sampler = UniformSampler(split.train, batch_size=args.batch_size, device=device, seed=0)
    return PygLightGCNRunner(model, adj, split.num_users), sampler


class Contender:
    """One row of part 1: how to run a training epoch, an evaluation and a no-grad propagation."""

    def __init__(self, name: str, epoch, evaluate, propagate):
        self.name = name
        self.tasks = {"epoch": epoch, "eval": evaluate, "propagate": propagate}
        self.times: dict[str, list[float]] = {task: [] for task in self.tasks}


def contenders(split, args, device, evaluator) -> list[Contender]:
    out = []
    trainer = build_ours(split, args, device)
    out.append(Contender("recdenoise LightGCN", lambda: trainer.train_epoch(0),
                         lambda: ours_eval(trainer, evaluator, split), lambda: trainer.model.scorer(trainer.graph)))
    if args.experimental:
        fused = build_ours(split, args, device)
        use_fused_propagation(fused)
        out.append(Contender("recdenoise, fused (U+I) spmm [exp]", lambda: fused.train_epoch(0),
                             lambda: ours_eval(fused, evaluator, split), lambda: fused.model.scorer(fused.graph)))
    labels = {"edge_index": "PyG LightGCN, edge_index", "csr": "PyG LightGCN, sparse CSR",
              "csr_prenorm": "PyG LightGCN, CSR pre-normalised"}
    for kind in [k for k in labels if k in args.pyg_inputs]:
        runner, sampler = build_pyg(split, args, device, kind)

        def evaluate(runner=runner):
            user_emb, item_emb = runner.embeddings()
            return evaluator.evaluate_embeddings(user_emb, item_emb, split.valid, exclude=[split.train]).metrics

        out.append(Contender(labels[kind], lambda runner=runner, sampler=sampler: runner.train_epoch(sampler, 0),
                             evaluate, runner.embeddings))
    return out


def part1(args, device) -> None:
    split, how = load_split("ml-100k", args.data_dir, 0)
    evaluator = Evaluator(ks=(20,), metrics=("recall", "ndcg"), device=device)
    print(f"\n== Part 1: ML-100K ({how}) {describe(split)}; dim {args.dim}, {args.layers} layers, batch {args.batch_size}")
    rows = contenders(split, args, device, evaluator)
    # Interleaved: every repeat times each contender once, so drifts in machine load or GPU
    # clocks hit all rows alike. Each task is warmed up once first.
    for task, repeats in (("epoch", args.repeats), ("eval", args.repeats * 5), ("propagate", args.repeats * 5)):
        for row in rows:
            timed(row.tasks[task], device, repeats=0, warmup=1)
        for _ in range(repeats):
            for row in rows:
                row.times[task] += timed(row.tasks[task], device, repeats=1, warmup=0)
    ours = {task: median(ts) for task, ts in rows[0].times.items()}
    header = (
        f"{'':34s} | {'epoch (s)':>9s} | {'eval (s)':>9s} | {'propagate (s)':>13s} | {'epoch x/ours':>12s} | "
        f"{'eval x/ours':>11s} | {'propagate x/ours':>16s}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        t = {task: median(ts) for task, ts in row.times.items()}
        ratio = "" if row is rows[0] else (
            f"{t['epoch'] / ours['epoch']:12.2f} | {t['eval'] / ours['eval']:11.2f} | {t['propagate'] / ours['propagate']:16.2f}"
        )
        print(f"{row.name:34s} | {t['epoch']:9.3f} | {t['eval']:9.4f} | {t['propagate']:13.4f} | {ratio}")
    print(f"(medians of {args.repeats} epochs / {args.repeats * 5} evaluations, interleaved; eval = no-grad propagation + "
          "full ranking of all items for the 943 users, train masked; propagate = the no-grad forward alone; "
          "x/ours > 1: ours is faster)")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0), so the next peak is this phase's own."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """Peak RSS since the last :func:`reset_peak_rss` (``VmHWM``), else the process's ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_large(name: str, args, device) -> dict:
    """One dataset, recdenoise alone (run in a fresh subprocess)."""
    split, how = load_split(name, args.data_dir, 0)
    evaluator = Evaluator(ks=(20,), metrics=("recall", "ndcg"), device=device)
    trainer = build_ours(split, args, device)
    trainer.graph.normalized()
    sync(device)
    process_peak = peak_rss_bytes()  # data loading included
    reset_peak_rss()
    base_rss = rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base_cuda = torch.cuda.memory_allocated(device)
    start = time.perf_counter()
    epoch_t = timed(lambda: trainer.train_epoch(0), device, args.large_repeats, warmup=1 if args.large_repeats > 1 else 0)
    train_rss = peak_rss_bytes() - base_rss
    train_cuda = torch.cuda.max_memory_allocated(device) - base_cuda if device.type == "cuda" else None
    eval_t = timed(lambda: ours_eval(trainer, evaluator, split), device, args.large_repeats + 1)
    out = {
        "dataset": name, "how": how, "describe": describe(split), "epoch": median(epoch_t), "eval": median(eval_t),
        "batches": len(trainer.sampler), "total": time.perf_counter() - start,
        "eval_batch_users": evaluator.batch_size_for(split.num_items),
        "train_peak": train_cuda if device.type == "cuda" else train_rss,
        "all_peak": (torch.cuda.max_memory_allocated(device) - base_cuda) if device.type == "cuda"
        else peak_rss_bytes() - base_rss,
        "process_peak_rss": max(process_peak, peak_rss_bytes()),
    }
    return out


def part2(args, device) -> None:
    print(f"\n== Part 2: recdenoise LightGCN alone (dim {args.dim}, {args.layers} layers, batch {args.batch_size}), fresh process per dataset")
    what = "CUDA max_memory_allocated" if device.type == "cuda" else "peak RSS (VmHWM, reset after loading)"
    header = (
        f"{'dataset':12s} | {'batches':>7s} | {'epoch (s)':>9s} | {'eval (s)':>8s} | {'mem train':>10s} | "
        f"{'mem train+eval':>14s} | {'process peak RSS':>16s}"
    )
    lines = [header, "-" * len(header)]
    for name in LARGE:
        cmd = [sys.executable, __file__, "--_child", name, "--device", str(device), "--data-dir", str(args.data_dir),
               "--dim", str(args.dim), "--layers", str(args.layers), "--batch-size", str(args.batch_size),
               "--large-repeats", str(args.large_repeats)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines.append(f"{name:12s} | failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{name}: {out['describe']} ({out['how']})")
        lines.append(
            f"{name:12s} | {out['batches']:7d} | {out['epoch']:9.2f} | {out['eval']:8.3f} | {out['train_peak'] / 2**20:6.0f} MiB | "
            f"{out['all_peak'] / 2**20:10.0f} MiB | {out['process_peak_rss'] / 2**20:12.0f} MiB"
        )
    print("\n".join(lines))
    print(f"(mem = growth of {what} over the state after loading the data and building the model; the evaluator "
          "scores up to max_batch_bytes=256 MiB of users at once, which dominates 'train+eval')")


def profile(args, device) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    split, _ = load_split("ml-100k", args.data_dir, 0)
    trainer = build_ours(split, args, device)
    trainer.train_epoch(0)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        trainer.train_epoch(1)
        sync(device)
    key = "cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=20))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats on ML-100K (after 1 warm-up)")
    parser.add_argument("--large-repeats", type=int, default=1, help="timed epochs on ML-1M / Gowalla")
    parser.add_argument("--pyg-inputs", nargs="+", default=["edge_index", "csr", "csr_prenorm"])
    parser.add_argument("--parts", nargs="+", type=int, choices=[1, 2], default=[1, 2], help="which parts to run")
    parser.add_argument("--experimental", action="store_true", help="add a fused-propagation row to part 1")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table of one of our epochs")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, ML-100K only")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    device = resolve_device(args.device)
    if args._child:
        print(json.dumps(measure_large(args._child, args, device)))
        return 0
    if args.quick:
        args.repeats, args.parts = 1, [1]
    print(env_line(device))
    if args.profile:
        profile(args, device)
        return 0
    if 1 in args.parts:
        part1(args, device)
    if 2 in args.parts:
        part2(args, device)
    return 0


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
    warnings.filterwarnings("ignore", message=".*Sparse invariant checks are implicitly disabled.*")
    raise SystemExit(main())
