"""Markdown tables and figures of a finished (or partly finished) ``recdenoise bench denoise`` grid.

``recdenoise bench denoise`` already writes one ``table.md`` / ``table.csv`` of every cell.
This script splits it the way the docs show it: one table per noise setting (rows ordered
backbone, then baseline before the methods compared with it), with the denoising diagnostics,
plus a ``metric vs injected-noise ratio`` table and figure for the methods run at several
ratios. It reads only run records (no training); test metrics are those of the epoch each run
selected on validation.

    python benchmarks/denoise_tables.py runs/denoise-grid --out docs/results/denoise --figures docs/figures
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from recdenoise.bench.grid import load_cells, write_report
from recdenoise.reporting.plots import plot_metric_vs_ratio
from recdenoise.reporting.summary import collect_rows, summarize, to_markdown

METRICS = ("recall@20", "ndcg@20")
DIAGNOSTICS = ("train_noisy_share", "noisy_share_optimised", "loss_auc", "keep_prob_auc", "weight_auc")
BACKBONE_ORDER = {"mf": 0, "lightgcn": 1}
METHOD_ORDER = {"bpr": 0, "pld": 1, "nbpo": 2, "bce": 3, "tce": 4, "rce": 5}


def _ordered(summary):
    key = summary["backbone"].map(BACKBONE_ORDER).fillna(9) * 100 + summary["method"].map(METHOD_ORDER).fillna(99)
    return summary.assign(_k=key.to_numpy()).sort_values(["ratio", "_k"], na_position="first").drop(columns="_k")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", type=Path, help="the --output folder of `recdenoise bench denoise`")
    parser.add_argument("--out", type=Path, default=Path("docs/results/denoise"))
    parser.add_argument("--figures", type=Path, default=None, help="move the PNGs here (default: keep them in --out)")
    parser.add_argument("--ratio-methods", default="bpr,pld", help="methods of the metric-vs-ratio table / figure")
    args = parser.parse_args(argv)

    cells = load_cells(args.grid)
    if not cells:
        print(f"no finished cells under {args.grid}", file=sys.stderr)
        return 2
    written = write_report(cells, args.out)  # table.md / table.csv of every cell + validation curves
    summary = summarize(collect_rows(cells, METRICS), METRICS)
    tables = {}
    main_ratio = 0.2
    injected = summary[(summary["noise"] == "injected") & np.isclose(summary["ratio"].astype(float), main_ratio)]
    tables[f"table_injected_{main_ratio:g}.md"] = _ordered(injected)
    tables["table_natural.md"] = _ordered(summary[summary["noise"] == "natural"])
    ratio_methods = set(args.ratio_methods.split(","))
    by_ratio = summary[(summary["noise"] == "injected") & summary["method"].isin(ratio_methods)]
    swept = by_ratio.groupby(["dataset", "backbone"])["ratio"].transform("nunique") > 1  # only swept backbones
    by_ratio = by_ratio[swept]
    if by_ratio["ratio"].nunique() > 1:
        tables["table_ratio.md"] = _ordered(by_ratio)
        for m in METRICS:
            name = f"denoise_ratio_{m.replace('@', '')}.png"
            written[name] = plot_metric_vs_ratio(by_ratio, args.out / name, metric=m)
    for name, frame in tables.items():
        if frame.empty:
            continue
        text = to_markdown(frame, METRICS, diagnostics=DIAGNOSTICS)
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"## {name}\n\n{text}")
    if args.figures is not None:
        args.figures.mkdir(parents=True, exist_ok=True)
        for name, path in written.items():
            if name.endswith(".png"):
                path.replace(args.figures / name)
                print(f"moved {name} -> {args.figures / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
