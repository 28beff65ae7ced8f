"""Side-by-side tables of the honest benchmark: validation protocol x selection criterion.

Every run records, per model-selection criterion (``metric``, ``loss``, ``trimmed_loss``;
:mod:`recdenoise.training.selection`), the epoch it picked and the test metrics of those
weights (``run.json["selection"]["criteria"]``). :func:`selection_rows` flattens the cells of
each validation protocol into one row per (cell, protocol, criterion); :func:`selection_summary`
averages over seeds and computes the change against the method's baseline *under the same
protocol and criterion*; :func:`selection_markdown` puts protocols x criteria side by side.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .summary import PLAIN_METHODS, CellKey, summarize

__all__ = ["CRITERION_LABELS", "selection_rows", "selection_summary", "selection_markdown"]

CRITERION_LABELS = {"metric": "valid Recall@20", "loss": "valid loss", "trimmed_loss": "ERM_RE (trimmed loss)"}


def selection_rows(
    cells_by_protocol: Mapping[str, Iterable[tuple[CellKey, Mapping[str, Any]]]],
    criteria: Sequence[str] = ("metric", "loss", "trimmed_loss"),
    metrics: Sequence[str] = ("recall@20", "ndcg@20"),
) -> pd.DataFrame:
    """One row per (cell, protocol, criterion): key columns, ``protocol``, ``criterion``, ``epoch``, ``test_<m>``.

    Cells whose record has no ``selection`` (made before it existed) contribute their
    ``best_epoch`` / ``test_metrics`` as the ``metric`` criterion only. Cells of protocol
    ``both`` contribute a ``clean`` row from their criteria and a ``noisy`` row from their shadow.
    """
    rows = []
    for key, protocol, chosen in _views(cells_by_protocol):
        for criterion in criteria:
            if criterion not in chosen:
                continue
            row = {"dataset": key.dataset, "noise": key.noise, "ratio": key.ratio, "backbone": key.backbone,
                   "method": key.method, "seed": key.seed, "protocol": protocol, "criterion": criterion,
                   "epoch": chosen[criterion].get("epoch")}  # fmt: skip
            test = chosen[criterion].get("test_metrics", {})
            for m in metrics:
                row[f"test_{m}"] = float(test.get(m, np.nan))
            rows.append(row)
    return pd.DataFrame(rows)


def _views(cells_by_protocol):
    """``(key, protocol, {criterion: choice})`` per cell and protocol it answers."""
    for protocol, cells in cells_by_protocol.items():
        for key, record in cells:
            selection = record.get("selection") or {}
            chosen = selection.get("criteria") or {}
            if not chosen:
                chosen = {"metric": {"epoch": record.get("best_epoch"), "test_metrics": record.get("test_metrics", {})}}
            if protocol == "both":
                yield key, "clean", chosen
                shadow = (selection.get("shadow") or {}).get("criteria")
                if shadow:
                    yield key, "noisy", shadow
            else:
                yield key, protocol, chosen


def selection_summary(rows: pd.DataFrame, metrics: Sequence[str] = ("recall@20", "ndcg@20")) -> pd.DataFrame:
    """:func:`~recdenoise.reporting.summary.summarize` per (protocol, criterion): mean / sample std
    over seeds, ``epoch_mean`` (mean chosen epoch) and ``<m>_rel``, the % change vs the method's
    baseline under the same protocol and criterion."""
    if rows.empty:
        raise ConfigError("no finished cells with selection records to summarise")
    parts = []
    for (protocol, criterion), group in rows.groupby(["protocol", "criterion"], sort=False):
        part = summarize(group.drop(columns=["protocol", "criterion"]).rename(columns={"epoch": "best_epoch"}), metrics)
        parts.append(part.rename(columns={"best_epoch_mean": "epoch_mean"}).assign(protocol=protocol, criterion=criterion))
    return pd.concat(parts, ignore_index=True)


def _cell(row: pd.Series, metric: str, digits: int) -> str:
    mean, std, rel = row[f"{metric}_mean"], row[f"{metric}_std"], row[f"{metric}_rel"]
    if not np.isfinite(mean):
        return "—"
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if np.isfinite(std) else "")
    text += f" ({rel:+.1f}%)" if np.isfinite(rel) else ""
    return text + f" @{row['epoch_mean']:.0f}"


def selection_markdown(summary: pd.DataFrame, metric: str = "recall@20", digits: int = 4) -> str:
    """Markdown: one row per (dataset, noise, backbone, method), one column per (protocol, criterion),
    each ``mean ± std (Δ vs baseline) @mean chosen epoch``."""
    columns = list(dict.fromkeys(zip(summary["protocol"], summary["criterion"])))
    header = ["dataset", "noise", "backbone", "method", "seeds"] + [f"{p} valid, {CRITERION_LABELS.get(c, c)}" for p, c in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    labels = summary.assign(_noise=[n if not np.isfinite(r) else f"{n}-{r:g}" for n, r in zip(summary["noise"], summary["ratio"].astype(float))])
    for (dataset, noise, backbone, method), group in labels.groupby(["dataset", "_noise", "backbone", "method"], sort=False):
        by = {(r["protocol"], r["criterion"]): r for _, r in group.iterrows()}
        seeds = int(group["seeds"].min())
        name = f"**{method}**" if method in PLAIN_METHODS else method
        cells = [dataset, noise, backbone, name, str(seeds)] + [_cell(by[c], metric, digits) if c in by else "—" for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
