"""LLMRec ablation on ML-100K (+ a LightGCN baseline on LLMRec's Netflix subset), through
:func:`recdenoise.experiment.run_experiment` (the pipeline behind ``recdenoise train``).

Rows (LightGCN backbone, BPR):

* ``LightGCN``: no augmentation;
* ``+ aug. edges``: LLM-chosen BPR triples mixed into every batch (``aug_rate``), unpruned;
* ``+ aug. edges, pruned``: the largest-loss ``prune_rate`` share of augmented triples
  dropped per batch (``prune_keep="smallest"``, the paper's intent);
* ``+ side features``: ... and ID embeddings fused with the projected text features
  (item text, augmented item attributes, augmented user profiles);
* ``+ side features + MAE``: ... and masked feature reconstruction (``mask_rate``);
* ``LLMRec reference recipe``: ``--method llmrec-reference``, the reference code's recipe
  (all triples pruned, largest kept, its feature weights and side-channel losses).

An augment dir belongs to one training split. Every seed therefore trains on the split
of ``--split-seed`` (``data.split_seed``; the seed changes the initialisation and the
sampling only), the one the augment dir was produced for. The epoch is selected on
validation Recall@20 (the pipeline restores the best validation weights); test Recall@20 /
NDCG@20 are reported as mean ± sample std over seeds. Each run writes its run folder under
``--runs-dir`` and is resumed (or only re-read) when the script is started again.

    recdenoise train --dataset ml-100k --data-dir DATA --seed 0 --split-seed 0 --lr 0.005 \\
        --epochs 100 --set train.eval_every=5 --output runs/ml100k-base
    recdenoise serve-mock --port 8000 &
    HF_HUB_OFFLINE=1 recdenoise augment --dataset ml-100k --data-dir DATA --seed 0 \\
        --base-url http://127.0.0.1:8000/v1 --model mock-llm --concurrency 32 \\
        --base-run runs/ml100k-base --output runs/aug-ml100k
    OMP_NUM_THREADS=1 python benchmarks/llmrec_table.py --data-dir DATA \\
        --augment-dir runs/aug-ml100k --seeds 0 1 2 --netflix --markdown table.md

The table states where the augmentation came from: unless ``--real-llm`` is given, that the
answers are the loopback mock server's (simulated), not a real LLM's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from recdenoise.config import RunConfig, apply_overrides
from recdenoise.experiment import run_experiment

logger = logging.getLogger("llmrec_table")


def variants(args: argparse.Namespace) -> dict[str, Optional[dict[str, Any]]]:
    """Row name -> LLMRec options (``augment.options``); ``None`` = plain LightGCN, no augment dir."""
    edges = {"features": [], "aug_rate": args.aug_rate, "prune_rate": 0.0}
    pruned = {**edges, "prune_rate": args.prune_rate, "prune_scope": args.prune_scope, "prune_keep": args.prune_keep}
    features = {**pruned, "features": None, "feature_weight": args.feature_weight}
    rows = {
        "LightGCN": None,
        "+ aug. edges (unpruned)": edges,
        f"+ aug. edges, pruned ({args.prune_rate:g}, keep {args.prune_keep})": pruned,
        "+ side features": features,
        f"+ side features + MAE (mask {args.mask_rate:g})": {
            **features, "mask_rate": args.mask_rate, "mae_weight": args.mae_weight,
        },
        # the reference code's whole recipe (prune all triples, keep largest, its weights and side channels)
        "LLMRec reference recipe (llmrec-reference)": {"method": "llmrec-reference"},
    }  # fmt: skip
    wanted = lambda name: args.only is None or any(name.startswith(o) for o in args.only)  # noqa: E731
    return {name: opts for name, opts in rows.items() if wanted(name)}


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in keep.split("-") if part)


def make_config(args: argparse.Namespace, dataset: str, seed: int, split_seed: Optional[int],
                augment_dir: Optional[str], options: Optional[dict], output: Path) -> RunConfig:
    over: dict[str, Any] = {
        "data.dataset": dataset, "data.data_dir": str(args.data_dir), "data.split_seed": split_seed,
        "model.name": "lightgcn", "model.embedding_dim": args.dim, "model.num_layers": args.layers,
        "method.name": "bpr", "train.epochs": args.epochs, "train.lr": args.lr, "train.batch_size": args.batch_size,
        "train.weight_decay": args.reg_weight, "train.patience": args.patience, "train.eval_every": args.eval_every,
        "train.device": args.device, "train.progress": False, "train.checkpoint_every": args.eval_every,
        "eval.ks": (20,), "eval.metrics": ("recall", "ndcg"), "seed": seed, "output_dir": str(output),
    }  # fmt: skip
    if options is not None:
        options = dict(options)
        over["method.name"] = options.pop("method", "bpr")
        over["augment.dir"] = augment_dir
        over["augment.options"] = {k: v for k, v in options.items() if v is not None}
    return apply_overrides(RunConfig(), over)


def run_one(cfg: RunConfig) -> dict:
    """Train (or resume / re-read) one cell; the numbers from its run record."""
    start = time.perf_counter()
    result = run_experiment(cfg, resume=True)
    rec = result.record
    epoch_times = [h["time"] for h in rec["history"]]
    return {
        "seed": cfg.seed, "best_epoch": rec["best_epoch"], "epochs_run": len(rec["history"]),
        "valid_recall@20": rec["valid_metrics"]["recall@20"],
        "recall@20": rec["test_metrics"]["recall@20"], "ndcg@20": rec["test_metrics"]["ndcg@20"],
        "train_seconds": float(np.sum(epoch_times)), "epoch_seconds": float(np.mean(epoch_times)),
        "wall_seconds": time.perf_counter() - start, "output_dir": str(cfg.output_dir),
    }  # fmt: skip


def _mean_std(values: list[float]) -> str:
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.4f} ± {arr.std(ddof=1) if arr.size > 1 else 0.0:.4f}"


def markdown(rows: dict[str, list[dict]], title: str) -> str:
    """One Markdown table: mean ± std of test Recall@20 / NDCG@20 over seeds, selected epochs, s/epoch."""
    lines = [
        f"**{title}**", "",
        "| variant | test Recall@20 | test NDCG@20 | valid Recall@20 | best epoch per seed | seeds | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, runs in rows.items():
        if not runs:
            continue
        lines.append(
            f"| {name} | {_mean_std([r['recall@20'] for r in runs])} | {_mean_std([r['ndcg@20'] for r in runs])} | "
            f"{_mean_std([r['valid_recall@20'] for r in runs])} | {', '.join(str(r['best_epoch']) for r in runs)} | "
            f"{len(runs)} | {np.mean([r['epoch_seconds'] for r in runs]):.2f} |"
        )
    return "\n".join(lines)


def augment_notes(augment_dir: Path, data_dir: Path, split_seed: int) -> list[str]:
    """How many triples the dir holds and how many of their positives are held-out items."""
    from recdenoise.data.registry import prepare_data
    from recdenoise.methods.llmrec import load_augment_dir

    split, _ = prepare_data("ml-100k", data_dir, seed=split_seed)
    data = load_augment_dir(augment_dir, split.train)
    held = split.valid.contains(data.users, data.pos_items) | split.test.contains(data.users, data.pos_items)
    held_neg = split.valid.contains(data.users, data.neg_items) | split.test.contains(data.users, data.neg_items)
    manifest = json.loads((augment_dir / "manifest.json").read_text())
    prov = manifest["provenance"]
    return [
        f"augment dir `{augment_dir}`: {data.num_edges} augmented triples for {split.train.num_users} users, "
        f"features {sorted(data.features)}; model `{prov['model']}` at {prov['base_url']}, "
        f"prompts {prov['prompt_versions']}",
        f"{held.mean():.1%} of the augmented positives and {held_neg.mean():.1%} of the augmented negatives are "
        "held-out (valid/test) interactions of their user",
    ]


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    p.add_argument("--augment-dir", type=Path, required=True, help="output of `recdenoise augment` for --split-seed")
    p.add_argument("--split-seed", type=int, default=0, help="the split the augment dir was made for (all seeds)")
    p.add_argument(
        "--real-llm", action="store_true", help="the augment dir came from a real LLM (drops the 'simulated' caveat)"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", nargs="+", default=None, help="run only the variants whose names start with these")
    p.add_argument("--netflix", action="store_true", help="also the LightGCN baseline on netflix-llmrec")
    p.add_argument("--netflix-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--netflix-epochs", type=int, default=None, help="default --epochs")
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--patience", type=int, default=5, help="evaluations without improvement before stopping")
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--reg-weight", type=float, default=1e-4)
    p.add_argument("--aug-rate", type=float, default=0.1, help="augmented triples per original one (LLMRec: 0.1)")
    p.add_argument("--prune-rate", type=float, default=0.2)
    p.add_argument("--prune-scope", default="augmented")
    p.add_argument("--prune-keep", default="smallest")
    p.add_argument("--feature-weight", type=float, default=0.1)
    p.add_argument("--mask-rate", type=float, default=0.1)
    p.add_argument("--mae-weight", type=float, default=0.1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--runs-dir", type=Path, default=Path("runs/llmrec-table"), help="one run folder per cell (resumed)")
    p.add_argument("--out", type=Path, default=None, help="write all runs as JSON here")
    p.add_argument("--markdown", type=Path, default=None, help="also write the tables here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("recdenoise").setLevel(logging.WARNING)
    torch.set_num_threads(1)

    table = variants(args)
    rows: dict[str, list[dict]] = {name: [] for name in table}
    for seed in args.seeds:
        for name, options in table.items():
            out = args.runs_dir / "ml-100k" / f"{_slug(name)}-s{seed}"
            cfg = make_config(args, "ml-100k", seed, args.split_seed, str(args.augment_dir), options, out)
            run = run_one(cfg)
            rows[name].append(run)
            logger.info("%s seed %d: %s", name, seed, {k: v for k, v in run.items() if k != "output_dir"})
    source = (
        "a real LLM (see the augment dir's manifest)"
        if args.real_llm
        else "`recdenoise augment` against the loopback mock server (`recdenoise serve-mock`): the answers are "
        "SIMULATED (deterministic, genre-overlap rules), not a real LLM's"
    )
    title = (
        f"ML-100K (ratio split 80/10/10, split seed {args.split_seed}; seeds {args.seeds}), LightGCN "
        f"{args.layers} layers, D={args.dim}, lr {args.lr:g}, aug_rate {args.aug_rate:g}. Augmentation: {source}."
    )
    text = [markdown(rows, title), ""]
    if any(v is not None for v in table.values()):
        text += [f"- {note}" for note in augment_notes(args.augment_dir, args.data_dir, args.split_seed)]
    result: dict[str, Any] = {"ml-100k": rows, "args": {k: str(v) for k, v in vars(args).items()}}

    if args.netflix:
        nargs = argparse.Namespace(**{**vars(args), "epochs": args.netflix_epochs or args.epochs})
        netflix = {"LightGCN": []}
        for seed in args.netflix_seeds:
            out = args.runs_dir / "netflix-llmrec" / f"lightgcn-s{seed}"
            cfg = make_config(nargs, "netflix-llmrec", seed, None, None, None, out)
            netflix["LightGCN"].append(run_one(cfg))
            logger.info("netflix seed %d: %s", seed, netflix["LightGCN"][-1])
        text += ["", markdown(netflix, "netflix-llmrec (LLMRec's predefined split; its valid and test files are "
                                       "identical, so the epoch is selected on the test labels), LightGCN")]  # fmt: skip
        result["netflix-llmrec"] = netflix
    sys.stdout.write("\n".join(text) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(text) + "\n")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
