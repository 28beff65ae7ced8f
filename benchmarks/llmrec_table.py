"""LLMRec ablation on ML-100K (+ a LightGCN baseline on LLMRec's Netflix subset).

Rows: LightGCN; + augmented BPR triples (unpruned); + pruning; + fused side features;
+ MAE feature reconstruction. Each row is trained on ``prepare_data("ml-100k", split="ratio",
seed=s)`` for every seed, the epoch is selected on validation Recall@20 only (the trainer
restores the best validation weights), and test Recall@20 / NDCG@20 are reported as
mean ± std over seeds.

An augment dir belongs to one split: pass ``--augment-dir`` as a template with ``{seed}``
(e.g. ``runs/aug-ml100k-s{seed}``, each produced by ``recdenoise augment`` on that seed's
split), or ``--mock-augment DIR`` to run that job here against the in-process loopback mock
server (:func:`write_mock_augment_dir`). The table says where the augmentation came from;
the mock server's answers are simulated, not a real LLM's.

    recdenoise augment --dataset ml-100k --split ratio --seed 0 --base-url http://127.0.0.1:8000/v1 \\
        --model mock --output runs/aug-s0          # likewise for seeds 1 and 2, against `recdenoise serve-mock`
    python benchmarks/llmrec_table.py --data-dir ../shared/datasets --augment-dir 'runs/aug-s{seed}' \\
        --augment-source "loopback mock LLM server" --seeds 0 1 2 --netflix
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from recdenoise.data import Split
from recdenoise.evaluation import Evaluator
from recdenoise.llmrec import build_llmrec_parts, load_augment_dir
from recdenoise.training import EarlyStopping, Trainer

logger = logging.getLogger("llmrec_table")

KS = (20,)


def variants(args: argparse.Namespace) -> dict[str, Optional[dict[str, Any]]]:
    """Row name -> LLMRec options (``None`` = plain LightGCN, no augment dir)."""
    edges = {"features": (), "aug_rate": args.aug_rate}
    pruned = {**edges, "prune_rate": args.prune_rate, "prune_scope": args.prune_scope, "prune_keep": args.prune_keep}
    features = {**pruned, "features": None, "feature_weight": args.feature_weight}
    return {
        "LightGCN": None,
        "+ augmented edges": {**edges, "prune_rate": 0.0},
        "+ augmented edges, pruned": pruned,
        "+ side features": features,
        "+ side features + MAE": {**features, "mask_rate": args.mask_rate, "mae_weight": args.mae_weight},
    }


def prepare(name: str, data_dir: Path, seed: int) -> Split:
    """ML-100K: ratio split 80/10/10 with every rating kept as a positive (the registry's
    default, and what ``recdenoise augment --split ratio --seed s`` prepares). Others: their
    own split."""
    from recdenoise.data.registry import prepare_data

    split_method = "ratio" if name == "ml-100k" else "auto"
    split, _info = prepare_data(name, data_dir, split=split_method, seed=seed)
    return split


# ------------------------------------------------------------------- augmentation via the mock server
def write_mock_augment_dir(data_dir: Path, seed: int, path: Path) -> Path:
    """Run the LLM job (``recdenoise augment``, popularity candidates, local MiniLM embeddings)
    against an in-process loopback mock server: deterministic, simulated answers, no real LLM."""
    import os

    from recdenoise.llm.commands import add_augment_arguments, run_augment
    from recdenoise.llm.mock_server import MockOpenAIServer

    os.environ.setdefault("RECDENOISE_LLM_API_KEY", "mock-key")  # the loopback mock ignores it
    with MockOpenAIServer("127.0.0.1", 0) as server:
        flags = ["--dataset", "ml-100k", "--data-dir", str(data_dir), "--split", "ratio", "--seed", str(seed),
                 "--base-url", server.base_url, "--model", "mock", "--output", str(path), "--no-progress"]  # fmt: skip
        status = run_augment(add_augment_arguments(argparse.ArgumentParser()).parse_args(flags))
    if status != 0:
        raise SystemExit(f"the augmentation job against the mock server did not finish (exit {status})")
    return path


# ------------------------------------------------------------------------------------ one run
def run_one(split: Split, augment_dir: Optional[Path], options: Optional[dict], seed: int, args: argparse.Namespace) -> dict:
    torch.manual_seed(seed)
    model, parts, graph = build_llmrec_parts(
        augment_dir if options is not None else None, split,
        embedding_dim=args.dim, num_layers=args.layers, batch_size=args.batch_size,
        reg_weight=args.reg_weight, device=args.device, seed=seed, options=options or {},
    )  # fmt: skip
    evaluator = Evaluator(ks=KS, metrics=("recall", "ndcg"), device=args.device)
    trainer = Trainer(
        model, graph, parts.sampler, parts.objective, lr=args.lr, evaluator=evaluator,
        valid=split.valid, train=split.train, eval_every=args.eval_every,
        callbacks=[*parts.callbacks, EarlyStopping("recall@20", patience=args.patience)], seed=seed,
    )  # fmt: skip
    start = time.perf_counter()
    result = trainer.fit(args.epochs)
    elapsed = time.perf_counter() - start
    test = evaluator.evaluate(model.scorer(graph), split.test, exclude=[split.train, split.valid]).metrics
    return {
        "seed": seed, "best_epoch": result.best_epoch, "valid_recall@20": result.best_valid.get("recall@20"),
        "recall@20": test["recall@20"], "ndcg@20": test["ndcg@20"], "seconds": elapsed, "epochs_run": trainer.epoch,
    }  # fmt: skip


def _mean_std(values: list[float]) -> str:
    arr = np.asarray(values, dtype=float)
    return f"{arr.mean():.4f} ± {arr.std(ddof=1) if arr.size > 1 else 0.0:.4f}"


def markdown(rows: dict[str, list[dict]], title: str) -> str:
    lines = [f"**{title}**", "", "| variant | Recall@20 | NDCG@20 | best epoch | seeds | s/run |", "|---|---|---|---|---|---|"]
    for name, runs in rows.items():
        if not runs:
            continue
        lines.append(
            f"| {name} | {_mean_std([r['recall@20'] for r in runs])} | {_mean_std([r['ndcg@20'] for r in runs])} | "
            f"{', '.join(str(r['best_epoch']) for r in runs)} | {len(runs)} | {np.mean([r['seconds'] for r in runs]):.0f} |"
        )
    return "\n".join(lines)


def augment_dir_for(args: argparse.Namespace, split: Split, seed: int) -> Path:
    if args.augment_dir:
        path = Path(args.augment_dir.format(seed=seed))
        if not path.is_dir():
            raise SystemExit(f"augment dir {path} not found: run `recdenoise augment` for seed {seed} first")
        return path
    path = Path(args.mock_augment) / f"ml-100k-s{seed}"
    if not (path / "manifest.json").is_file():
        logger.info("running the augmentation job against the loopback mock server into %s", path)
        write_mock_augment_dir(args.data_dir, seed, path)
    return path


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--augment-dir", help="augment dir per seed, a template with {seed}")
    src.add_argument("--mock-augment", help="folder of per-seed augment dirs made against the loopback mock server (created if missing)")
    p.add_argument("--augment-source", default=None, help="where --augment-dir came from, for the table (e.g. 'loopback mock LLM server')")
    p.add_argument("--real-llm", action="store_true", help="the augment dirs came from a real LLM (drops the 'simulated' caveat)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", nargs="+", default=None, help="run only these variant names")
    p.add_argument("--netflix", action="store_true", help="also the LightGCN baseline on netflix-llmrec")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--patience", type=int, default=6, help="evaluations without improvement before stopping")
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--reg-weight", type=float, default=1e-4)
    p.add_argument("--aug-rate", type=float, default=0.02)
    p.add_argument("--prune-rate", type=float, default=0.5)
    p.add_argument("--prune-scope", default="augmented")
    p.add_argument("--prune-keep", default="smallest")
    p.add_argument("--feature-weight", type=float, default=0.1)
    p.add_argument("--mask-rate", type=float, default=0.1)
    p.add_argument("--mae-weight", type=float, default=0.1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="write all runs as JSON here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    table = variants(args)
    if args.only:
        table = {k: v for k, v in table.items() if k in args.only}
    rows: dict[str, list[dict]] = {name: [] for name in table}
    notes = []
    for seed in args.seeds:
        split = prepare("ml-100k", args.data_dir, seed)
        augment_dir = augment_dir_for(args, split, seed) if any(v is not None for v in table.values()) else None
        if augment_dir is not None:
            data = load_augment_dir(augment_dir, split.train)
            held_out = split.valid.contains(data.users, data.pos_items) | split.test.contains(data.users, data.pos_items)
            notes.append(f"seed {seed}: {data.num_edges} augmented triples, {held_out.mean():.1%} of their positives are held-out (valid/test) items")
        for name, options in table.items():
            run = run_one(split, augment_dir, options, seed, args)
            rows[name].append(run)
            logger.info("%s seed %d: %s", name, seed, run)
    if args.mock_augment:
        source = "`recdenoise augment` against the loopback mock server; the answers are simulated, not a real LLM's"
    elif args.real_llm:
        source = args.augment_source or f"augment dirs {args.augment_dir}"
    else:
        source = (args.augment_source or f"augment dirs {args.augment_dir}") + "; the answers came from the simulated (loopback mock) server, not a real LLM"
    title = f"ML-100K (ratio split 80/10/10, seeds {args.seeds}), LightGCN {args.layers} layers, D={args.dim}. Augmentation: {source}."
    print(markdown(rows, title))
    for note in notes:
        print(f"- {note}")
    result = {"ml-100k": rows, "notes": notes, "args": {k: str(v) for k, v in vars(args).items()}}

    if args.netflix:
        netflix_rows: dict[str, list[dict]] = {"LightGCN": []}
        split = prepare("netflix-llmrec", args.data_dir, 0)
        for seed in args.seeds:
            netflix_rows["LightGCN"].append(run_one(split, None, None, seed, args))
        print()
        print(markdown(netflix_rows, "netflix-llmrec (LLMRec's split; its valid and test files are identical, so selection and test share labels)"))
        result["netflix-llmrec"] = netflix_rows
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
