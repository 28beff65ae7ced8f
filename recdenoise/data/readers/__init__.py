"""Readers: raw dataset files -> :class:`LoadedDataset`.

Each reader parses one on-disk format and returns every interaction in the files as one
:class:`~recdenoise.data.Interactions` table over a contiguous id space, plus the files'
own train/valid/test split when the format ships one. Each has a frozen options dataclass
(``*Options``), the one place its defaults live (see :mod:`recdenoise.data.options`).

Modules:

- :mod:`.delimited`: the validating delimited-text parser behind the text formats,
- :mod:`.movielens`: MovieLens-100K, MovieLens-1M, MovieLens latest(-small),
- :mod:`.published_splits`: the LightGCN text format and the LLMRec JSON format,
- :mod:`.table`: any CSV / TSV / Parquet table through :func:`read_table`.
"""

from .dataset import LoadedDataset
from .movielens import (
    MovieLens1MOptions,
    MovieLens100KOptions,
    MovieLensLatestOptions,
    read_movielens_1m,
    read_movielens_100k,
    read_movielens_latest,
)
from .published_splits import (
    LightGCNSplitOptions,
    NetflixLLMRecOptions,
    read_lightgcn_file,
    read_lightgcn_split,
    read_netflix_llmrec,
)
from .table import TableOptions, read_table

__all__ = [
    "LoadedDataset",
    "read_movielens_100k",
    "read_movielens_1m",
    "read_movielens_latest",
    "read_lightgcn_file",
    "read_lightgcn_split",
    "read_netflix_llmrec",
    "read_table",
    "MovieLens100KOptions",
    "MovieLens1MOptions",
    "MovieLensLatestOptions",
    "LightGCNSplitOptions",
    "NetflixLLMRecOptions",
    "TableOptions",
]
