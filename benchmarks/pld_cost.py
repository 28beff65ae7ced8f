"""Cost of PLD: one PLD epoch vs one plain BPR epoch, MF and LightGCN, in the same process.

PLD (Zhang et al., WWW 2025) scores a pool of ``k`` candidate positives per user at every
step. Its extra work is a gather + dot products over ``[B, k]`` pairs from the embeddings the
step already propagated (no second forward pass), so an epoch should cost at most ~1.5x a
plain BPR epoch.

Protocol: ML-100K (per-user random 80/10/10 split, every rating a positive) with 20 %
injected noise; both trainers first train ``warmup`` epochs (PLD's default warm-up, plain
sampling), so the timed PLD epochs run the resampling path. Then each repeat times one epoch
of every row, interleaved (BPR, PLD, BPR, PLD, ...) so load drifts on a shared machine hit
both alike; the table reports medians. No validation is timed.

    python benchmarks/pld_cost.py --threads 1 --repeats 7
    python benchmarks/pld_cost.py --device cuda
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir  # noqa: E402

from recdenoise.data.noise import add_noise  # noqa: E402
from recdenoise.data.registry import prepare_data  # noqa: E402
from recdenoise.graph import BipartiteGraph  # noqa: E402
from recdenoise.methods import build_method  # noqa: E402
from recdenoise.models import build_model  # noqa: E402
from recdenoise.training import Trainer  # noqa: E402
from recdenoise.utils import resolve_device, seed_everything  # noqa: E402


def build_trainer(method: str, backbone: str, train, device, seed: int, options: dict) -> Trainer:
    seed_everything(seed)
    model = build_model(backbone, train.num_users, train.num_items).to(device)
    parts = build_method(method, train, batch_size=2048, reg_weight=1e-4, device=device, seed=seed, options=options)
    graph = BipartiteGraph.from_interactions(train, device)
    # diagnostics callbacks are not part of the method's cost: keep only the method's own
    callbacks = [cb for cb in parts.callbacks if type(cb).__name__ != "NoiseDiagnostics"]
    return Trainer(model, graph, parts.sampler, parts.objective, lr=1e-3, callbacks=callbacks, seed=seed)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--backbones", nargs="+", default=["mf", "lightgcn"])
    parser.add_argument("--noise-ratio", type=float, default=0.2)
    parser.add_argument("--warmup", type=int, default=5, help="PLD warm-up epochs (trained untimed first)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up epoch")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.repeats, args.warmup = 3, 1
    device = resolve_device(args.device)

    split, _ = prepare_data(args.dataset, args.data_dir, split="ratio", ratios=(0.8, 0.1, 0.1), seed=args.seed)
    split, noise = add_noise(split, "injected", args.noise_ratio, seed=args.seed)
    train = split.train
    print(f"{args.dataset}: {train.num_users} users x {train.num_items} items, {len(train)} training rows "
          f"({noise['num_noisy']} injected), device {device}, torch threads {torch.get_num_threads()}")

    rows = []
    for backbone in args.backbones:
        trainers = {
            "bpr": build_trainer("bpr", backbone, train, device, args.seed, {}),
            "pld": build_trainer("pld", backbone, train, device, args.seed, {"warmup": args.warmup}),
        }
        for trainer in trainers.values():
            trainer.fit(args.warmup)  # PLD resamples from epoch `warmup` on
        times: dict[str, list[float]] = {name: [] for name in trainers}
        for r in range(args.repeats + 1):  # the first round warms caches and is dropped
            for name, trainer in trainers.items():
                sync(device)
                start = time.perf_counter()
                trainer.train_epoch(trainer.epoch)
                sync(device)
                trainer.epoch += 1
                if r:
                    times[name].append(time.perf_counter() - start)
        bpr, pld = statistics.median(times["bpr"]), statistics.median(times["pld"])
        rows.append((backbone, bpr, pld, pld / bpr))

    print(f"\nmedian of {args.repeats} epochs after {args.warmup} warm-up epochs (interleaved)\n")
    print("| backbone | BPR epoch (s) | PLD epoch (s) | PLD / BPR |")
    print("| --- | --- | --- | --- |")
    for backbone, bpr, pld, ratio in rows:
        print(f"| {backbone} | {bpr:.3f} | {pld:.3f} | {ratio:.2f}x |")
    worst = max(r[3] for r in rows)
    print(f"\nworst ratio {worst:.2f}x (target <= 1.5x): {'OK' if worst <= 1.5 else 'ABOVE TARGET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
