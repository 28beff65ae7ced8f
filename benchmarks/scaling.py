"""Scaling curves: epoch time, full-evaluation time and peak memory vs interactions (CPU).

Data: :func:`recdenoise.data.powerlaw.make_powerlaw` (Zipf item popularity, log-normal user
activity; ``U = N/20`` users, ``I = N/200`` items), 10 % of the rows held out as evaluation
targets. Model: MF or LightGCN (dim 64, 2 layers), BPR, batch 2048, Adam; one torch thread.

Each (size, model) runs in a fresh subprocess, so peak memory is its own: the peak RSS
(``VmHWM``, reset through ``/proc/self/clear_refs``) minus the RSS before the phase, for
training (after the data, graph and model exist) and for evaluation.

A full LightGCN epoch at 10^7 interactions is ~4,900 steps, each propagating the whole graph:
hours on one core. So every row times ``--steps`` optimiser steps (after 2 warm-up steps) and
scales to an epoch (``ceil(N_train / B)`` steps); rows with ``--full-epoch-below`` interactions
or fewer also time a whole epoch, to check the extrapolation. Evaluation ranks all ``I`` items
for at most ``--eval-cells`` user x item scores' worth of users and scales to all users.

    python benchmarks/scaling.py --sizes 1e5,1e6,1e7 --out docs/scaling/results.jsonl
    python benchmarks/scaling.py --plot docs/scaling/results.jsonl --figures docs/figures
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the peak RSS to the current RSS; returns the current RSS in KiB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _rss_kib("VmRSS:")


def run_steps(trainer, n: int) -> None:
    """``n`` optimiser steps of the trainer's loop (first batches of an epoch), without callbacks."""
    it = trainer.sampler.batches(0)
    for _ in range(n):
        batch = next(it)
        user_emb, item_emb = trainer.model(trainer.graph)
        out = trainer.objective(trainer.model, user_emb, item_emb, batch, 0)
        trainer.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        trainer.optimizer.step()


def one(size: int, model_name: str, args) -> dict:
    import torch

    from recdenoise.data.powerlaw import make_powerlaw
    from recdenoise.evaluation import Evaluator
    from recdenoise.graph import BipartiteGraph
    from recdenoise.losses import PairwiseObjective
    from recdenoise.models import build_model
    from recdenoise.samplers import UniformSampler
    from recdenoise.training import Trainer

    torch.set_num_threads(args.threads)
    clock = time.process_time
    t0 = time.perf_counter()
    data = make_powerlaw(size, seed=0)
    held = np.random.default_rng(0).random(len(data)) < 0.1
    held &= data.user_counts[data.users] > 1  # every user keeps a training row
    train, test = data.subset(~held), data.subset(held)
    gen_s = time.perf_counter() - t0
    torch.manual_seed(0)
    model = build_model(model_name, train.num_users, train.num_items, embedding_dim=args.dim, num_layers=args.layers)
    graph = BipartiteGraph.from_interactions(train)
    graph.normalized()
    sampler = UniformSampler(train, batch_size=args.batch_size, seed=0)
    trainer = Trainer(model, graph, sampler, PairwiseObjective("bpr", 1e-4), lr=1e-3)
    steps_per_epoch = len(sampler)

    run_steps(trainer, 2)
    base = _reset_peak()
    c, w = clock(), time.perf_counter()
    run_steps(trainer, args.steps)
    step_cpu, step_wall = (clock() - c) / args.steps, (time.perf_counter() - w) / args.steps
    train_peak = (_rss_kib("VmHWM:") - base) / 1024
    full_epoch = None
    if size <= args.full_epoch_below:
        c = clock()
        trainer.train_epoch(1)
        full_epoch = clock() - c

    evaluator = Evaluator(ks=(20,), metrics=("recall", "ndcg"), max_batch_bytes=args.eval_budget_mib * 2**20)
    users = np.flatnonzero(test.user_counts > 0)
    n_eval = min(len(users), max(1, int(args.eval_cells // train.num_items)))
    keep = np.zeros(test.num_users, bool)
    keep[users[:n_eval]] = True
    part = test.subset(keep[test.users])
    scorer = model.scorer(graph)
    base = _reset_peak()
    c = clock()
    result = evaluator.evaluate(scorer, part, exclude=[train])
    eval_cpu = (clock() - c) * len(users) / n_eval
    eval_peak = (_rss_kib("VmHWM:") - base) / 1024
    return {
        "size": size, "model": model_name, "interactions": len(data), "train": len(train), "users": train.num_users,
        "items": train.num_items, "dim": args.dim, "layers": args.layers if model_name == "lightgcn" else 0,
        "batch_size": args.batch_size, "steps_per_epoch": steps_per_epoch, "timed_steps": args.steps,
        "step_cpu_s": step_cpu, "step_wall_s": step_wall, "epoch_cpu_s": step_cpu * steps_per_epoch,
        "full_epoch_cpu_s": full_epoch, "train_peak_mib": train_peak, "eval_users": int(len(users)),
        "eval_users_timed": int(n_eval), "eval_cpu_s": eval_cpu, "eval_peak_mib": eval_peak,
        "eval_budget_mib": args.eval_budget_mib, "eval_batch_users": evaluator.batch_size_for(train.num_items),
        "recall@20_sample": result.metrics.get("recall@20"), "generate_s": gen_s, "threads": args.threads,
    }


def fit_exponent(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plot(path: Path, figures: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a script, not the library: choosing the backend is ours
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    figures.mkdir(parents=True, exist_ok=True)
    panels = [("step_cpu_s", "one step (CPU s)"), ("epoch_cpu_s", "epoch (CPU s)"), ("eval_cpu_s", "full evaluation (CPU s)"), ("train_peak_mib", "peak memory, training (MiB)"), ("eval_peak_mib", "peak memory, evaluation (MiB)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.2))
    print("| model | metric | " + " | ".join(f"{r['train']:,}" for r in rows if r["model"] == rows[0]["model"]) + " | fitted exponent |")
    print("|---|---|" + "---|" * (1 + sum(r["model"] == rows[0]["model"] for r in rows)))
    for ax, (key, label) in zip(axes, panels):
        for model in sorted({r["model"] for r in rows}):
            sel = sorted((r for r in rows if r["model"] == model), key=lambda r: r["train"])
            x = np.array([r["train"] for r in sel], float)
            y = np.array([max(r[key], 1e-3) for r in sel], float)
            k = fit_exponent(x, y) if len(sel) > 1 else math.nan
            ax.loglog(x, y, "o-", label=f"{model} (slope {k:.2f})")
            if key in ("epoch_cpu_s", "step_cpu_s"):  # cost model: c x nnz x D x max(L, 1) (x steps), c fitted
                steps = np.array([r["steps_per_epoch"] if key == "epoch_cpu_s" else 1 for r in sel], float)
                work = np.array([r["train"] * r["dim"] * max(r["layers"], 1) for r in sel], float) * steps
                c = float(np.exp(np.mean(np.log(y / work))))
                unit = "nnz·D·L·steps" if key == "epoch_cpu_s" else "nnz·D·L"
                ax.loglog(x, c * work, "--", alpha=0.6, label=f"{model} model: {c:.1e} s x {unit}")
            if key == "eval_peak_mib":
                ax.axhline(sel[0]["eval_budget_mib"], color="grey", ls=":", label="evaluation budget")
            print(f"| {model} | {label} | " + " | ".join(f"{v:.3g}" for v in y) + f" | {k:.2f} |")
        ax.set_xlabel("training interactions")
        ax.set_title(label)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(figures / "scaling.png", dpi=110)
    print(f"wrote {figures / 'scaling.png'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e5,1e6,1e7")
    parser.add_argument("--models", default="mf,lightgcn")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps timed per row (scaled to an epoch)")
    parser.add_argument("--full-epoch-below", type=float, default=1e5, help="also time a whole epoch up to this size")
    parser.add_argument("--eval-cells", type=float, default=2e9, help="user x item scores timed per row (scaled to all users)")
    parser.add_argument("--eval-budget-mib", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("scaling.jsonl"))
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--plot", type=Path, default=None, help="plot a results file instead of running")
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    args = parser.parse_args(argv)
    if args.plot:
        plot(args.plot, args.figures)
        return 0
    if args.one:
        print(json.dumps(one(int(float(args.one[0])), args.one[1], args)))
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for size in [int(float(s)) for s in args.sizes.split(",")]:
        for model in args.models.split(","):
            cmd = [sys.executable, __file__, "--one", str(size), model] + [a for a in (argv or sys.argv[1:]) if not a.startswith("--one")]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{size} {model}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            line = proc.stdout.strip().splitlines()[-1]
            with args.out.open("a") as fh:
                fh.write(line + "\n")
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
