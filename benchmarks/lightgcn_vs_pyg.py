"""Quality: recdenoise LightGCN vs PyTorch Geometric's LightGCN vs recdenoise MF on ML-100K.

Protocol (identical for every model, only the training code differs):

* data: ``prepare_data("ml-100k", split="ratio", ratios=(0.8, 0.1, 0.1), seed=s)``;
* batches: one :class:`~recdenoise.samplers.UniformSampler` per model with the same seed,
  so all models see the *same* triples: every training positive once per epoch, one uniform
  negative that is never a training positive, batch 2048;
* loss: BPR + ``1e-4`` L2 on the layer-0 embeddings of the batch rows (``reg/(2B) ||E||^2``;
  PyG's ``recommendation_loss`` with ``lambda_reg = reg/2`` is the same number), Adam lr 1e-3,
  dim 64, ``--layers`` propagation layers (default 3);
* PyG trains on a sparse CSR adjacency (``--pyg-input csr``, PyG normalises it itself in
  every ``LGConv``) because its ``edge_index`` path is ~25x slower on CPU; both give the same
  embeddings (``tests/graph/test_bipartite.py::test_lightgcn_matches_pyg_get_embedding``);
* selection: the epoch with the best validation Recall@20 (evaluated every ``--eval-every``
  epochs, with the same optional patience), then test Recall@20 / NDCG@20 once;
* evaluation: the same :class:`~recdenoise.evaluation.Evaluator` for all models: full
  ranking over all items, train (+ valid for test) items masked.

Initialisation is each library's default (ours: normal std 0.1 as in LightGCN's code; PyG:
``xavier_uniform_``, std ~0.027 here). ``--diagnose`` adds "PyG, normal(0.1) init" and
"ours, xavier init" rows to separate the effect of initialisation from the rest.

    python benchmarks/lightgcn_vs_pyg.py --seeds 0 1 2           # full run
    python benchmarks/lightgcn_vs_pyg.py --quick                 # smoke run (~1 min)
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PygLightGCNRunner,
    default_data_dir,
    describe,
    env_line,
    evaluate_pair,
    load_split,
    set_threads,
)

from recdenoise.data import Split  # noqa: E402
from recdenoise.evaluation import Evaluator  # noqa: E402
from recdenoise.graph import BipartiteGraph  # noqa: E402
from recdenoise.losses import PairwiseObjective  # noqa: E402
from recdenoise.models import build_model  # noqa: E402
from recdenoise.samplers import UniformSampler  # noqa: E402
from recdenoise.training import EarlyStopping, Trainer  # noqa: E402
from recdenoise.utils import resolve_device  # noqa: E402

logger = logging.getLogger("lightgcn_vs_pyg")
MONITOR = "recall@20"


def train_ours(name: str, split: Split, args, seed: int, device, evaluator, init: str = "default") -> dict:
    torch.manual_seed(seed)
    kwargs = {"num_layers": args.layers} if name == "lightgcn" else {}
    model = build_model(name, split.num_users, split.num_items, embedding_dim=args.dim, **kwargs).to(device)
    if init == "xavier":
        for emb in (model.user_embedding, model.item_embedding):
            # PyG's xavier_uniform_ over the concatenated (U+I) x D table
            bound = (6.0 / (split.num_users + split.num_items + args.dim)) ** 0.5
            torch.nn.init.uniform_(emb.weight, -bound, bound)
    sampler = UniformSampler(split.train, batch_size=args.batch_size, device=device, seed=seed)
    callbacks = [EarlyStopping(MONITOR, patience=args.patience)] if args.patience else []
    trainer = Trainer(
        model, BipartiteGraph.from_interactions(split.train, device), sampler,
        PairwiseObjective("bpr", reg_weight=args.reg), lr=args.lr, evaluator=evaluator, valid=split.valid,
        train=split.train, monitor=MONITOR, eval_every=args.eval_every, callbacks=callbacks, seed=seed,
    )
    start = time.perf_counter()
    result = trainer.fit(args.epochs)
    elapsed = time.perf_counter() - start
    scorer = model.scorer(trainer.graph)
    test = evaluator.evaluate(scorer, split.test, exclude=[split.train, split.valid]).metrics
    return {"best_epoch": result.best_epoch, "valid": result.best_valid, "test": test, "time": elapsed,
            "epochs_run": len(result.history)}


def pyg_adjacency(split: Split, kind: str, device):
    from torch_geometric.utils import to_torch_csr_tensor

    edge_index = split.train.to_edge_index(homogeneous=True, device=device)
    n = split.num_users + split.num_items
    if kind == "edge_index":
        return edge_index
    return to_torch_csr_tensor(edge_index, size=(n, n))


def train_pyg(split: Split, args, seed: int, device, evaluator, init: str = "default") -> dict:
    from torch_geometric.nn.models import LightGCN as PygLightGCN

    torch.manual_seed(seed)
    model = PygLightGCN(split.num_users + split.num_items, args.dim, args.layers).to(device)
    if init == "normal":
        torch.nn.init.normal_(model.embedding.weight, std=0.1)
    runner = PygLightGCNRunner(model, pyg_adjacency(split, args.pyg_input, device), split.num_users, args.lr, args.reg)
    sampler = UniformSampler(split.train, batch_size=args.batch_size, device=device, seed=seed)
    best_epoch, best_valid, best_state, bad, epochs_run = None, {}, None, 0, 0
    start = time.perf_counter()
    for epoch in range(args.epochs):
        runner.train_epoch(sampler, epoch)
        epochs_run += 1
        if (epoch + 1) % args.eval_every and epoch + 1 != args.epochs:
            continue
        valid = evaluate_pair(evaluator, *runner.embeddings(), split.valid, [split.train])
        if best_epoch is None or valid[MONITOR] > best_valid[MONITOR]:  # same rule as Trainer
            best_epoch, best_valid, bad = epoch + 1, valid, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad += 1
            if args.patience and bad >= args.patience:
                break
    elapsed = time.perf_counter() - start
    model.load_state_dict(best_state)
    test = evaluate_pair(evaluator, *runner.embeddings(), split.test, [split.train, split.valid])
    return {"best_epoch": best_epoch, "valid": best_valid, "test": test, "time": elapsed, "epochs_run": epochs_run}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=1)
    parser.add_argument("--patience", type=int, default=50, help="evaluations without improvement (0 = off)")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reg", type=float, default=1e-4)
    parser.add_argument("--pyg-input", choices=["csr", "edge_index"], default="csr")
    parser.add_argument("--models", nargs="+", default=["ours", "pyg", "mf"],
                        choices=["ours", "pyg", "mf", "pyg_normal", "ours_xavier"],
                        help="pyg_normal / ours_xavier: the init-swapped diagnostic rows")
    parser.add_argument("--diagnose", action="store_true", help="add the init-swapped rows (pyg_normal, ours_xavier)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 5 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.patience = args.seeds[:1], 5, 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    set_threads(args.threads)
    device = resolve_device(args.device)
    evaluator = Evaluator(ks=(20,), metrics=("recall", "ndcg"), device=device)

    rows: dict[str, list[dict]] = {}
    runs = []
    if "ours" in args.models:
        runs.append(("recdenoise LightGCN", lambda s, sp: train_ours("lightgcn", sp, args, s, device, evaluator)))
    if "pyg" in args.models:
        runs.append((f"PyG LightGCN ({args.pyg_input})", lambda s, sp: train_pyg(sp, args, s, device, evaluator)))
    if "mf" in args.models:
        runs.append(("recdenoise MF", lambda s, sp: train_ours("mf", sp, args, s, device, evaluator)))
    if args.diagnose or "pyg_normal" in args.models:
        runs.append(("PyG LightGCN, normal(0.1) init", lambda s, sp: train_pyg(sp, args, s, device, evaluator, init="normal")))
    if args.diagnose or "ours_xavier" in args.models:
        runs.append(("recdenoise LightGCN, xavier init", lambda s, sp: train_ours("lightgcn", sp, args, s, device, evaluator, init="xavier")))

    print(env_line(device))
    for seed in args.seeds:
        split, how = load_split("ml-100k", args.data_dir, seed)
        print(f"seed {seed}: ML-100K ({how}) {describe(split)}")
        for name, run in runs:
            out = run(seed, split)
            rows.setdefault(name, []).append(out)
            if args.json:  # after every run, so an interrupted benchmark keeps what it finished
                args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))
            print(
                f"  {name:34s} best epoch {out['best_epoch']:4d}/{out['epochs_run']:<4d} valid R@20 {out['valid'][MONITOR]:.4f}"
                f"  test R@20 {out['test']['recall@20']:.4f} N@20 {out['test']['ndcg@20']:.4f}  ({out['time']:.0f}s)",
                flush=True,
            )

    print(f"\nML-100K, {len(args.seeds)} seed(s) {args.seeds}, {args.layers} layers, dim {args.dim}, batch {args.batch_size}, "
          f"lr {args.lr}, reg {args.reg}, up to {args.epochs} epochs, patience {args.patience or 'off'}: mean ± std")
    header = f"{'model':34s} | {'valid R@20':>15s} | {'test R@20':>15s} | {'test N@20':>15s} | {'best epoch':>10s} | {'time/run':>8s}"
    print(header)
    print("-" * len(header))

    def ms(values):
        return f"{np.mean(values):.4f} ± {np.std(values):.4f}"

    for name, outs in rows.items():
        print(
            f"{name:34s} | {ms([o['valid'][MONITOR] for o in outs]):>15s} | {ms([o['test']['recall@20'] for o in outs]):>15s}"
            f" | {ms([o['test']['ndcg@20'] for o in outs]):>15s} | {np.mean([o['best_epoch'] for o in outs]):10.0f}"
            f" | {np.mean([o['time'] for o in outs]):7.0f}s"
        )
    return 0


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message=".*Sparse invariant checks are implicitly disabled.*")
    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
    raise SystemExit(main())
