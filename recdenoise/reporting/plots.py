"""Benchmark figures (PNG) drawn on :class:`matplotlib.figure.Figure` objects: no pyplot, no backend switch.

Every function takes data (arrays, summary frames, run-record histories) and a path, never
reads files, and returns the path written:

- :func:`plot_loss_distributions`: training loss of clean vs noisy positives, over all
  interactions and *within users* (per-user rank percentile of the loss), per training stage.
  The within-user view is the observation PLD builds on: inside one user's history, noisy
  interactions tend to have larger loss even when the global distributions overlap.
- :func:`plot_metric_vs_ratio`: a test metric against the injected-noise ratio, per method.
- :func:`plot_validation_curves`: the validation metric per evaluated epoch, per method
  (mean over seeds, shaded min-max).

The pure helpers :func:`within_user_percentile` and :func:`auc_noisy_vs_clean` are exposed
for tables and tests.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import rankdata

from ..errors import ConfigError

__all__ = [
    "within_user_percentile",
    "within_user_zscore",
    "auc_noisy_vs_clean",
    "plot_loss_distributions",
    "plot_metric_vs_ratio",
    "plot_validation_curves",
]

_CLEAN, _NOISY = "#1f77b4", "#d62728"


# --------------------------------------------------------------------------- helpers
def _check_same_length(**arrays: np.ndarray) -> int:
    sizes = {k: np.asarray(v).shape[0] for k, v in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ConfigError(f"arrays must have the same length, got {sizes}")
    return next(iter(sizes.values()))


def within_user_percentile(users: np.ndarray, losses: np.ndarray) -> np.ndarray:
    r"""Rank percentile of each interaction's loss among its user's interactions.

    .. math::
        p_{ui} = \frac{\operatorname{rank}_u(\ell_{ui}) - 1}{n_u - 1} \in [0, 1]

    (ties share their average rank; users with one interaction get 0.5). Vectorised: one
    ``lexsort`` over (user, loss), no per-user loop.

    Shapes:
        ``users [N]``, ``losses [N]`` -> ``[N]`` float64.
    """
    users, losses = np.asarray(users, dtype=np.int64), np.asarray(losses, dtype=np.float64)
    n = _check_same_length(users=users, losses=losses)
    if n == 0:
        return np.zeros(0)
    order = np.lexsort((losses, users))
    su, sl = users[order], losses[order]
    user_first = np.r_[True, su[1:] != su[:-1]]
    starts = np.flatnonzero(user_first)
    counts = np.diff(np.r_[starts, n])
    # ties (same user, same loss) share the average of their sorted positions
    tie_first = user_first | np.r_[True, sl[1:] != sl[:-1]]
    tie_starts = np.flatnonzero(tie_first)
    tie_sizes = np.diff(np.r_[tie_starts, n])
    avg_pos = (tie_starts + (tie_sizes - 1) / 2.0)[np.cumsum(tie_first) - 1]
    within = np.empty(n, dtype=np.float64)
    user_count = np.empty(n, dtype=np.float64)
    within[order] = avg_pos - np.repeat(starts, counts)  # 0-based average rank within the user
    user_count[order] = np.repeat(counts, counts)
    return np.where(user_count > 1, within / np.maximum(user_count - 1, 1), 0.5)


def within_user_zscore(users: np.ndarray, losses: np.ndarray) -> np.ndarray:
    r"""Per-user standardised loss :math:`z_{ui} = (\ell_{ui} - \mu_u) / \sigma_u` (0 where :math:`\sigma_u = 0`).

    Shapes:
        ``users [N]``, ``losses [N]`` -> ``[N]`` float64.
    """
    users, losses = np.asarray(users, dtype=np.int64), np.asarray(losses, dtype=np.float64)
    _check_same_length(users=users, losses=losses)
    if users.size == 0:
        return np.zeros(0)
    size = int(users.max()) + 1
    count = np.bincount(users, minlength=size).astype(np.float64)
    mean = np.bincount(users, losses, minlength=size) / np.maximum(count, 1)
    var = np.bincount(users, (losses - mean[users]) ** 2, minlength=size) / np.maximum(count, 1)
    std = np.sqrt(var)[users]
    return np.where(std > 0, (losses - mean[users]) / np.where(std > 0, std, 1.0), 0.0)


def auc_noisy_vs_clean(scores: np.ndarray, is_noise: np.ndarray) -> float:
    r"""Probability that a random noisy interaction scores above a random clean one (ties 1/2).

    .. math::
        \mathrm{AUC} = \frac{R_{noisy} - n_{noisy}(n_{noisy}+1)/2}{n_{noisy}\, n_{clean}}

    with :math:`R_{noisy}` the rank sum of noisy items. NaN when either class is empty.

    Shapes:
        ``scores [N]``, ``is_noise [N]`` bool -> float.
    """
    scores, is_noise = np.asarray(scores, dtype=np.float64), np.asarray(is_noise, dtype=bool)
    _check_same_length(scores=scores, is_noise=is_noise)
    n_noisy = int(is_noise.sum())
    n_clean = is_noise.size - n_noisy
    if n_noisy == 0 or n_clean == 0:
        return math.nan
    ranks = rankdata(scores, method="average")
    return float((ranks[is_noise].sum() - n_noisy * (n_noisy + 1) / 2) / (n_noisy * n_clean))


def _subplots(nrows: int, ncols: int, figsize: tuple[float, float]):
    """A figure and its axes grid without pyplot: no global backend or figure registry is touched."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


# --------------------------------------------------------------------------- (a) losses
def plot_loss_distributions(
    stages: Mapping[str, Mapping[str, np.ndarray]],
    path: str | Path,
    *,
    title: str | None = None,
    bins: int = 50,
    dpi: int = 110,
) -> Path:
    """Clean vs noisy training-loss distributions, overall and within users, per stage.

    One row per stage (e.g. ``"end of warm-up (epoch 10)"``, ``"end of training"``), three
    panels: the loss density over all interactions (of log10 loss when the range is wide), the
    per-user rank percentile of the loss, and the per-user z-score. Legends give the AUC of
    the loss separating noisy from clean (overall, and of the percentile).

    Args:
        stages: label -> ``{"losses": [N], "is_noise": [N] bool, "users": [N]}``.
        path: PNG to write.

    Shapes:
        each stage's arrays ``[N]`` (N may differ between stages).
    """
    if not stages:
        raise ConfigError("plot_loss_distributions needs at least one stage")
    fig, axes = _subplots(len(stages), 3, figsize=(13, 3.4 * len(stages)))
    for row, (label, data) in enumerate(stages.items()):
        losses = np.asarray(data["losses"], dtype=np.float64)
        is_noise = np.asarray(data["is_noise"], dtype=bool)
        users = np.asarray(data["users"], dtype=np.int64)
        _check_same_length(losses=losses, is_noise=is_noise, users=users)
        pct = within_user_percentile(users, losses)
        z = within_user_zscore(users, losses)
        auc_global, auc_user = auc_noisy_vs_clean(losses, is_noise), auc_noisy_vs_clean(pct, is_noise)
        positive = losses[losses > 0]
        # losses span orders of magnitude once the model fits: show log10(loss) then
        wide = positive.size > 0 and positive.max() / max(positive.min(), 1e-12) > 1e3
        shown = np.log10(np.maximum(losses, 1e-12)) if wide else losses
        panels = [
            (shown, bins, f"loss over all interactions (AUC {auc_global:.3f})", "log10 per-interaction loss" if wide else "per-interaction loss"),
            (pct, np.linspace(0, 1, 21), f"within-user loss percentile (AUC {auc_user:.3f})", "rank percentile in user"),
            (z, np.linspace(-3, 3, 41), "within-user loss z-score", "(loss - user mean) / user std"),
        ]
        for col, (values, b, name, xlabel) in enumerate(panels):
            ax = axes[row, col]
            for mask, colour, who in ((~is_noise, _CLEAN, "clean"), (is_noise, _NOISY, "noisy")):
                if mask.any():
                    ax.hist(values[mask], bins=b, density=True, alpha=0.55, color=colour, label=f"{who} (n={int(mask.sum())})")
            ax.set_title(f"{label}: {name}", fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("density", fontsize=8)
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path, dpi)


# --------------------------------------------------------------------------- (b) ratio
def plot_metric_vs_ratio(
    summary: pd.DataFrame,
    path: str | Path,
    *,
    metric: str = "recall@20",
    noise: str = "injected",
    dpi: int = 110,
) -> Path:
    """Test ``metric`` (mean ± std over seeds) against the noise ratio, one line per method.

    One panel per (dataset, backbone). Uses the rows of ``summary`` (from
    :func:`recdenoise.reporting.summary.summarize`) whose ``noise`` is ``noise``.
    """
    rows = summary[(summary["noise"] == noise) & summary["ratio"].notna()]
    if rows.empty:
        raise ConfigError(f"no {noise!r} rows with a ratio in the summary; nothing to plot against the ratio")
    panels = list(dict.fromkeys(zip(rows["dataset"], rows["backbone"])))
    fig, axes = _subplots(1, len(panels), figsize=(4.6 * len(panels), 3.6))
    for ax, (dataset, backbone) in zip(axes[0], panels):
        here = rows[(rows["dataset"] == dataset) & (rows["backbone"] == backbone)]
        for method, group in here.groupby("method", sort=False):
            group = group.sort_values("ratio")
            std = group[f"{metric}_std"].fillna(0.0)
            ax.errorbar(group["ratio"], group[f"{metric}_mean"], yerr=std, marker="o", capsize=3, label=method)
        ax.set_title(f"{dataset} / {backbone}", fontsize=10)
        ax.set_xlabel(f"{noise} noise ratio")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, dpi)


# --------------------------------------------------------------------------- (c) curves
def _curve(history: Sequence[Mapping], metric: str) -> tuple[np.ndarray, np.ndarray]:
    epochs, values = [], []
    for i, logs in enumerate(history):
        valid = logs.get("valid") if isinstance(logs, Mapping) else None
        if isinstance(valid, Mapping) and metric in valid:
            epochs.append(int(logs.get("epoch", i + 1)))
            values.append(float(valid[metric]))
    return np.asarray(epochs, dtype=np.int64), np.asarray(values, dtype=np.float64)


def plot_validation_curves(
    histories: Mapping[str, Sequence[Sequence[Mapping]]],
    path: str | Path,
    *,
    metric: str = "recall@20",
    title: str | None = None,
    dpi: int = 110,
) -> Path:
    """Validation ``metric`` per evaluated epoch, one line per label (mean over runs, shaded min-max).

    Args:
        histories: label (e.g. a method) -> list of run histories (one per seed); a history
            is the ``history`` list of a run record: ``[{"epoch": 1, "valid": {...}}, ...]``.
            Runs that stopped early simply end sooner; the mean at an epoch is over the runs
            that reached it.
        path: PNG to write.
    """
    if not histories:
        raise ConfigError("plot_validation_curves needs at least one history")
    fig, axes = _subplots(1, 1, figsize=(6.4, 4.0))
    ax = axes[0, 0]
    for label, runs in histories.items():
        curves = [_curve(h, metric) for h in runs]
        curves = [c for c in curves if c[0].size]
        if not curves:
            continue
        frame = pd.concat([pd.Series(v, index=e) for e, v in curves], axis=1)
        mean = frame.mean(axis=1)
        line = ax.plot(mean.index, mean.to_numpy(), label=label, linewidth=1.4)[0]
        if frame.shape[1] > 1:
            ax.fill_between(frame.index, frame.min(axis=1), frame.max(axis=1), color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {metric}")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, dpi)
