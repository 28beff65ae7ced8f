"""Data: interactions (users-as-rows CSR + id maps + side info), readers, splits, registry.

Typical use::

    from recdenoise.data import prepare_data
    split, info = prepare_data("ml-100k", data_dir="~/datasets")   # ratio 0.8/0.1/0.1, seed 0
"""

from .download import DownloadSpec, extract_zip, fetch, resolve_cache_dir
from .interactions import Interactions, Split
from .preprocess import DuplicateInteractionsWarning, compact, dedupe, k_core, to_implicit
from .readers import (
    LightGCNSplitOptions,
    LoadedDataset,
    MovieLens1MOptions,
    MovieLens100KOptions,
    MovieLensLatestOptions,
    NetflixLLMRecOptions,
    TableOptions,
    read_lightgcn_split,
    read_movielens_1m,
    read_movielens_100k,
    read_movielens_latest,
    read_netflix_llmrec,
    read_table,
)
from .registry import (
    Manifest,
    VerifyReport,
    dataset_options,
    describe_dataset,
    get_manifest,
    list_datasets,
    load_dataset,
    locate_dataset,
    prepare_data,
    verify_dataset,
)
from .split import leave_one_out, predefined, ratio_split, split_dataset, temporal_split
from .synthetic import SyntheticOptions, make_synthetic

__all__ = [
    "Interactions",
    "Split",
    "LoadedDataset",
    "read_movielens_100k",
    "read_movielens_1m",
    "read_movielens_latest",
    "read_lightgcn_split",
    "read_netflix_llmrec",
    "read_table",
    "DuplicateInteractionsWarning",
    "dedupe",
    "to_implicit",
    "k_core",
    "compact",
    "ratio_split",
    "leave_one_out",
    "temporal_split",
    "predefined",
    "split_dataset",
    "make_synthetic",
    "DownloadSpec",
    "fetch",
    "extract_zip",
    "resolve_cache_dir",
    "Manifest",
    "VerifyReport",
    "list_datasets",
    "get_manifest",
    "describe_dataset",
    "locate_dataset",
    "load_dataset",
    "verify_dataset",
    "prepare_data",
    "dataset_options",
    "MovieLens100KOptions",
    "MovieLens1MOptions",
    "MovieLensLatestOptions",
    "LightGCNSplitOptions",
    "NetflixLLMRecOptions",
    "TableOptions",
    "SyntheticOptions",
]
