"""Markdown tables and figures of a finished (or partly finished) ``recdenoise bench denoise`` grid.

``recdenoise bench denoise`` already writes one ``table.md`` / ``table.csv`` of every cell.
This script splits it the way the docs show it: one table per noise setting (rows ordered
backbone, then baseline before the methods compared with it), with the denoising diagnostics,
plus a ``metric vs injected-noise ratio`` table and figure for the methods run at several
ratios. It reads only run records (no training); test metrics are those of the epoch each run
selected on validation.

    python benchmarks/denoise_tables.py runs/denoise-grid --out docs/results/denoise --figures docs/figures

Several grid folders are read together (a grid run in parts). ``--previous`` merges an earlier
``table.csv`` in: its rows of ``--previous-methods`` (methods whose code did not change since)
are kept as they are, and its other rows only where the grids have no cell of that setting
and method, labelled *(old defaults)* in the method column; every Δ is recomputed against the
merged baselines. Rows of the grids' methods are labelled with the ``--label`` given (e.g. the
revision whose defaults they ran); ``table.csv`` says where each row comes from in its
``defaults`` column (``new``, ``previous``, ``old``), and ``table_revision.md`` puts every new row
beside the earlier row of the same setting and method. The validation-curve figures need every cell's history, so
with ``--previous`` they are not redrawn.

    python benchmarks/denoise_tables.py runs/grid-a runs/grid-b --previous docs/results/denoise/table.csv \
        --previous-methods bpr,bce,pld --out docs/results/denoise
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from recdenoise.bench.grid import load_cells, write_report
from recdenoise.reporting.plots import plot_metric_vs_ratio
from recdenoise.reporting.summary import collect_rows, compare_to_baselines, summarize, to_csv, to_markdown

METRICS = ("recall@20", "ndcg@20")
DIAGNOSTICS = ("train_noisy_share", "noisy_share_optimised", "loss_auc", "keep_prob_auc", "weight_auc")
BACKBONE_ORDER = {"mf": 0, "lightgcn": 1}
METHOD_ORDER = {"bpr": 0, "pld": 1, "nbpo": 2, "bce": 3, "tce": 4, "rce": 5}


def _ordered(summary):
    methods = [str(m).split(" ")[0] for m in summary["method"]]  # without a provenance label
    # plain Python keys: pandas 3 keeps a str dtype through .map on string columns
    key = [BACKBONE_ORDER.get(b, 9) * 100 + METHOD_ORDER.get(m, 99) for b, m in zip(summary["backbone"], methods)]
    return summary.assign(_k=key).sort_values(["ratio", "_k"], na_position="first").drop(columns="_k")


def _merge_previous(summary, previous, keep: set[str]):
    """``summary`` plus the rows of ``previous`` that still hold (see the module docstring).

    Returns the merged frame and a ``defaults`` label per row (``"previous"`` for kept rows,
    ``"old"`` for stale rows shown because no new cell replaces them, ``"new"`` otherwise)."""
    import pandas as pd

    def keys(frame):
        ratio = frame["ratio"].astype(float).map(lambda r: "" if np.isnan(r) else f"{r:g}")
        return [f"{d}|{n}|{r}|{b}|{m}" for d, n, r, b, m in zip(frame["dataset"], frame["noise"], ratio, frame["backbone"], frame["method"])]

    have = set(keys(summary))
    prev = previous.assign(_key=keys(previous))
    clash = prev[prev["method"].isin(keep) & prev["_key"].isin(have)]
    if not clash.empty:
        raise SystemExit(f"--previous-methods rows also in the grids: {sorted(clash['_key'])}; drop one of them")
    kept = prev[prev["method"].isin(keep)]
    stale = prev[~prev["method"].isin(keep) & ~prev["_key"].isin(have)]
    parts = [summary.assign(defaults="new"), kept.assign(defaults="previous"), stale.assign(defaults="old")]
    merged = pd.concat([p.drop(columns="_key", errors="ignore") for p in parts], ignore_index=True)
    merged = compare_to_baselines(merged, METRICS)
    front = ["dataset", "noise", "ratio", "backbone", "method", "seeds", "defaults", "baseline"]
    return merged[front + [c for c in merged.columns if c not in front]]


def _setting(row) -> str:
    noise = "natural" if row["noise"] == "natural" else f"{row['ratio']:.0%} {row['noise']}"
    return f"{row['backbone']}, {noise}"


def _mean_std(row, metric: str) -> str:
    if row is None:
        return "—"
    std = row[f"{metric}_std"]
    return f"{row[f'{metric}_mean']:.4f}" + ("" if np.isnan(std) else f" ± {std:.4f}")


def _rel(row) -> str:
    return "—" if row is None or np.isnan(row["recall@20_rel"]) else f"{row['recall@20_rel']:+.1f} %"


def _before_after(merged, previous) -> str:
    """Markdown: each new row next to the earlier row of the same setting and method."""
    lines = [
        "| setting | method | seeds (after) | before: Recall@20 | after: Recall@20 | after: NDCG@20 | Δ Recall@20 vs baseline, before → after |",
        "|---|---|---|---|---|---|---|",
    ]
    ratio = previous["ratio"].astype(float).fillna(-1.0)
    for _, row in _ordered(merged[merged["defaults"] == "new"]).sort_values("noise", kind="stable").iterrows():
        same = previous[
            (previous["dataset"] == row["dataset"]) & (previous["noise"] == row["noise"])
            & (previous["backbone"] == row["backbone"]) & (previous["method"] == row["method"])
            & np.isclose(ratio, -1.0 if np.isnan(row["ratio"]) else row["ratio"])
        ]  # fmt: skip
        before = same.iloc[0] if len(same) else None
        lines.append(
            f"| {_setting(row)} | {row['method']} | {int(row['seeds'])} | {_mean_std(before, 'recall@20')} | "
            f"{_mean_std(row, 'recall@20')} | {_mean_std(row, 'ndcg@20')} | {_rel(before)} → {_rel(row)} vs {row['baseline']} |"
        )
    return "\n".join(lines) + "\n"


def _labelled(frame, label: str):
    """The method column with each row's provenance (new label / old defaults)."""
    suffix = {"new": f" *({label})*" if label else "", "old": " *(old defaults)*", "previous": ""}
    return frame.assign(method=frame["method"] + frame["defaults"].map(suffix).fillna(""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grid", type=Path, nargs="+", help="--output folder(s) of `recdenoise bench denoise`")
    parser.add_argument("--out", type=Path, default=Path("docs/results/denoise"))
    parser.add_argument("--figures", type=Path, default=None, help="move the PNGs here (default: keep them in --out)")
    parser.add_argument("--ratio-methods", default="bpr,pld", help="methods of the metric-vs-ratio table / figure")
    parser.add_argument("--previous", type=Path, default=None, help="an earlier table.csv to merge in")
    parser.add_argument("--previous-methods", default="bpr,bce,pld", help="methods whose --previous rows still hold")
    parser.add_argument("--label", default="", help="label of the grids' rows in the method column when merging")
    args = parser.parse_args(argv)

    cells = [cell for grid in args.grid for cell in load_cells(grid)]
    if not cells:
        print(f"no finished cells under {', '.join(map(str, args.grid))}", file=sys.stderr)
        return 2
    summary = summarize(collect_rows(cells, METRICS), METRICS)
    if args.previous is None:
        written = write_report(cells, args.out)  # table.md / table.csv of every cell + validation curves
    else:
        import pandas as pd

        summary = _merge_previous(summary, pd.read_csv(args.previous), set(args.previous_methods.split(",")))
        args.out.mkdir(parents=True, exist_ok=True)
        written = {}
        (args.out / "table.csv").write_text(to_csv(summary), encoding="utf-8")
        (args.out / "table.md").write_text(to_markdown(_ordered(_labelled(summary, args.label)), METRICS), encoding="utf-8")
        previous = compare_to_baselines(pd.read_csv(args.previous), METRICS)
        (args.out / "table_revision.md").write_text(_before_after(summary, previous), encoding="utf-8")
        summary = _labelled(summary, args.label)
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
