"""From a data + noise config to the split a run trains on: load, split, apply noise (seeded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import DataConfig, NoiseConfig
from ..errors import ConfigError
from .interactions import Split
from .noise import add_noise
from .registry import prepare_data

__all__ = ["prepare_run_data"]

_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".dat")
_TABLE_OPTIONS = ("user_col", "item_col", "rating_col", "timestamp_col", "sep", "format", "names", "encoding", "name")


def _is_table_path(dataset: str) -> bool:
    """A file path (``data/ratings.csv``) rather than a registered dataset name."""
    return Path(dataset).suffix.lower() in _TABLE_SUFFIXES or "/" in dataset or "\\" in dataset


def prepare_run_data(data: DataConfig, noise: NoiseConfig, seed: int) -> tuple[Split, dict[str, Any], dict[str, Any]]:
    """``(split, data_info, noise_summary)``: load, split and apply noise (seeded)."""
    d = data
    if noise.kind == "injected" and noise.ratio <= 0:
        raise ConfigError("noise kind 'injected' needs a ratio > 0 (e.g. --noise-ratio 0.2)")
    if noise.kind == "natural" and d.rating_threshold is not None:
        raise ConfigError(
            "natural noise keeps low ratings as noisy positives: it cannot be combined with "
            f"data.rating_threshold={d.rating_threshold}; set noise.threshold instead"
        )
    dataset: Any = d.dataset
    options = dict(d.options)
    if _is_table_path(d.dataset):  # any CSV/TSV/Parquet with a column mapping in data.options
        from .readers import read_table

        table_options = {k: options.pop(k) for k in list(options) if k in _TABLE_OPTIONS}
        table_options.setdefault("user_col", "user")
        table_options.setdefault("item_col", "item")
        dataset = read_table(d.dataset, **table_options)
    split, info = prepare_data(
        dataset,
        d.data_dir,
        split=d.split,
        ratios=d.ratios,
        rating_threshold=d.rating_threshold,
        k_core=d.k_core,
        seed=seed if d.split_seed is None else d.split_seed,
        download=d.download,
        cache_dir=d.cache_dir,
        options=options,
    )
    if noise.kind == "natural" and split.train.ratings is None:
        raise ConfigError(f"natural noise needs ratings, and dataset {d.dataset!r} has none; use --noise-kind injected")
    split, summary = add_noise(split, noise.kind, noise.ratio, noise.threshold, seed)
    return split, info, summary
