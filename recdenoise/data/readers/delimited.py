"""Delimited text files: one validating parser over the pandas C engine.

:func:`read_delimited` reads a header-less or headed file with the pandas C engine and
validates columns; a line-by-line Python scan runs only after a fast parse has failed, to
name the offending line in the :class:`~recdenoise.errors.DataError` (``u.data:1: expected 4
tab-separated fields, found 1; is the separator ','?``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ...errors import DataError

__all__ = ["check_file", "read_delimited", "row_line", "sep_name", "show_value"]

_SEP_NAMES = {"\t": "tab", ",": "comma", "|": "'|'", "::": "'::'", ";": "semicolon", " ": "space"}
_SEP_CANDIDATES = ("\t", ",", "::", "|", ";", " ")
_UNIT_SEP = "\x1f"  # stands in for multi-character separators: the C engine takes one character


def show_value(value: object) -> str:
    """``repr`` of a value with numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def sep_name(sep: str) -> str:
    return _SEP_NAMES.get(sep, repr(sep))


def check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found; check the path (or the dataset folder layout)", path)
    if path.stat().st_size == 0:
        raise DataError("file is empty; re-download or re-extract it", path)
    return path


def _iter_lines(path: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """``(1-based line number, line without newline)``; only used on error paths."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        for number, line in enumerate(fh, 1):
            yield number, line.rstrip("\r\n")


def _split_fields(line: str, sep: str, quoted: bool) -> list[str]:
    if quoted and len(sep) == 1:
        return next(csv.reader([line], delimiter=sep))
    return line.split(sep)


def _guess_separator(line: str, expected: int, current: str) -> str | None:
    for cand in _SEP_CANDIDATES:
        if cand != current and len(line.split(cand)) == expected:
            return cand
    return None


def _fields_error(path: Path, lineno: int, line: str, sep: str, expected: int, found: int, fmt: str) -> DataError:
    msg = f"expected {expected} {sep_name(sep)}-separated fields, found {found}"
    guess = _guess_separator(line, expected, sep)
    if guess is not None:
        msg += f"; is the separator {guess!r}?"
    msg += f" (expected format: {fmt})" if fmt else " (fix or remove the line)"
    return DataError(msg, path, lineno)


def _first_bad_field_count(
    path: Path, sep: str, expected: int | None, header: bool, encoding: str, quoted: bool, fmt: str
) -> DataError | None:
    """Scan for the first non-blank line whose field count differs from ``expected``."""
    for lineno, line in _iter_lines(path, encoding):
        if not line:
            continue
        fields = _split_fields(line, sep, quoted)
        if header:
            header, expected = False, len(fields) if expected is None else expected
            continue
        if len(fields) != expected:
            return _fields_error(path, lineno, line, sep, expected, len(fields), fmt)
    return None


def row_line(path: Path, row: int, header: bool, encoding: str) -> tuple[int, str]:
    """Translate a pandas data-row position into ``(1-based line number, line text)``.

    pandas skips empty lines, so rows and lines differ by the header and any blank lines.
    """
    count = -1 if header else 0
    for lineno, line in _iter_lines(path, encoding):
        if not line:
            continue
        if count == row:
            return lineno, line
        count += 1
    return row + 1 + int(header), ""


def read_delimited(
    path: str | Path,
    sep: str,
    names: Sequence[str] | None = None,
    *,
    required: Sequence[str] | None = None,
    integer: Sequence[str] = (),
    numeric: Sequence[str] = (),
    text: Sequence[str] = (),
    encoding: str = "utf-8",
    quoted: bool = False,
    fmt: str = "",
) -> pd.DataFrame:
    """Read a delimited file with the pandas C engine and validate it.

    Args:
        names: column names of a header-less file; ``None`` = the first line is a header.
        required: columns that must be present and non-empty (default: all of ``names``).
        integer / numeric: columns converted to ``int64`` / ``float64`` (bad values -> DataError).
        text: columns kept as strings (e.g. zip codes).
        quoted: honour CSV quoting (``"a, b"``); otherwise quotes are literal characters.
        fmt: the expected layout, quoted in error messages.

    Shapes:
        returns ``[R, C]``: one row per non-blank data line, columns named.
    """
    src = _Source(check_file(path), sep, None if names is None else list(names), encoding, quoted, fmt)
    required = list(names if required is None and names is not None else (required or []))
    df = _name_columns(_parse(src, text), src, required)
    _check_required(df, src, required)
    for col in list(integer) + list(numeric):
        if col in df.columns:
            df[col] = _to_numbers(df[col], src, integer=col in integer)
    return df


@dataclass(frozen=True)
class _Source:
    """A delimited file and its expected layout: what every check needs to name a line."""

    path: Path
    sep: str
    names: list[str] | None  # None: the first line is a header
    encoding: str
    quoted: bool
    fmt: str

    @property
    def header(self) -> bool:
        return self.names is None

    def bad_field_count(self, expected: int | None) -> DataError | None:
        return _first_bad_field_count(self.path, self.sep, expected, self.header, self.encoding, self.quoted, self.fmt)

    def line(self, row: int) -> tuple[int, str]:
        return row_line(self.path, row, self.header, self.encoding)


def _parse(src: _Source, text: Sequence[str]) -> pd.DataFrame:
    """The pandas C-engine parse; its failures become :class:`DataError` naming the line."""
    names = src.names
    dtype = {c: str for c in text} if names is None else {i: str for i, c in enumerate(names) if c in text}
    engine_sep, source = src.sep, src.path
    try:
        if len(src.sep) > 1:
            text_ = src.path.read_text(encoding=src.encoding).replace(src.sep, _UNIT_SEP)
            source, engine_sep = io.StringIO(text_), _UNIT_SEP
        return pd.read_csv(
            source,
            sep=engine_sep,
            header=0 if src.header else None,
            engine="c",
            encoding=src.encoding,
            quoting=csv.QUOTE_MINIMAL if src.quoted else csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=[""],
            dtype=dtype or None,
            index_col=False,
        )
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not valid {src.encoding} text ({exc.reason} at byte {exc.start}); is the file corrupt or in another "
            "encoding (MovieLens .dat/.item files are latin-1)?",
            src.path,
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError("file has no data rows; re-download or re-extract it", src.path) from exc
    except pd.errors.ParserError as exc:
        expected = None if names is None else len(names)
        raise (src.bad_field_count(expected) or DataError(f"cannot parse the file: {exc}", src.path)) from exc


def _name_columns(df: pd.DataFrame, src: _Source, required: list[str]) -> pd.DataFrame:
    """Header columns checked against ``required``, or ``names`` given to a header-less file."""
    sep, names = src.sep, src.names
    if names is None:
        df.columns = [str(c).strip() for c in df.columns]
        missing = [c for c in required if c not in df.columns]
        if missing:
            msg = f"missing column(s) {missing}; found {list(df.columns)}"
            if len(df.columns) == 1 and (guess := _guess_separator(df.columns[0], len(required), sep)):
                msg += f"; is the separator {guess!r} rather than {sep!r}?"
            raise DataError(msg, src.path, 1)
    elif df.shape[1] != len(names):
        raise src.bad_field_count(len(names)) or DataError(
            f"expected {len(names)} {sep_name(sep)}-separated fields, found {df.shape[1]} ({src.fmt})", src.path
        )
    else:
        df.columns = list(names)
    if len(df) == 0:
        raise DataError("file has a header but no data rows", src.path)
    return df


def _check_required(df: pd.DataFrame, src: _Source, required: list[str]) -> None:
    """An empty required field is a short line (wrong separator?) or a missing value."""
    if not required or not (empty := df[required].isna().to_numpy()).any():
        return
    row, col = (int(v[0]) for v in np.nonzero(empty))
    lineno, line = src.line(row)
    n_fields = len(_split_fields(line, src.sep, src.quoted))
    expected = len(df.columns) if src.names is None else len(src.names)
    if n_fields != expected:
        raise _fields_error(src.path, lineno, line, src.sep, expected, n_fields, src.fmt)
    raise DataError(f"empty {required[col]!r} field", src.path, lineno)


def _to_numbers(values: pd.Series, src: _Source, integer: bool) -> pd.Series:
    """A column as ``int64`` (nullable ``Int64`` when it has gaps) or ``float64``; a bad value names its line."""
    col, raw = values.name, values
    if not pd.api.types.is_numeric_dtype(values):
        converted = pd.to_numeric(values, errors="coerce")
        bad = (converted.isna() & values.notna()).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            guess = _guess_separator(str(values.iloc[row]), 2, src.sep)
            hint = f"; is the separator {guess!r}?" if guess else ""
            raise DataError(f"{col} value {show_value(values.iloc[row])} is not a number{hint}", src.path, src.line(row)[0])
        values = converted
    floats = values.to_numpy(dtype=float, na_value=0.0)
    present = values.notna().to_numpy()
    infinite = present & ~np.isfinite(floats)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{col} value {show_value(raw.iloc[row])} is not a finite number", src.path, src.line(row)[0])
    if not integer:
        return values.astype(np.float64)
    # ids beyond int64 would wrap around (two of them could merge users): refuse them
    if values.dtype == np.uint64:
        outside = values.to_numpy() > np.iinfo(np.int64).max
    elif pd.api.types.is_float_dtype(values):
        outside = present & ((floats >= 2.0**63) | (floats < -(2.0**63)))
    else:
        outside = np.zeros(len(values), dtype=bool)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(f"{col} value {show_value(raw.iloc[row])} does not fit a 64-bit integer", src.path, src.line(row)[0])
    frac = present & (floats % 1 != 0)
    if frac.any():
        row = int(np.flatnonzero(frac)[0])
        raise DataError(f"{col} value {show_value(values.iloc[row])} is not an integer", src.path, src.line(row)[0])
    return values.astype(np.int64) if values.notna().all() else values.astype("Int64")
