"""Tables of the honest benchmark: validation protocol x selection criterion, from run records only.

Reads one or more ``recdenoise bench denoise`` grid folders (cells of ``--valid-noise both`` in
``<grid>/valid-both``, of ``noisy`` in ``<grid>/valid-noisy``, of ``clean`` in ``<grid>``) and
writes into ``--out``:

- ``table_selection.md`` / ``.csv``: every (noise, backbone, method) row, protocols x criteria
  side by side (test Recall@20 / NDCG@20, Δ vs the baseline under the same protocol and
  criterion, mean chosen epoch);
- ``table_survival.md``: the compact view — the Δ each method shows under today's protocol
  (clean validation, Recall@20 pick) next to its Δ under noisy validation with each criterion,
  and each baseline's absolute Recall@20 under each.

    python benchmarks/honest_tables.py runs/honest-grid runs/honest-grid-nat --out docs/results/honest

A later grid that holds a method in a setting (dataset, noise, backbone) *replaces* that method's
cells of the earlier grids in that setting, every seed of them: a rerun with changed defaults
(``runs/honest-grid-v2`` for DCF / UDT / DeCA) is never averaged with the runs it supersedes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from recdenoise.bench.grid import load_cells
from recdenoise.reporting.selection import selection_markdown, selection_rows, selection_summary
from recdenoise.reporting.summary import PLAIN_METHODS

METHOD_ORDER = {m: i for i, m in enumerate(("bpr", "pld", "nbpo", "bce", "tce", "rce", "dcf", "udt", "deca"))}
COLUMNS = (("clean", "metric", "today: clean valid, R@20 pick"), ("noisy", "metric", "noisy valid, R@20 pick"),
           ("noisy", "loss", "noisy valid, loss pick"), ("noisy", "trimmed_loss", "noisy valid, ERM_RE pick"))  # fmt: skip


def load_protocols(grids: list[Path]) -> dict[str, list]:
    """Finished cells per protocol; a (setting, method) found in a later grid drops it from the earlier ones."""
    cells: dict[str, list] = {}
    for grid in grids:
        for protocol, folder in (("both", grid / "valid-both"), ("noisy", grid / "valid-noisy"), ("clean", grid)):
            if not folder.is_dir():
                continue
            found = load_cells(folder)
            rerun = {_group(key) for key, _ in found}
            kept = [(key, record) for key, record in cells.get(protocol, []) if _group(key) not in rerun]
            cells[protocol] = kept + found
    return cells


def _group(key) -> tuple:
    return (key.dataset, key.noise, key.ratio, key.backbone, key.method)


def survival_markdown(summary, metric: str = "recall@20") -> str:
    """Δ vs baseline per method under today's protocol and under noisy validation with each criterion."""
    header = ["noise", "backbone", "method", "seeds"] + [label for _, _, label in COLUMNS] + ["noisy valid, R@20 pick, vs best plain (bpr/bce) + ERM_RE"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    frame = summary.assign(_noise=[n if not np.isfinite(r) else f"{n}-{r:g}" for n, r in zip(summary["noise"], summary["ratio"].astype(float))])
    frame = frame.assign(_k=frame["method"].map(METHOD_ORDER).fillna(99))
    for (noise, backbone), setting in frame.groupby(["_noise", "backbone"], sort=False):
        for method, group in setting.sort_values("_k").groupby("method", sort=False):
            by = {(r["protocol"], r["criterion"]): r for _, r in group.iterrows()}
            cells = [noise, backbone, f"**{method}**" if method in PLAIN_METHODS else method, str(int(group["seeds"].min()))]
            for protocol, criterion, _ in COLUMNS:
                row = by.get((protocol, criterion))
                if row is None:
                    cells.append("—")
                elif method in PLAIN_METHODS:
                    cells.append(f"{row[f'{metric}_mean']:.4f}")
                else:
                    cells.append(f"{row[f'{metric}_rel']:+.1f}%" if np.isfinite(row[f"{metric}_rel"]) else "")
            cells.append(_vs_plain_erm(setting, by, metric))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _vs_plain_erm(setting, by, metric: str) -> str:
    """The method picked by noisy-validation Recall@20 vs the better plain model (bpr or bce) picked by
    ERM_RE on noisy validation (the paper's comparison: plain training with a robust criterion)."""
    mine = by.get(("noisy", "metric"))
    if mine is None or not mine["baseline"]:
        return ""
    base = setting[setting["method"].isin(PLAIN_METHODS) & (setting["protocol"] == "noisy") & (setting["criterion"] == "trimmed_loss")]
    if base.empty:
        return ""
    ref = float(base[f"{metric}_mean"].max())
    return f"{100 * (mine[f'{metric}_mean'] - ref) / ref:+.1f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("grids", type=Path, nargs="+", help="--output folders of `recdenoise bench denoise`")
    parser.add_argument("--out", type=Path, default=Path("docs/results/honest"))
    parser.add_argument("--seeds", default=None, help="only these seeds, e.g. 0,1 (default: every finished cell)")
    args = parser.parse_args(argv)
    rows = selection_rows(load_protocols(args.grids))
    if args.seeds is not None and not rows.empty:
        rows = rows[rows["seed"].isin([int(x) for x in args.seeds.split(",")])]
    if rows.empty:
        sys.stderr.write("no finished cells with selection records\n")
        return 1
    summary = selection_summary(rows)
    order = summary["method"].map(METHOD_ORDER).fillna(99)
    summary = summary.assign(_k=order.to_numpy()).sort_values(["noise", "backbone", "_k"], kind="stable").drop(columns="_k")
    args.out.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(f"Test {m}: mean ± std over seeds (Δ vs baseline under the same protocol and criterion) @ mean chosen epoch\n\n"
                       + selection_markdown(summary, m) for m in ("recall@20", "ndcg@20"))  # fmt: skip
    (args.out / "table_selection.md").write_text(text, encoding="utf-8")
    (args.out / "table_selection.csv").write_text(summary.to_csv(index=False, float_format="%.6g"), encoding="utf-8")
    survival = ("Test Recall@20: baselines (bold) absolute, methods as Δ vs their baseline (bpr, or bce for T-CE/R-CE/DCF/UDT/DeCA) "
                "selected the same way\n\n" + survival_markdown(summary))  # fmt: skip
    (args.out / "table_survival.md").write_text(survival, encoding="utf-8")
    sys.stdout.write(survival)
    return 0


if __name__ == "__main__":
    sys.exit(main())
