"""Data-pruning denoisers against BPR, PLD, NBPO, T-CE, R-CE and ELR: a resumable grid over pruned fractions.

One :class:`recdenoise.bench.grid.DenoiseGrid` for the methods that prune nothing (``base/``) and
one per pruned fraction (``f0.1/``, ``f0.2/``, ...) for ``random, el2n, grand, prototype, kd``,
with ``<method>.fraction=f``. Each cell's run.json holds the method's scoring-pass summary under
``"method_summary"`` (``run_experiment`` records ``parts.sampler.summary()`` / ``parts.objective.summary()``).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/pruning_grid.py --output runs/pruning \\
        --backbones mf --noise injected:0.2 --seeds 0 --fractions 0.1,0.2,0.3
    python benchmarks/pruning_report.py runs/pruning          # table + figure

Interrupted? Run the same command again: finished cells are read back, others resume.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir  # noqa: E402

from recdenoise.bench.grid import DenoiseGrid, parse_noise  # noqa: E402
from recdenoise.config import load_config  # noqa: E402
from recdenoise.experiment import run_experiment  # noqa: E402

PRUNING = ("random", "el2n", "grand", "prototype", "kd")
BASELINES = ("bpr", "pld", "nbpo", "tce", "rce", "elr")
# the flags of the README's denoise grid (docs/results/denoise.md)
BASE = {
    "train.epochs": 150, "train.patience": 10, "train.device": "cpu", "train.lr": 0.005, "train.batch_size": 2048,
    "train.eval_every": 2, "model.embedding_dim": 64, "model.num_layers": 3,
}  # fmt: skip
# T-CE on BPR drops whole triples (granularity="triple": the only T-CE there was when seed 0 ran;
# element granularity needs BCE); R-CE likewise weights whole BPR triples, so every row is Δ vs BPR
OPTIONS = {
    "nbpo": {"likelihood": "reference"},
    "tce": {"loss": "bpr", "granularity": "triple"},
    "rce": {"loss": "bpr", "granularity": "triple"},
}


def runner(config, resume: bool = False, progress: bool = False):
    """One cell: ``run_experiment`` (its run.json carries ``method_summary``, the scoring pass's report)."""
    return run_experiment(config, resume=resume, progress=progress)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", required=True)
    p.add_argument("--data-dir", default=str(default_data_dir()))
    p.add_argument("--dataset", default="ml-100k")
    p.add_argument("--backbones", default="mf")
    p.add_argument("--noise", default="injected:0.2")
    p.add_argument("--seeds", default="0")
    p.add_argument("--fractions", default="0.1,0.2,0.3")
    p.add_argument("--methods", default=",".join(PRUNING), help="pruning methods (run per fraction)")
    p.add_argument("--baselines", default=",".join(BASELINES), help="methods run once (no fraction)")
    p.add_argument("--device", default=BASE["train.device"], help="torch device of every cell (cpu, cuda, cuda:1)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    base = load_config(None, {**BASE, "train.device": args.device, "data.data_dir": args.data_dir})
    base = replace(base, train=replace(base.train, progress=False))
    common = dict(
        backbones=args.backbones.split(","), noise=[parse_noise(s) for s in args.noise.split(",")],
        seeds=[int(s) for s in args.seeds.split(",")], runner=runner, progress=False, keep_going=True,
    )  # fmt: skip
    out = Path(args.output)
    failed = []
    if args.baselines:
        grid = DenoiseGrid([args.dataset], base, out / "base", methods=args.baselines.split(","), method_options=OPTIONS, **common)
        failed += grid.run().failed
    for fraction in [float(f) for f in args.fractions.split(",") if f]:
        methods = args.methods.split(",")
        options = {m: {"fraction": fraction} for m in methods}
        grid = DenoiseGrid([args.dataset], base, out / f"f{fraction:g}", methods=methods, method_options=options, **common)
        failed += grid.run().failed
    for key, error in failed:
        print(f"FAILED {key.relpath()}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
