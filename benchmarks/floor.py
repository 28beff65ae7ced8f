"""How close to the floor: bare propagation vs a LightGCN epoch vs each method's epoch, in one run.

The *floor* of a LightGCN epoch is its sparse work: per step, ``L`` layers of the normalised
adjacency forward and backward (``2L`` sparse-dense products each way), nothing else; an
epoch has ``ceil(N / B)`` steps. Rows, all in one process on the same data:

* ``floor``: ``steps x`` (forward + backward of :func:`~recdenoise.models.lightgcn.propagate_layers`);
* ``lightgcn epoch (loop)``: :meth:`Trainer.train_epoch` with BPR, no callbacks, no evaluation;
* ``<method> (as run)``: what a user gets from ``recdenoise train --noise-kind injected
  --noise-ratio 0.2 --method <method>``: :func:`~recdenoise.experiment.run_experiment` with noise
  labels (so diagnostics on), validation every epoch and a checkpoint every epoch; the time of
  one epoch is measured from one epoch start to the next (training, diagnostics, validation,
  checkpoint), median over the epochs after PLD's warm-up.

Ratios: the loop epoch / floor (goal <= 1.5), each method / BPR as run (goal <= 1.2).

Times are process CPU seconds (``time.process_time``) by default: with one torch thread that is
the work done, and it does not count the time a shared machine gives to other processes
(``--clock wall`` for wall-clock seconds). Floor and loop: median of ``--repeats`` interleaved
epochs; methods: median over the timed epochs.

    python benchmarks/floor.py --threads 1
    python benchmarks/floor.py --threads 1 --methods bpr,pld --epochs 5   # shorter
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import default_data_dir  # noqa: E402

from recdenoise.config import config_from_dict  # noqa: E402
from recdenoise.experiment import build_run, run_experiment  # noqa: E402
from recdenoise.data.pipeline import prepare_run_data  # noqa: E402
from recdenoise.models.lightgcn import propagate_layers  # noqa: E402
from recdenoise.training import Callback, Trainer  # noqa: E402


CLOCK = time.process_time


class EpochClock(Callback):
    """Time from one epoch start to the next (the last epoch ends at fit end)."""

    def __init__(self):
        self.starts: list[float] = []
        self.end = None

    def on_epoch_start(self, trainer, epoch):
        self.starts.append(CLOCK())

    def on_fit_end(self, trainer):
        self.end = CLOCK()

    def epochs(self) -> list[float]:
        marks = self.starts + [self.end]
        return [b - a for a, b in zip(marks, marks[1:])]


def config(args, method: str, output: str | None) -> dict:
    options = {"warmup": 1} if method == "pld" else {}
    return {
        "seed": 0,
        "data": {"dataset": args.dataset, "data_dir": str(args.data_dir)},
        "noise": {"kind": "injected", "ratio": args.noise_ratio},
        "model": {"name": "lightgcn", "embedding_dim": args.dim, "num_layers": args.layers},
        "method": {"name": method, "options": options},
        "train": {"epochs": args.epochs, "patience": 0, "lr": 1e-3, "batch_size": args.batch_size, "device": "cpu", "progress": False},
        "output_dir": output,
    }


def floor_and_loop(args) -> tuple[float, float, int]:
    """Median seconds of the floor epoch and of the loop-only LightGCN BPR epoch, and steps per epoch."""
    cfg = config_from_dict(config(args, "bpr", None))
    split, _info, _noise = prepare_run_data(cfg.data, cfg.noise, cfg.seed)
    parts = build_run(cfg, split, torch.device("cpu"))
    model, graph = parts.model, parts.graph
    trainer = Trainer(model, graph, parts.sampler, parts.objective, lr=1e-3)
    steps = len(parts.sampler)
    graph.normalized()

    def floor_epoch():
        for _ in range(steps):
            u, i = propagate_layers(graph, model.user_embedding.weight, model.item_embedding.weight, model.num_layers, model.alpha)
            (u.sum() + i.sum()).backward()

    floor, loop = [], []
    floor_epoch()
    trainer.train_epoch(0)
    for _ in range(args.repeats):  # interleaved: load drifts on a shared machine hit both
        t = CLOCK(); floor_epoch(); floor.append(CLOCK() - t)
        t = CLOCK(); trainer.train_epoch(1); loop.append(CLOCK() - t)
    return statistics.median(floor), statistics.median(loop), steps


def as_run(args, method: str) -> list[float]:
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp:
        run_experiment(config_from_dict(config(args, method, f"{tmp}/run")), callbacks=(clock,))
    return clock.epochs()[2:]  # after PLD's warm-up epoch and the first resampling epoch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--methods", default="bpr,bce,pld,nbpo,tce,rce")
    parser.add_argument("--noise-ratio", type=float, default=0.2)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=8, help="epochs per method run (the first two are not timed)")
    parser.add_argument("--repeats", type=int, default=5, help="floor / loop epochs timed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu", help="process CPU time (default) or wall time")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(args.threads)
    floor, loop, steps = floor_and_loop(args)
    print(f"{args.dataset}, LightGCN dim {args.dim}, {args.layers} layers, batch {args.batch_size} ({steps} steps/epoch), "
          f"{args.noise_ratio:.0%} injected noise, CPU, {torch.get_num_threads()} thread(s), {args.clock} clock; torch {torch.__version__}")
    print("| row | epoch (s) | ratio |\n|---|---|---|")
    print(f"| floor: propagation fwd+bwd x {steps} steps | {floor:.3f} | 1.00x floor |")
    print(f"| LightGCN epoch, loop only (BPR) | {loop:.3f} | {loop / floor:.2f}x floor |")
    base = None
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        epochs = as_run(args, method)
        t = statistics.median(epochs)
        base = t if method == "bpr" else base
        vs = f"{t / base:.2f}x bpr as run" if base else ""
        print(f"| {method}, as run (noise labels, diagnostics, validation, checkpoint) | {t:.3f} | {t / floor:.2f}x floor; {vs} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
