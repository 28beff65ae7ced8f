"""Benchmark tables and figures: aggregation maths on hand-made run records, PNGs written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recdenoise.errors import ConfigError
from recdenoise.reporting.plots import (
    auc_noisy_vs_clean,
    plot_loss_distributions,
    plot_metric_vs_ratio,
    plot_validation_curves,
    within_user_percentile,
    within_user_zscore,
)
from recdenoise.reporting.summary import CellKey, collect_rows, compare_to_baselines, summarize, to_csv, to_markdown

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _record(recall: float, ndcg: float, epochs: int = 3, **extra) -> dict:
    history = [{"epoch": e + 1, "loss": 1.0 / (e + 1), "valid": {"recall@20": recall * (e + 1) / epochs}} for e in range(epochs)]
    return {"test_metrics": {"recall@20": recall, "ndcg@20": ndcg}, "valid_metrics": {"recall@20": recall}, "best_epoch": epochs, "history": history, **extra}


def _cells() -> list:
    # injected 0.2 / mf: bpr 0.10, 0.12 ; pld 0.12, 0.14 ; tce 0.09, 0.11 ; bce 0.10, 0.10
    values = {"bpr": (0.10, 0.12), "pld": (0.12, 0.14), "tce": (0.09, 0.11), "bce": (0.10, 0.10)}
    cells = []
    for method, recalls in values.items():
        for seed, r in enumerate(recalls):
            cells.append((CellKey("d", "injected", 0.2, "mf", method, seed), _record(r, r / 2)))
    cells.append((CellKey("d", "natural", None, "mf", "bpr", 0), _record(0.2, 0.1)))
    cells.append((CellKey("d", "natural", None, "mf", "nbpo", 0), _record(0.1, 0.05)))
    return cells


def test_cell_key_paths():
    assert CellKey("ml-100k", "injected", 0.2, "mf", "pld", 1).relpath() == "ml-100k/injected-0.2/mf/pld/seed1"
    assert CellKey("ml-100k", "natural", None, "lightgcn", "bpr", 0).relpath() == "ml-100k/natural/lightgcn/bpr/seed0"


def test_summary_mean_std_and_relative_change():
    summary = summarize(collect_rows(_cells()))
    get = lambda noise, method: summary[(summary["noise"] == noise) & (summary["method"] == method)].iloc[0]  # noqa: E731
    bpr, pld, tce, bce = (get("injected", m) for m in ("bpr", "pld", "tce", "bce"))
    assert bpr["recall@20_mean"] == pytest.approx(0.11)
    assert bpr["recall@20_std"] == pytest.approx(np.std([0.10, 0.12], ddof=1))
    assert bpr["baseline"] == "" and np.isnan(bpr["recall@20_rel"])
    assert pld["baseline"] == "bpr"
    assert pld["recall@20_rel"] == pytest.approx(100 * (0.13 - 0.11) / 0.11)
    assert pld["ndcg@20_rel"] == pytest.approx(100 * (0.065 - 0.055) / 0.055)
    # T-CE is compared with the BCE baseline when the grid has one
    assert tce["baseline"] == "bce" and tce["recall@20_rel"] == pytest.approx(0.0)
    assert bce["recall@20_std"] == pytest.approx(0.0)
    nat = get("natural", "nbpo")
    assert nat["baseline"] == "bpr" and nat["recall@20_rel"] == pytest.approx(-50.0)
    assert np.isnan(nat["recall@20_std"])  # one seed: no std
    assert np.isnan(nat["ratio"]) and int(nat["seeds"]) == 1


def test_bce_methods_fall_back_to_bpr_without_bce_cells():
    cells = [c for c in _cells() if c[0].method != "bce"]
    summary = summarize(collect_rows(cells))
    tce = summary[(summary["noise"] == "injected") & (summary["method"] == "tce")].iloc[0]
    assert tce["baseline"] == "bpr"
    assert tce["recall@20_rel"] == pytest.approx(100 * (0.10 - 0.11) / 0.11)


def test_markdown_and_csv_render():
    cells = _cells()
    cells[2] = (cells[2][0], _record(0.12, 0.06, diagnostics={"train_noisy_share": 0.2, "epochs": [{"epoch": 1, "loss_auc": 0.6}, {"epoch": 2, "loss_auc": 0.8, "noisy_share_optimised": 0.1}]}))
    summary = summarize(collect_rows(cells))
    md = to_markdown(summary)
    lines = md.strip().splitlines()
    assert len(lines) == 2 + len(summary)
    assert "0.1100 ± 0.0141" in md and "+18.2%" in md and "loss AUC" in md and "0.800" in md and "0.100" in md
    csv = pd.read_csv(pd.io.common.StringIO(to_csv(summary)))
    assert list(csv["method"]) == list(summary["method"])


def test_compare_to_baselines_across_summaries():
    # baselines summarised from one grid, the methods from another: the same Δ as one grid
    cells = _cells()
    plain = [c for c in cells if c[0].method in ("bpr", "bce")]
    methods = [c for c in cells if c[0].method not in ("bpr", "bce")]
    merged = pd.concat([summarize(collect_rows(plain)), summarize(collect_rows(methods))], ignore_index=True)
    merged = compare_to_baselines(merged)
    whole = summarize(collect_rows(cells))
    key = ["noise", "method"]
    left, right = merged.set_index(key).sort_index(), whole.set_index(key).sort_index()
    assert list(left["baseline"]) == list(right["baseline"])
    np.testing.assert_allclose(left["recall@20_rel"], right["recall@20_rel"])
    with pytest.raises(ConfigError, match="repeated"):
        compare_to_baselines(pd.concat([merged, merged], ignore_index=True))


def test_summarize_rejects_empty():
    with pytest.raises(ConfigError):
        summarize(pd.DataFrame())


def test_within_user_helpers():
    users = np.array([0, 0, 0, 1, 1, 2])
    losses = np.array([3.0, 1.0, 1.0, 5.0, 2.0, 7.0])
    np.testing.assert_allclose(within_user_percentile(users, losses), [1.0, 0.25, 0.25, 1.0, 0.0, 0.5])
    z = within_user_zscore(users, losses)
    assert z[5] == 0.0 and z[3] == pytest.approx(1.0) and z[0] == pytest.approx(np.sqrt(2))
    assert auc_noisy_vs_clean(losses, np.array([1, 0, 0, 1, 0, 0], bool)) == pytest.approx(0.75)
    assert np.isnan(auc_noisy_vs_clean(losses, np.zeros(6, bool)))


def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_MAGIC


def test_plots_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    users = rng.integers(0, 20, n)
    is_noise = rng.random(n) < 0.2
    losses = rng.exponential(0.3, n) + is_noise * 0.5
    stages = {"warm-up": {"losses": losses, "is_noise": is_noise, "users": users}, "final": {"losses": losses / 2, "is_noise": is_noise, "users": users}}
    assert _is_png(plot_loss_distributions(stages, tmp_path / "loss.png", title="synthetic"))

    cells = []
    for ratio in (0.1, 0.2, 0.3):
        for method in ("bpr", "pld"):
            for seed in (0, 1):
                cells.append((CellKey("d", "injected", ratio, "mf", method, seed), _record(0.2 - ratio / 2 + 0.01 * seed, 0.1)))
    summary = summarize(collect_rows(cells))
    assert _is_png(plot_metric_vs_ratio(summary, tmp_path / "ratio.png"))

    histories = {m: [rec["history"] for key, rec in cells if key.method == m and key.ratio == 0.2] for m in ("bpr", "pld")}
    histories["short"] = [_record(0.1, 0.1, epochs=2)["history"]]
    assert _is_png(plot_validation_curves(histories, tmp_path / "curves.png", title="valid"))


def test_ratio_plot_needs_ratios(tmp_path):
    summary = summarize(collect_rows([c for c in _cells() if c[0].noise == "natural"]))
    with pytest.raises(ConfigError):
        plot_metric_vs_ratio(summary, tmp_path / "x.png")


@pytest.mark.parametrize("method", ["dcf", "udt", "deca"])
def test_field_denoisers_compared_with_bce(method):
    """DCF, UDT and DeCA train pointwise BCE by default (the authors' code), so BCE is their baseline."""
    cells = [c for c in _cells() if c[0].method in ("bpr", "bce")]
    cells.append((CellKey("d", "injected", 0.2, "mf", method, 0), _record(0.12, 0.06)))
    summary = summarize(collect_rows(cells))
    row = summary[summary["method"] == method].iloc[0]
    assert row["baseline"] == "bce" and row["recall@20_rel"] == pytest.approx(20.0)
