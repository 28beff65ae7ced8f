"""Benchmark tables: aggregate run records over seeds and compare each method to its baseline.

A *cell* of a benchmark grid is one ``(dataset, noise kind, noise ratio, backbone, method,
seed)`` run; its record is the ``run.json`` dict :func:`recdenoise.experiment.run_experiment`
writes. :func:`collect_rows` flattens cells into one row each, :func:`summarize` groups the
rows over seeds and :func:`to_markdown` / :func:`to_csv` render the result.

For a metric :math:`m` with per-seed values :math:`m_1..m_S`, a row reports the mean
:math:`\\bar m`, the sample standard deviation (``ddof=1``; empty with one seed) and the
relative change against the mean of the row's *baseline* on the same dataset, noise and
backbone:

.. math::
    \\Delta = 100 \\cdot \\frac{\\bar m_{method} - \\bar m_{baseline}}{\\bar m_{baseline}} \\;\\%

The baseline is the plain trainer with the same loss: ``bpr`` for BPR-based methods (PLD,
NBPO) and ``bce`` for the BCE-based T-CE / R-CE of the DenoisingRec paper and DCF / UDT / DeCA; when a grid has no
``bce`` cells, ``bpr`` is used instead and the ``baseline`` column says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError

__all__ = [
    "CellKey",
    "DEFAULT_BASELINES",
    "KEY_COLUMNS",
    "collect_rows",
    "summarize",
    "compare_to_baselines",
    "to_markdown",
    "to_csv",
    "record_metrics",
    "record_diagnostics",
]

KEY_COLUMNS = ["dataset", "noise", "ratio", "backbone", "method"]

DEFAULT_BASELINES: dict[str, str] = {
    "pld": "bpr", "nbpo": "bpr", "tce": "bce", "rce": "bce", "dcf": "bce", "udt": "bce", "deca": "bce",
}  # fmt: skip
"""Preferred baseline per method: the plain trainer with the loss of the method's default (UDT and DeCA
are pointwise BCE since they follow the authors' code; methods not listed fall back to ``bpr``)."""

PLAIN_METHODS = ("bpr", "bce")


@dataclass(frozen=True, order=True)
class CellKey:
    """Coordinates of one benchmark cell; ``ratio`` is ``None`` for natural noise."""

    dataset: str
    noise: str
    ratio: float | None
    backbone: str
    method: str
    seed: int

    @property
    def noise_label(self) -> str:
        """``"injected-0.2"`` or ``"natural"``: the folder name of the noise setting."""
        return self.noise if self.ratio is None else f"{self.noise}-{self.ratio:g}"

    def relpath(self) -> str:
        """``<dataset>/<noise>-<ratio>/<backbone>/<method>/seed<k>``."""
        return f"{self.dataset}/{self.noise_label}/{self.backbone}/{self.method}/seed{self.seed}"


# --------------------------------------------------------------------------- records
def _first(record: Mapping[str, Any], *paths: str) -> Any:
    for path in paths:
        node: Any = record
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            return node
    return None


def record_metrics(record: Mapping[str, Any], split: str = "test") -> dict[str, float]:
    """The ``split`` (``"test"`` / ``"valid"``) metrics of a run record, e.g. ``{"recall@20": ...}``."""
    found = _first(record, f"{split}_metrics", f"metrics.{split}", split, f"results.{split}")
    if not isinstance(found, Mapping):
        raise ConfigError(f"run record has no {split} metrics (looked for '{split}_metrics', 'metrics.{split}', '{split}')")
    return {str(k): float(v) for k, v in found.items() if isinstance(v, (int, float))}


def record_diagnostics(record: Mapping[str, Any]) -> dict[str, float]:
    """Final-epoch denoising diagnostics of a run record (empty when none were recorded).

    Reads the last entry of ``record["diagnostics"]["epochs"]`` (the
    :class:`~recdenoise.diagnostics.NoiseDiagnostics` summary; a ``"final"`` dict or a flat
    dict of numbers also works) and keeps its numeric values, e.g. ``loss_auc`` (AUC of the
    per-example loss for telling noisy from clean, 0.5 = blind), ``noisy_share_optimised``
    (weighted share of noisy examples among those optimised), ``weight_auc`` /
    ``keep_prob_auc`` (T-CE/R-CE weights, PLD keep probabilities: clean = positive class)
    and ``train_noisy_share``.
    """
    diag = _first(record, "diagnostics")
    out: dict[str, float] = {}
    final: Any = None
    if isinstance(diag, Mapping):
        if isinstance(diag.get("epochs"), list) and diag["epochs"]:
            final = diag["epochs"][-1]
        elif isinstance(diag.get("final"), Mapping):
            final = diag["final"]
        else:
            final = diag
        share = diag.get("train_noisy_share")
        if isinstance(share, (int, float)) and not isinstance(share, bool):
            out["train_noisy_share"] = float(share)
    if isinstance(final, Mapping):
        for key, value in final.items():
            if key in ("epoch", "num_examples"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                out[str(key)] = float(value)
    return out


def collect_rows(cells: Iterable[tuple[CellKey, Mapping[str, Any]]], metrics: Sequence[str] = ("recall@20", "ndcg@20")) -> pd.DataFrame:
    """One row per cell: the key columns, ``seed``, ``best_epoch``, ``valid_<m>``, ``test_<m>``, ``diag_<k>``."""
    rows = []
    for key, record in cells:
        test, valid = record_metrics(record, "test"), record_metrics(record, "valid")
        row: dict[str, Any] = {
            "dataset": key.dataset,
            "noise": key.noise,
            "ratio": key.ratio,
            "backbone": key.backbone,
            "method": key.method,
            "seed": key.seed,
            "best_epoch": record.get("best_epoch"),
        }
        for m in metrics:
            if m not in test:
                raise ConfigError(f"cell {key.relpath()} has no test metric {m!r}; it has {sorted(test)}")
            row[f"test_{m}"] = test[m]
            row[f"valid_{m}"] = valid.get(m, np.nan)
        for k, v in record_diagnostics(record).items():
            row[f"diag_{k}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- aggregation
def _baseline_for(method: str, available: set[str], baselines: Mapping[str, str]) -> str | None:
    if method in PLAIN_METHODS:
        return None
    preferred = baselines.get(method, "bpr")
    if preferred in available:
        return preferred
    return "bpr" if "bpr" in available else None


def summarize(
    rows: pd.DataFrame,
    metrics: Sequence[str] = ("recall@20", "ndcg@20"),
    baselines: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Mean / std over seeds per (dataset, noise, ratio, backbone, method) and change vs baseline.

    Args:
        rows: :func:`collect_rows` output (``test_<m>`` columns, ``seed``, optional ``diag_*``).
        metrics: metric names to aggregate.
        baselines: method -> preferred baseline method (default :data:`DEFAULT_BASELINES`).

    Returns:
        One row per group, ordered as the input first lists them, with ``seeds`` (count),
        ``<m>_mean``, ``<m>_std`` (``ddof=1``, NaN with one seed), ``baseline`` (method name or
        ``""``), ``<m>_rel`` (relative change in %, NaN without a baseline), ``best_epoch_mean``
        and ``diag_<k>`` means.

    Shapes:
        ``rows``: ``[cells, C]`` -> ``[groups, C']``.
    """
    if rows.empty:
        raise ConfigError("no finished cells to summarise")
    frame = rows.copy()
    # groupby drops NaN keys: natural noise has no ratio, so group on a filled copy
    frame["_ratio"] = frame["ratio"].astype(float).fillna(-1.0)
    keys = ["dataset", "noise", "_ratio", "backbone", "method"]
    diag_cols = [c for c in frame.columns if c.startswith("diag_")]
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(seeds=("seed", "nunique")).reset_index()
    for m in metrics:
        stats = grouped[f"test_{m}"].agg(["mean", "std"]).reset_index(drop=True)
        out[f"{m}_mean"], out[f"{m}_std"] = stats["mean"].to_numpy(), stats["std"].to_numpy()
    if "best_epoch" in frame:
        out["best_epoch_mean"] = grouped["best_epoch"].mean().to_numpy()
    for c in diag_cols:
        out[c] = grouped[c].mean().to_numpy()
    out["ratio"] = out["_ratio"].where(out["_ratio"] >= 0, np.nan)
    out = compare_to_baselines(out.drop(columns="_ratio"), metrics, baselines)
    front = KEY_COLUMNS + ["seeds", "baseline"]
    return out[front + [c for c in out.columns if c not in front]]


def compare_to_baselines(
    summary: pd.DataFrame,
    metrics: Sequence[str] = ("recall@20", "ndcg@20"),
    baselines: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """(Re)fill ``baseline`` and ``<m>_rel`` of a summary against the baseline rows it holds.

    Every row is compared with its baseline on the same dataset, noise, ratio and backbone
    (see :func:`summarize`); use it after concatenating summaries of different grids (a
    table whose baselines were run earlier than the methods).

    Shapes:
        ``summary``: ``[groups, C]`` with ``KEY_COLUMNS`` and ``<m>_mean`` -> the same rows.
    """
    baselines = dict(DEFAULT_BASELINES if baselines is None else baselines)
    out = summary.reset_index(drop=True).copy()
    out["_ratio"] = out["ratio"].astype(float).fillna(-1.0)  # natural noise has no ratio
    setting = ["dataset", "noise", "_ratio", "backbone"]
    means = out.set_index(setting + ["method"])
    if not means.index.is_unique:
        raise ConfigError(f"summary has repeated rows: {sorted(set(means.index[means.index.duplicated()]))}")
    out["baseline"] = ""
    for m in metrics:
        out[f"{m}_rel"] = np.nan
    for idx, row in out.iterrows():
        here = out[(out[setting] == row[setting]).all(axis=1)]
        base = _baseline_for(row["method"], set(here["method"]), baselines)
        if base is None:
            continue
        out.at[idx, "baseline"] = base
        base_row = means.loc[tuple(row[setting]) + (base,)]
        for m in metrics:
            denom = base_row[f"{m}_mean"]
            out.at[idx, f"{m}_rel"] = 100.0 * (row[f"{m}_mean"] - denom) / denom if denom else np.nan
    return out.drop(columns="_ratio")


# --------------------------------------------------------------------------- rendering
_DIAG_LABELS = {
    "train_noisy_share": "noisy share (train)",
    "noisy_share_optimised": "noisy share (optimised)",
    "loss_auc": "loss AUC",
    "weight_auc": "weight AUC",
    "keep_prob_auc": "keep-prob AUC",
}


def _fmt_mean_std(mean: float, std: float, digits: int) -> str:
    if not np.isfinite(mean):
        return "—"
    return f"{mean:.{digits}f}" if not np.isfinite(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _fmt_rel(rel: float) -> str:
    return "" if not np.isfinite(rel) else f"{rel:+.1f}%"


def _fmt_ratio(ratio: float) -> str:
    return "—" if ratio is None or not np.isfinite(ratio) else f"{ratio:g}"


def to_markdown(
    summary: pd.DataFrame,
    metrics: Sequence[str] = ("recall@20", "ndcg@20"),
    diagnostics: Sequence[str] = ("train_noisy_share", "noisy_share_optimised", "loss_auc"),
    digits: int = 4,
) -> str:
    """A Markdown table: one row per summary row, ``mean ± std`` and ``Δ`` per metric, diagnostics.

    The ``Δ`` columns are relative to the method named in the ``vs`` column; diagnostics are
    final-epoch values averaged over seeds (see :func:`record_diagnostics`).
    """
    diags = [d for d in diagnostics if f"diag_{d}" in summary.columns and summary[f"diag_{d}"].notna().any()]
    header = ["dataset", "noise", "ratio", "backbone", "method", "seeds"]
    for m in metrics:
        header += [f"test {m}", f"Δ {m}"]
    header += ["vs", "best epoch"] + [_DIAG_LABELS.get(d, d) for d in diags]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in summary.iterrows():
        cells = [row["dataset"], row["noise"], _fmt_ratio(row["ratio"]), row["backbone"], f"**{row['method']}**" if row["baseline"] == "" else row["method"], str(int(row["seeds"]))]
        for m in metrics:
            cells += [_fmt_mean_std(row[f"{m}_mean"], row[f"{m}_std"], digits), _fmt_rel(row[f"{m}_rel"])]
        epoch = row.get("best_epoch_mean", np.nan)
        cells += [row["baseline"] or "", "" if not np.isfinite(epoch) else f"{epoch:.0f}"]
        for d in diags:
            v = row[f"diag_{d}"]
            cells.append("" if not np.isfinite(v) else f"{v:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(summary: pd.DataFrame) -> str:
    """The full summary (all numeric columns, unrounded) as CSV text."""
    return summary.to_csv(index=False, float_format="%.6g")
