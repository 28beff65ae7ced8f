"""Table and figure of the pruning grid (``benchmarks/pruning_grid.py``).

    python benchmarks/pruning_report.py runs/pruning --figure docs/figures/pruning_recall20.png > table.md

Rows: mean ± std over seeds of test Recall@20 / NDCG@20 (epoch chosen on validation), Δ vs BPR
of the same noise, backbone and seeds, the detection AUC (pruning scores: ``method_summary``; ELR:
``1 - target``; PLD: keep-probability AUC, T-CE, R-CE: weight AUC, BPR/NBPO: loss AUC, at the best
epoch, from the run's diagnostics), the noisy share of the rows trained on, and the wall time
of the run including the scoring pass, per device the row's cells ran on (``157 / 56 (cpu / cuda)``:
the CPU cells ran one thread each, the CUDA cells 14 processes to one GPU; compare within a device).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure

ORDER = ("bpr", "pld", "nbpo", "tce", "rce", "elr", "random", "el2n", "grand", "prototype", "kd")


def _detection(record: dict) -> tuple[float | None, float | None, str]:
    """``(detection AUC, noisy share trained on, kind)`` of one run."""
    summary = record.get("method_summary") or {}
    epochs = (record.get("diagnostics") or {}).get("epochs") or []
    best = record.get("best_epoch")
    row = next((e for e in epochs if e.get("epoch") == best), epochs[-1] if epochs else {})
    for part in ("sampler", "objective"):
        if part in summary and summary[part].get("detection_auc") is not None:
            s = summary[part]
            return s["detection_auc"], s.get("kept_noisy_share", row.get("noisy_share_optimised")), "score"
    for key, kind in (("keep_prob_auc", "keep-prob"), ("weight_auc", "weight")):
        if row.get(key) is not None:
            return row[key], row.get("noisy_share_optimised"), kind
    return row.get("loss_auc"), row.get("noisy_share_optimised"), "loss"


def load(root: Path) -> dict:
    """``{(noise, backbone, method, fraction): [record, ...]}`` of the complete runs under ``root``."""
    cells = defaultdict(list)
    for path in sorted(root.glob("*/*/*/*/*/seed*/run.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") != "complete":
            continue
        grid, _, noise, backbone, method = path.parts[-7:-2]
        fraction = 0.0 if grid == "base" else float(grid[1:])
        cells[(noise, backbone, method, fraction)].append(record)
    return cells


def _fmt(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _times(recs: list[dict]) -> list[tuple[str, float, float | None]]:
    """``(device, mean wall seconds, mean scoring seconds or None)`` per device the cells ran on, cpu first.

    Times are compared within a device only: the H200 cells shared one GPU between 14 processes.
    """
    by_device: dict[str, list[dict]] = {}
    for r in recs:
        by_device.setdefault(str(r.get("device", "cpu")).split(":")[0], []).append(r)
    out = []
    for device in sorted(by_device, key=lambda d: (d != "cpu", d)):
        group = by_device[device]
        scoring = [x for r in group if (x := ((r.get("method_summary") or {}).get("sampler") or {}).get("scoring_seconds")) is not None]
        out.append((device, statistics.mean(r["time_seconds"] for r in group), statistics.mean(scoring) if scoring else None))
    return out


def _devices(times: list[tuple[str, float, float | None]]) -> str:
    """`` (cpu / cuda)`` after a time that is not CPU-only; nothing for CPU-only cells."""
    return "" if [d for d, _, _ in times] == ["cpu"] else f" ({' / '.join(d for d, _, _ in times)})"


def table(cells: dict) -> str:
    lines = [
        "| noise | backbone | method | pruned | seeds | Recall@20 | Δ | NDCG@20 | Δ | detection AUC | noisy share trained | time (s) | of which scoring |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(cells, key=lambda k: (k[0], k[1], ORDER.index(k[2]) if k[2] in ORDER else 99, k[3]))
    for noise, backbone, method, fraction in keys:
        recs = cells[(noise, backbone, method, fraction)]
        seeds = {r["seed"] for r in recs}  # Δ against BPR on the same seeds
        base = [r for r in cells.get((noise, backbone, "bpr", 0.0), []) if r["seed"] in seeds]
        row = [noise, backbone, method, f"{fraction:.0%}" if fraction else "–", str(len(recs))]
        for metric in ("recall@20", "ndcg@20"):
            vals = [r["test_metrics"][metric] for r in recs]
            ref = [r["test_metrics"][metric] for r in base]
            row.append(_fmt(vals))
            row.append(f"{statistics.mean(vals) / statistics.mean(ref) - 1:+.1%}" if ref and method != "bpr" else "")
        det = [_detection(r) for r in recs]
        aucs = [d[0] for d in det if d[0] is not None]
        shares = [d[1] for d in det if d[1] is not None]
        row.append(f"{statistics.mean(aucs):.3f} ({det[0][2]})" if aucs else "–")
        row.append(f"{statistics.mean(shares):.3f}" if shares else "–")
        times = _times(recs)
        row.append(" / ".join(f"{t:.0f}" for _, t, _ in times) + _devices(times))
        row.append(" / ".join(f"{sc:.0f}" for _, _, sc in times if sc is not None))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _delta(cells: dict, key: tuple, metric: str = "recall@20") -> tuple[str, int]:
    """``("+x.x%", seeds)`` of cell ``key`` against BPR on the same seeds (``("", 0)`` if not run)."""
    recs = cells.get(key, [])
    seeds = {r["seed"] for r in recs}
    base = [r["test_metrics"][metric] for r in cells.get((*key[:2], "bpr", 0.0), []) if r["seed"] in seeds]
    if not recs or not base:
        return "", len(recs)
    mean = statistics.mean(r["test_metrics"][metric] for r in recs)
    return f"{mean / statistics.mean(base) - 1:+.1%}", len(recs)


def summary(cells: dict, fraction: float = 0.2) -> str:
    """The README's table: MF with 20 % injected noise in full (pruning methods at ``fraction``),
    and Δ Recall@20 vs BPR with its seed count for MF on natural noise and LightGCN on both noises."""
    lines = [
        "| method | pruned | MF, 20 % injected: seeds | Recall@20 | Δ | NDCG@20 | Δ | detection AUC | time (s), of which scoring "
        "| MF, natural: Δ R@20 (seeds) | LightGCN, 20 % injected: Δ R@20 (seeds) | LightGCN, natural: Δ R@20 (seeds) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in ORDER:
        f = 0.0 if method in ("bpr", "pld", "nbpo", "tce", "rce", "elr") else fraction
        key = ("injected-0.2", "mf", method, f)
        recs = cells.get(key, [])
        row = [method, f"{f:.0%}" if f else "–", ", ".join(str(s) for s in sorted(r["seed"] for r in recs)) or "not run"]
        for metric in ("recall@20", "ndcg@20"):
            row += [_fmt([r["test_metrics"][metric] for r in recs]), "–" if method == "bpr" else _delta(cells, key, metric)[0]]
        aucs = [a for r in recs if (a := _detection(r)[0]) is not None]
        row.append(f"{statistics.mean(aucs):.3f}" if aucs else "–")
        times = _times(recs)
        parts = [f"{t:.0f}" + (f", {sc:.0f}" if sc is not None else "") for _, t, sc in times]
        row.append(" / ".join(parts) + _devices(times) if recs else "–")
        for noise, backbone in (("natural", "mf"), ("injected-0.2", "lightgcn"), ("natural", "lightgcn")):
            other = (noise, backbone, method, f)
            if method == "bpr":
                base = cells.get(other, [])
                row.append(f"– ({_fmt([r['test_metrics']['recall@20'] for r in base])}; {len(base)})" if base else "not run")
                continue
            delta, n = _delta(cells, other)
            row.append(f"{delta} ({n})" if n else "not run")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def figure(cells: dict, path: Path, seed: int | None = 0) -> None:
    """Recall@20 against the pruned fraction, one panel per (noise, backbone); runs of ``seed`` only
    (``None``: the mean over all seeds of a cell), so every point has the same seeds."""
    if seed is not None:
        cells = {k: kept for k, v in cells.items() if (kept := [r for r in v if r["seed"] == seed])}
    panels = sorted({(k[0], k[1]) for k in cells})
    fig = Figure(figsize=(5.5 * len(panels), 4.2))
    for n, (noise, backbone) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), n + 1)
        methods = [m for m in ORDER if any(k[:3] == (noise, backbone, m) and k[3] > 0 for k in cells)]
        bpr = cells.get((noise, backbone, "bpr", 0.0))
        for method in methods:
            fracs = sorted(k[3] for k in cells if k[:3] == (noise, backbone, method))
            means = [statistics.mean(r["test_metrics"]["recall@20"] for r in cells[(noise, backbone, method, f)]) for f in fracs]
            if bpr:  # fraction 0 = nothing pruned = BPR
                fracs, means = [0.0, *fracs], [statistics.mean(r["test_metrics"]["recall@20"] for r in bpr), *means]
            ax.plot(fracs, means, marker="o", label=method)
        for method, style in (("bpr", "-"), ("pld", "--"), ("nbpo", ":"), ("tce", "-."), ("rce", (0, (1, 3))), ("elr", (0, (5, 1, 1, 1)))):
            if (noise, backbone, method, 0.0) in cells:
                value = statistics.mean(r["test_metrics"]["recall@20"] for r in cells[(noise, backbone, method, 0.0)])
                ax.axhline(value, color="black" if method == "elr" else "grey", linestyle=style, linewidth=1, label=f"{method} (no pruning)")
        ax.set_title(f"ML-100K, {noise}, {backbone}" + (f", seed {seed}" if seed is not None else ""))
        ax.set_xlabel("fraction of training interactions pruned")
        ax.set_ylabel("test Recall@20")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("--figure", default=None)
    p.add_argument("--figure-seed", type=int, default=0, help="seed of the figure's runs (-1: mean over seeds)")
    p.add_argument("--summary", action="store_true", help="print the README's summary table instead of the full one")
    args = p.parse_args(argv)
    cells = load(Path(args.root))
    sys.stdout.write(summary(cells) if args.summary else table(cells))
    if args.figure:
        figure(cells, Path(args.figure), None if args.figure_seed < 0 else args.figure_seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
