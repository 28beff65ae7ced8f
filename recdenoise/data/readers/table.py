"""Any interaction table (CSV, TSV or Parquet) with a column mapping: :func:`read_table`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ...errors import DataError
from ..preprocess import dedupe
from .dataset import LoadedDataset, build_interactions
from .delimited import check_file, read_delimited, row_line, sep_name, show_value

__all__ = ["TableOptions", "read_table"]


@dataclass(frozen=True)
class TableOptions:
    """Options of :func:`read_table` (``--data-option`` keys when the dataset is a file path).

    Attributes:
        user_col, item_col, rating_col, timestamp_col: column names (``None``: no such column).
        sep: field separator of a text file (default ``","`` for csv, tab for tsv).
        format: ``"csv"``, ``"tsv"`` or ``"parquet"``; ``None``: from the file suffix.
        names: column names of a header-less text file.
        encoding: text encoding.
        name: dataset name (``None``: the file stem).
    """

    user_col: str = "user"
    item_col: str = "item"
    rating_col: str | None = None
    timestamp_col: str | None = None
    sep: str | None = None
    format: str | None = None  # noqa: A003 (mirrors pandas' vocabulary)
    names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    name: str | None = None


_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(
    path: str | Path,
    user_col: str,
    item_col: str,
    rating_col: str | None = TableOptions.rating_col,
    timestamp_col: str | None = TableOptions.timestamp_col,
    sep: str | None = TableOptions.sep,
    format: str | None = TableOptions.format,  # noqa: A002 (mirrors pandas' vocabulary)
    *,
    names: Sequence[str] | None = TableOptions.names,
    encoding: str = TableOptions.encoding,
    name: str | None = TableOptions.name,
) -> LoadedDataset:
    """Any interaction table (CSV, TSV or Parquet) with a column mapping.

    Raw ids may be integers or strings; they are remapped to contiguous indices in sorted
    order. Timestamps may be numbers (unix seconds) or date strings (converted to unix
    seconds, UTC). Duplicate (user, item) rows are dropped with a warning, keeping the
    latest by timestamp (else the last row).

    Args:
        path: the file.
        user_col, item_col, rating_col, timestamp_col: column names.
        sep: field separator for text files (default ``","`` for csv, tab for tsv).
        format: ``"csv"``, ``"tsv"`` or ``"parquet"``; default from the file suffix.
        names: column names for a header-less text file.
        name: dataset name (default: the file stem).

    Shapes:
        ``interactions``: ``N`` rows (one per distinct pair) over ``(#users, #items)``.
    """
    path = Path(path)
    fmt = format or _FORMATS.get(path.suffix.lower()) or ("csv" if sep is not None else None)
    if fmt not in ("csv", "tsv", "parquet"):
        raise DataError(
            f"cannot tell the table format (format={format!r}, suffix {path.suffix!r}); pass "
            "format='csv' | 'tsv' | 'parquet' or sep=...",
            path,
        )
    columns = [c for c in (user_col, item_col, rating_col, timestamp_col) if c is not None]
    if fmt == "parquet":
        df = _read_parquet(path, columns)
        lines_known = False
    else:
        sep = sep if sep is not None else ("," if fmt == "csv" else "\t")
        df = read_delimited(
            path, sep, names, required=columns, numeric=[rating_col] if rating_col else [], quoted=True,
            encoding=encoding, fmt=f"{sep_name(sep)}-separated with columns {columns}",
        )  # fmt: skip
        lines_known = True
    renames = {user_col: "user", item_col: "item", rating_col: "rating", timestamp_col: "timestamp"}
    df = df[columns].rename(columns=renames)
    if timestamp_col is not None:
        df["timestamp"] = _to_unix_seconds(df["timestamp"], path, names is None, encoding, lines_known)
    df = dedupe(df, "user", "item", "timestamp" if timestamp_col else None, source=path)
    x = build_interactions(df, rating_col is not None, timestamp_col is not None)
    return LoadedDataset(name or path.stem.split(".")[0], x, None, [path])


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    path = check_file(path)
    try:
        df = pd.read_parquet(path)
    except ImportError as exc:  # pragma: no cover - pyarrow is a test dependency
        raise DataError("reading Parquet needs pyarrow: pip install 'recdenoise[parquet]'", path) from exc
    except Exception as exc:  # pyarrow raises its own error types
        raise DataError(f"not a readable Parquet file ({exc})", path) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(df.columns)}", path)
    if len(df) == 0:
        raise DataError("table has no rows", path)
    empty = df[columns].isna().to_numpy()
    if empty.any():
        row, col = (int(v[0]) for v in np.nonzero(empty))
        raise DataError(f"row {row}: empty {columns[col]!r} value", path)
    return df


def _to_unix_seconds(values: pd.Series, path: Path, header: bool, encoding: str, lines_known: bool) -> pd.Series:
    """Numbers pass through as int64 seconds; date strings are parsed (UTC)."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(np.int64)
    if pd.api.types.is_datetime64_any_dtype(values):
        return _epoch_seconds(pd.to_datetime(values, utc=True))
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(np.int64)
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    neither = (parsed.isna() & numbers.isna()).to_numpy()
    if neither.any() or parsed.isna().any():
        row = int(np.flatnonzero(neither if neither.any() else parsed.isna().to_numpy())[0])
        line = row_line(path, row, header, encoding)[0] if lines_known else None
        where = "" if lines_known else f"row {row}: "
        problem = "is neither a number nor a date" if neither.any() else "is a number but other rows hold dates"
        raise DataError(f"{where}timestamp {show_value(values.iloc[row])} {problem}", path, line)
    return _epoch_seconds(parsed)


def _epoch_seconds(stamps: pd.Series) -> pd.Series:
    # via a Timedelta: pandas 3 may store microseconds rather than nanoseconds
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype(np.int64)
