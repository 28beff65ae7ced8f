"""Loss distributions of clean vs noisy training positives (the observation PLD is built on).

Prepares the data exactly as a ``recdenoise train`` / ``bench denoise`` cell does (ML-100K,
per-user random 80/10/10 split, 20 % injected noise or natural noise, seed 0), trains plain BPR with the
benchmark's hyper-parameters and snapshots every training interaction's BPR loss (mean over 10
uniform negatives) at an early and a late epoch
(:func:`recdenoise.bench.snapshots.loss_snapshots`). Writes one PNG per backbone
(:func:`recdenoise.reporting.plots.plot_loss_distributions`) and prints, per stage, the AUC of
the loss separating noisy from clean interactions over all interactions and within users.

    python benchmarks/loss_distributions.py --threads 1 --out docs/figures
    python benchmarks/loss_distributions.py --noise-kind natural --threads 1 --out docs/figures
    python benchmarks/loss_distributions.py --backbones mf --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir  # noqa: E402

from recdenoise.bench.snapshots import loss_snapshots  # noqa: E402
from recdenoise.config import RunConfig, apply_overrides  # noqa: E402
from recdenoise.data.pipeline import prepare_run_data  # noqa: E402
from recdenoise.reporting.plots import auc_noisy_vs_clean, plot_loss_distributions, within_user_percentile  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--backbones", nargs="+", default=["mf", "lightgcn"])
    parser.add_argument("--noise-kind", choices=("injected", "natural"), default="injected",
                        help="natural: ratings below 3 stay in training as labelled noisy positives")
    parser.add_argument("--noise-ratio", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 50], help="snapshot after these epochs")
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument("--quick", action="store_true", help="epochs 1 and 3 (a smoke run)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.epochs = [1, 3]

    cfg = apply_overrides(
        RunConfig(),
        {"data.dataset": args.dataset, "data.data_dir": str(args.data_dir), "noise.kind": args.noise_kind,
         "noise.ratio": args.noise_ratio if args.noise_kind == "injected" else 0.0, "seed": args.seed},
    )  # fmt: skip
    split, _info, noise = prepare_run_data(cfg.data, cfg.noise, cfg.seed)
    noise_label = f"{args.noise_ratio:.0%} injected" if args.noise_kind == "injected" else "natural (rating < 3)"
    tag = f"{args.dataset}" if args.noise_kind == "injected" else f"{args.dataset}_natural"
    print(f"{args.dataset}: {len(split.train)} training rows, {noise['num_noisy']} noisy ({noise['noisy_share']:.3f}, {noise_label})")
    summary: dict[str, dict] = {}
    for backbone in args.backbones:
        snaps = loss_snapshots(split, backbone, args.epochs, lr=args.lr, seed=args.seed, device=args.device)
        stages, summary[backbone] = {}, {}
        for epoch, snap in snaps.items():
            pct = within_user_percentile(snap["users"], snap["losses"])
            row = {
                "valid_recall@20": snap["valid_recall@20"],
                "auc_global": auc_noisy_vs_clean(snap["losses"], snap["is_noise"]),
                "auc_within_user": auc_noisy_vs_clean(pct, snap["is_noise"]),
                "median_loss_clean": float(np.median(snap["losses"][~snap["is_noise"]])),
                "median_loss_noisy": float(np.median(snap["losses"][snap["is_noise"]])),
            }
            summary[backbone][epoch] = row
            stages[f"epoch {epoch}"] = snap
            print(f"{backbone:9s} epoch {epoch:4d}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
        path = plot_loss_distributions(
            stages, args.out / f"denoise_losses_{tag}_{backbone}.png",
            title=f"{args.dataset}, {noise_label} noise, plain BPR on {backbone}: loss of clean vs noisy positives\n"
            + "valid Recall@20: " + ", ".join(f"epoch {e} {r['valid_recall@20']:.3f}" for e, r in summary[backbone].items()),
        )  # fmt: skip
        print(f"wrote {path}")
    (args.out / f"denoise_losses_{tag}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
