"""The data step of a run: load -> implicit feedback -> split -> noise, from the typed configs.

:func:`prepare_run_data` is what a training run calls with its ``[data]`` and ``[noise]``
sections: the dataset is a registered name (``ml-100k``) or a table file path
(``data/ratings.csv``); ``data.options`` is validated once, here, against the reader's
frozen options class (:class:`~recdenoise.data.readers.TableOptions` for a file, the
registered reader's class otherwise), and handed on typed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import DataConfig, NoiseConfig
from ..errors import ConfigError
from .interactions import Split
from .noise import add_noise
from .options import parse_options
from .readers import LoadedDataset, TableOptions, read_table
from .registry import prepare_data

__all__ = ["prepare_run_data", "is_table_path"]

_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".dat")


def is_table_path(dataset: str) -> bool:
    """A file path (``data/ratings.csv``) rather than a registered dataset name."""
    return Path(dataset).suffix.lower() in _TABLE_SUFFIXES or "/" in dataset or "\\" in dataset


def prepare_run_data(data: DataConfig, noise: NoiseConfig, seed: int) -> tuple[Split, dict[str, Any], dict[str, Any]]:
    """``(split, data_info, noise_summary)``: load, split and apply noise, all seeded.

    Args:
        data: the ``[data]`` section; ``data.options`` are the reader's options.
        noise: the ``[noise]`` section (applied to the training part, and to validation when
            ``noise.valid = "noisy"``).
        seed: the run's seed: seeds the noise, and the split unless ``data.split_seed`` is set.

    Returns:
        the split with noise applied, :func:`~recdenoise.data.prepare_data`'s ``info`` and
        :func:`~recdenoise.data.noise.add_noise`'s summary.

    Raises:
        ConfigError: an unknown ``data.options`` key (the message lists the valid keys), an
            option of the wrong type (it names the key and the expected type), or a noise
            protocol the data cannot support.
    """
    _check_noise(data, noise)
    dataset: str | LoadedDataset = data.dataset
    options = dict(data.options)  # a registered dataset's: checked by load_dataset before any file is read
    if is_table_path(data.dataset):  # any CSV/TSV/Parquet with a column mapping in data.options
        table = parse_options(TableOptions, options, f"table file {data.dataset!r}")
        dataset, options = read_table(data.dataset, **dataclasses.asdict(table)), {}
    split, info = prepare_data(
        dataset,
        data.data_dir,
        split=data.split,
        ratios=data.ratios,
        rating_threshold=data.rating_threshold,
        k_core=data.k_core,
        seed=seed if data.split_seed is None else data.split_seed,
        download=data.download,
        cache_dir=data.cache_dir,
        options=options,
    )
    if noise.kind == "natural" and split.train.ratings is None:
        raise ConfigError(f"natural noise needs ratings, and dataset {data.dataset!r} has none; use --noise-kind injected")
    valid = "noisy" if noise.valid == "both" else noise.valid  # both: the run takes its clean view (experiment.protocol_views)
    split, summary = add_noise(split, noise.kind, noise.ratio, noise.threshold, seed, valid=valid)
    if noise.valid == "both" and "valid" in summary:
        summary["valid"] = "both"
    return split, info, summary


def _check_noise(data: DataConfig, noise: NoiseConfig) -> None:
    if noise.kind == "injected" and noise.ratio <= 0:
        raise ConfigError("noise kind 'injected' needs a ratio > 0 (e.g. --noise-ratio 0.2)")
    if noise.kind == "natural" and data.rating_threshold is not None:
        raise ConfigError(
            "natural noise keeps low ratings as noisy positives: it cannot be combined with "
            f"data.rating_threshold={data.rating_threshold}; set noise.threshold instead"
        )

