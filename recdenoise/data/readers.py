"""Readers: raw dataset files -> :class:`LoadedDataset`.

Each reader parses one on-disk format and returns every interaction in the files as one
:class:`~recdenoise.data.Interactions` table over a contiguous id space (raw ids remapped
in sorted order and kept in ``user_ids`` / ``item_ids``; side information aligned row by
row in ``user_info`` / ``item_info``), plus the files' own train/valid/test split when the
format ships one.

Formats:

- MovieLens-100K (``u.data``, ``u.item``, ``u.user``; optional ``u1..u5/ua/ub`` folds),
- MovieLens-1M (``ratings.dat``, ``movies.dat``, ``users.dat``; ``::``-separated),
- MovieLens latest(-small) (``ratings.csv``, ``movies.csv``),
- the LightGCN text format ``user item item ...`` (``train.txt``/``valid.txt``/``test.txt``:
  Gowalla and the ML-1M split of LightGCN++),
- the LLMRec JSON format ``{"user": [item, ...]}`` (``train.json``/``val.json``/``test.json``),
- any CSV / TSV / Parquet table through :func:`read_table`.

Parsing goes through the pandas C engine or ``numpy.fromstring``; a line-by-line Python scan
runs only after a fast parse has failed, to name the offending line in the
:class:`~recdenoise.errors.DataError`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, DatasetNotFoundError
from .interactions import Interactions, Split
from .preprocess import DuplicateInteractionsWarning, dedupe

__all__ = [
    "LoadedDataset",
    "read_movielens_100k",
    "read_movielens_1m",
    "read_movielens_latest",
    "read_lightgcn_file",
    "read_lightgcn_split",
    "read_netflix_llmrec",
    "read_table",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class LoadedDataset:
    """A dataset as read from disk.

    Attributes:
        name: dataset name (registry name, or the file stem for :func:`read_table`).
        interactions: every interaction in the files, ``N`` rows over ``(U, I)``; raw
            ratings / timestamps kept when the format has them.
        predefined: the files' own train/valid/test split over the same ``(U, I)``, or ``None``.
        files: the files that were read.
    """

    name: str
    interactions: Interactions
    predefined: Split | None = None
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.predefined is not None and self.predefined.train.shape != self.interactions.shape:
            raise DataError(
                f"dataset {self.name!r}: predefined split id space {self.predefined.train.shape} differs from "
                f"the interactions' {self.interactions.shape}"
            )

    def describe(self) -> dict:
        """Counts of the whole table (and of the predefined split, if any) as a plain dict."""
        out = {"name": self.name, **self.interactions.describe()}
        if self.predefined is not None:
            out["predefined"] = {k: len(getattr(self.predefined, k)) for k in ("train", "valid", "test")}
        return out


# ====================================================================== delimited text
_SEP_NAMES = {"\t": "tab", ",": "comma", "|": "'|'", "::": "'::'", ";": "semicolon", " ": "space"}
_SEP_CANDIDATES = ("\t", ",", "::", "|", ";", " ")
_UNIT_SEP = "\x1f"  # stands in for multi-character separators: the C engine takes one character


def _show(value: object) -> str:
    """``repr`` of a value with numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _sep_name(sep: str) -> str:
    return _SEP_NAMES.get(sep, repr(sep))


def _check_file(path: str | Path) -> Path:
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
    msg = f"expected {expected} {_sep_name(sep)}-separated fields, found {found}"
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


def _row_line(path: Path, row: int, header: bool, encoding: str) -> tuple[int, str]:
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


def _read_delimited(
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
    path = _check_file(path)
    header = names is None
    required = list(names if required is None and names is not None else (required or []))
    dtype = {c: str for c in text} if header else {i: str for i, c in enumerate(names) if c in text}
    engine_sep: str = sep
    source: object = path
    try:
        if len(sep) > 1:
            source, engine_sep = io.StringIO(path.read_text(encoding=encoding).replace(sep, _UNIT_SEP)), _UNIT_SEP
        df = pd.read_csv(
            source,
            sep=engine_sep,
            header=0 if header else None,
            engine="c",
            encoding=encoding,
            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=[""],
            dtype=dtype or None,
            index_col=False,
        )
    except UnicodeDecodeError as exc:
        raise DataError(
            f"not valid {encoding} text ({exc.reason} at byte {exc.start}); is the file corrupt or in another "
            "encoding (MovieLens .dat/.item files are latin-1)?",
            path,
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError("file has no data rows; re-download or re-extract it", path) from exc
    except pd.errors.ParserError as exc:
        expected = None if header else len(names)
        raise (
            _first_bad_field_count(path, sep, expected, header, encoding, quoted, fmt)
            or DataError(f"cannot parse the file: {exc}", path)
        ) from exc

    if header:
        df.columns = [str(c).strip() for c in df.columns]
        missing = [c for c in required if c not in df.columns]
        if missing:
            msg = f"missing column(s) {missing}; found {list(df.columns)}"
            if len(df.columns) == 1 and (guess := _guess_separator(df.columns[0], len(required), sep)):
                msg += f"; is the separator {guess!r} rather than {sep!r}?"
            raise DataError(msg, path, 1)
    elif df.shape[1] != len(names):
        raise _first_bad_field_count(path, sep, len(names), False, encoding, quoted, fmt) or DataError(
            f"expected {len(names)} {_sep_name(sep)}-separated fields, found {df.shape[1]} ({fmt})", path
        )
    else:
        df.columns = list(names)
    if len(df) == 0:
        raise DataError("file has a header but no data rows", path)

    if required and (empty := df[required].isna().to_numpy()).any():
        row, col = (int(v[0]) for v in np.nonzero(empty))
        lineno, line = _row_line(path, row, header, encoding)
        n_fields = len(_split_fields(line, sep, quoted))
        expected = len(names) if not header else len(df.columns)
        if n_fields != expected:
            raise _fields_error(path, lineno, line, sep, expected, n_fields, fmt)
        raise DataError(f"empty {required[col]!r} field", path, lineno)

    for col in list(integer) + list(numeric):
        if col not in df.columns:
            continue
        values = df[col]
        if not pd.api.types.is_numeric_dtype(values):
            converted = pd.to_numeric(values, errors="coerce")
            bad = (converted.isna() & values.notna()).to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                lineno, _ = _row_line(path, row, header, encoding)
                guess = _guess_separator(str(values.iloc[row]), 2, sep)
                hint = f"; is the separator {guess!r}?" if guess else ""
                raise DataError(f"{col} value {_show(values.iloc[row])} is not a number{hint}", path, lineno)
            values = converted
        if col in integer:
            frac = values.notna().to_numpy() & (values.to_numpy(dtype=float, na_value=0.0) % 1 != 0)
            if frac.any():
                row = int(np.flatnonzero(frac)[0])
                lineno, _ = _row_line(path, row, header, encoding)
                raise DataError(f"{col} value {_show(values.iloc[row])} is not an integer", path, lineno)
            values = values.astype(np.int64) if values.notna().all() else values.astype("Int64")
        else:
            values = values.astype(np.float64)
        df[col] = values
    return df


# ====================================================================== side information
def _align_info(info: pd.DataFrame, key: str, ids: np.ndarray, source: Path) -> pd.DataFrame:
    """One row per raw id in ``ids`` (contiguous-index order); ``key`` keeps the raw id."""
    info = info.drop_duplicates(key, keep="last").set_index(key)
    missing = ~np.isin(ids, info.index.to_numpy())
    if missing.any():
        warnings.warn(
            f"{source}: {int(missing.sum())} of {len(ids)} {key}s used by the interactions have no row here "
            f"(e.g. {ids[missing][:3].tolist()}); their side information is left empty",
            stacklevel=3,
        )
    out = info.reindex(ids).reset_index(drop=True)
    out.insert(0, key, ids)
    return out


def _year_from_title(titles: pd.Series) -> pd.Series:
    """``"Toy Story (1995)" -> 1995`` (nullable ``Int64``; missing when no ``(yyyy)`` suffix)."""
    return pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype("Int64")


def _build(
    df: pd.DataFrame,
    rating: bool,
    timestamp: bool,
    user_info: tuple[pd.DataFrame, Path] | None = None,
    item_info: tuple[pd.DataFrame, Path] | None = None,
) -> Interactions:
    """Interactions from a deduplicated ``user, item[, rating][, timestamp]`` frame of raw ids."""
    x = Interactions.from_dataframe(
        df, "user", "item", "rating" if rating else None, "timestamp" if timestamp else None
    )
    changes = {}
    if user_info is not None:
        changes["user_info"] = _align_info(user_info[0], "user_id", x.user_ids, user_info[1])
    if item_info is not None:
        changes["item_info"] = _align_info(item_info[0], "item_id", x.item_ids, item_info[1])
    return x.replace(**changes) if changes else x


def _map_into(df: pd.DataFrame, x: Interactions, path: Path, data_file: str) -> Interactions:
    """Map a raw-id ``user, item, rating, timestamp`` frame (a split file) into ``x``'s id space."""
    codes = {}
    for col, space in (("user", x.user_ids), ("item", x.item_ids)):
        idx = pd.Index(space).get_indexer(df[col].to_numpy())
        if (bad := idx < 0).any():
            row = int(np.flatnonzero(bad)[0])
            lineno, _ = _row_line(path, row, False, "utf-8")
            raise DataError(
                f"{col} id {_show(df[col].iloc[row])} does not occur in {data_file}: this split file does not "
                "belong to the data (re-extract the dataset)",
                path,
                lineno,
            )
        codes[col] = idx
    return Interactions(
        codes["user"], codes["item"], x.num_users, x.num_items, x.user_ids, x.item_ids,
        ratings=df["rating"].to_numpy(np.float32), timestamps=df["timestamp"].to_numpy(np.int64),
        user_info=x.user_info, item_info=x.item_info,
    )  # fmt: skip


# ====================================================================== MovieLens
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
_ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)  # fmt: skip
_RATING_COLUMNS = ["user", "item", "rating", "timestamp"]


def _read_ratings(path: Path, sep: str, fmt: str, encoding: str = "utf-8") -> pd.DataFrame:
    df = _read_delimited(
        path, sep, _RATING_COLUMNS, integer=["user", "item", "timestamp"], numeric=["rating"],
        encoding=encoding, fmt=fmt,
    )  # fmt: skip
    return dedupe(df, "user", "item", "timestamp", source=path)


def read_movielens_100k(folder: str | Path, *, fold: str | None = None, name: str = "ml-100k") -> LoadedDataset:
    """MovieLens-100K: ``u.data`` ratings with ``u.item`` / ``u.user`` side information.

    ``u.data`` is ``user<TAB>item<TAB>rating<TAB>unix_ts``; ``u.item`` is ``|``-separated
    latin-1 ``id|title|release_date|video_release_date|url|`` + 19 genre flags; ``u.user`` is
    ``id|age|gender|occupation|zip``. ``item_info`` columns: ``item_id, title, year, genres``
    (``|``-joined genre names), ``release_date, imdb_url``; ``user_info``: ``user_id, age,
    gender, occupation, zip``. Missing ``u.item`` / ``u.user`` leave the side information empty.

    Args:
        folder: the extracted ``ml-100k`` folder.
        fold: ``"u1"``..``"u5"``, ``"ua"``, ``"ub"`` to attach that official fold as the
            predefined split (train = ``<fold>.base``, valid empty, test = ``<fold>.test``);
            ``None`` (default): no predefined split.

    Shapes:
        ``interactions``: ``N = 100,000`` rows over ``(943, 1682)`` with ratings and timestamps.
    """
    folder = Path(folder)
    data_path = folder / "u.data"
    ratings = _read_ratings(data_path, "\t", "user<TAB>item<TAB>rating<TAB>unix_timestamp")
    files = [data_path]
    user_info = item_info = None
    if (item_path := folder / "u.item").is_file():
        names = ["item_id", "title", "release_date", "video_release_date", "imdb_url", *_ML100K_GENRES]
        items = _read_delimited(
            item_path, "|", names, required=["item_id"], integer=["item_id", *_ML100K_GENRES],
            text=["title", "release_date", "video_release_date", "imdb_url"], encoding="latin-1",
            fmt="id|title|release_date|video_release_date|url|19 genre flags",
        )  # fmt: skip
        flags = items[list(_ML100K_GENRES)].to_numpy() == 1
        genre_names = np.array(_ML100K_GENRES, dtype=object)
        items["genres"] = ["|".join(genre_names[row]) for row in flags]
        released = pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce")
        items["year"] = released.dt.year.astype("Int64")
        item_info = (items[["item_id", "title", "year", "genres", "release_date", "imdb_url"]], item_path)
        files.append(item_path)
    else:
        logger.warning("%s not found: no item side information", item_path)
    if (user_path := folder / "u.user").is_file():
        users = _read_delimited(
            user_path, "|", ["user_id", "age", "gender", "occupation", "zip"], integer=["user_id", "age"],
            text=["gender", "occupation", "zip"], encoding="latin-1", fmt="id|age|gender|occupation|zip",
        )  # fmt: skip
        user_info = (users, user_path)
        files.append(user_path)
    else:
        logger.warning("%s not found: no user side information", user_path)
    x = _build(ratings, True, True, user_info, item_info)

    predefined = None
    if fold is not None:
        if fold not in _ML100K_FOLDS:
            raise DataError(f"fold={fold!r} is not an ML-100K fold; choose one of {list(_ML100K_FOLDS)}")
        parts = []
        for suffix in ("base", "test"):
            path = folder / f"{fold}.{suffix}"
            parts.append(_map_into(_read_ratings(path, "\t", "user<TAB>item<TAB>rating<TAB>ts"), x, path, "u.data"))
            files.append(path)
        predefined = Split(parts[0], parts[0].subset(np.zeros(0, dtype=np.int64)), parts[1])
    return LoadedDataset(name, x, predefined, files)


def read_movielens_1m(folder: str | Path, *, name: str = "ml-1m", fallback_to_split: bool = False) -> LoadedDataset:
    """MovieLens-1M: ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``) with side information.

    ``movies.dat`` (``MovieID::Title::Genres``, latin-1) gives ``item_info`` columns ``item_id,
    title, year, genres``; ``users.dat`` (``UserID::Gender::Age::Occupation::Zip``) gives
    ``user_info`` columns ``user_id, gender, age`` (the bucket's lower bound: 1 = under 18,
    18, 25, 35, 45, 50, 56+), ``occupation`` (name), ``zip``.

    Args:
        folder: the extracted ``ml-1m`` folder.
        fallback_to_split: when ``ratings.dat`` is missing but ``lightgcnpp_split/`` exists,
            read that split instead (a *different* dataset: ratings >= 3, 0-based ids, no
            side information; see :func:`read_lightgcn_split`). Off by default so that a
            name always means one dataset.

    Shapes:
        ``interactions``: ``N = 1,000,209`` rows over ``(6040, 3706)`` with ratings and timestamps.
    """
    folder = Path(folder)
    data_path = folder / "ratings.dat"
    if not data_path.is_file():
        split_folder = folder / "lightgcnpp_split"
        if fallback_to_split and split_folder.is_dir():
            warnings.warn(
                f"{data_path} is missing; reading the LightGCN++ split in {split_folder} instead "
                "(ML-1M ratings >= 3, 0-based ids, no side information)",
                stacklevel=2,
            )
            return read_lightgcn_split(split_folder, name="ml-1m-split")
        raise DatasetNotFoundError(
            "ratings.dat not found: place ratings.dat (from https://files.grouplens.org/datasets/movielens/ml-1m.zip) "
            f"in {folder}, or use dataset 'ml-1m-split' (the LightGCN++ split in {split_folder})",
            data_path,
        )
    ratings = _read_ratings(data_path, "::", "UserID::MovieID::Rating::Timestamp", encoding="latin-1")
    files = [data_path]
    user_info = item_info = None
    if (movie_path := folder / "movies.dat").is_file():
        movies = _read_delimited(
            movie_path, "::", ["item_id", "title", "genres"], required=["item_id", "title"], integer=["item_id"],
            text=["title", "genres"], encoding="latin-1", fmt="MovieID::Title::Genres",
        )  # fmt: skip
        movies["year"] = _year_from_title(movies["title"])
        item_info = (movies[["item_id", "title", "year", "genres"]], movie_path)
        files.append(movie_path)
    if (user_path := folder / "users.dat").is_file():
        users = _read_delimited(
            user_path, "::", ["user_id", "gender", "age", "occupation", "zip"],
            integer=["user_id", "age", "occupation"], text=["gender", "zip"], encoding="latin-1",
            fmt="UserID::Gender::Age::Occupation::Zip",
        )  # fmt: skip
        occupation = users["occupation"].to_numpy()
        names = np.array(_ML1M_OCCUPATIONS, dtype=object)
        valid = (occupation >= 0) & (occupation < len(names))
        users["occupation"] = np.where(valid, names[np.clip(occupation, 0, len(names) - 1)], None)
        user_info = (users, user_path)
        files.append(user_path)
    return LoadedDataset(name, _build(ratings, True, True, user_info, item_info), None, files)


def read_movielens_latest(folder: str | Path, *, name: str = "ml-latest-small") -> LoadedDataset:
    """MovieLens latest / latest-small: ``ratings.csv`` + ``movies.csv`` (both with a header).

    ``ratings.csv`` is ``userId,movieId,rating,timestamp`` (half-star ratings 0.5-5);
    ``movies.csv`` (``movieId,title,genres``) gives ``item_info`` columns ``item_id, title,
    year, genres`` (``"(no genres listed)"`` becomes ``""``). The item space holds the *rated*
    movies only. There is no user side information.

    Shapes:
        ml-latest-small ``interactions``: ``N = 100,836`` rows over ``(610, 9724)``.
    """
    folder = Path(folder)
    data_path = folder / "ratings.csv"
    df = _read_delimited(
        data_path, ",", None, required=["userId", "movieId", "rating", "timestamp"],
        integer=["userId", "movieId", "timestamp"], numeric=["rating"], quoted=True,
        fmt="header userId,movieId,rating,timestamp",
    )  # fmt: skip
    df = df.rename(columns={"userId": "user", "movieId": "item"})
    df = dedupe(df, "user", "item", "timestamp", source=data_path)
    files = [data_path]
    item_info = None
    if (movie_path := folder / "movies.csv").is_file():
        movies = _read_delimited(
            movie_path, ",", None, required=["movieId", "title"], integer=["movieId"], text=["title", "genres"],
            quoted=True, fmt="header movieId,title,genres",
        )  # fmt: skip
        movies = movies.rename(columns={"movieId": "item_id"})
        movies["year"] = _year_from_title(movies["title"].str.strip())
        movies["genres"] = movies["genres"].fillna("").replace("(no genres listed)", "")
        item_info = (movies[["item_id", "title", "year", "genres"]], movie_path)
        files.append(movie_path)
    return LoadedDataset(name, _build(df, True, True, None, item_info), None, files)


# ====================================================================== split formats
@dataclass
class _Part:
    """One split file parsed to 0-based (user, item) pairs; ``*_where`` locate rows for errors."""

    path: Path
    users: np.ndarray  # int64 [N]
    items: np.ndarray  # int64 [N]
    listed: np.ndarray  # int64 [L] users that have a line / key (possibly with no items)
    pair_lines: np.ndarray | None = None  # int64 [N] 1-based line of each pair (text formats)
    listed_lines: np.ndarray | None = None  # int64 [L]

    def where_pair(self, k: int) -> tuple[int | None, str]:
        if self.pair_lines is not None:
            return int(self.pair_lines[k]), ""
        return None, f" (user key {str(self.users[k])!r})"

    def where_listed(self, k: int) -> tuple[int | None, str]:
        if self.listed_lines is not None:
            return int(self.listed_lines[k]), ""
        return None, f" (user key {str(self.listed[k])!r})"


_LIGHTGCN_FMT = "one line per user: 'user item item ...' separated by spaces, 0-based integer ids"


def read_lightgcn_file(path: str | Path) -> _Part:
    """Parse one LightGCN-format file (``user item item ...`` per line, whitespace-separated).

    Blank lines are skipped; a line holding only a user id lists the user with no items.
    Tokens are parsed in one ``numpy.fromstring`` pass (about 1 s for 1M interactions is the
    budget; Gowalla's 0.75M-token ``train.txt`` takes ~0.05 s).

    Returns:
        a record with ``users``, ``items`` (``int64 [N]``), ``listed`` (``int64 [L]``, the
        user of each non-blank line) and 1-based line numbers ``pair_lines [N]`` /
        ``listed_lines [L]``.
    """
    path = _check_file(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    counts = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    try:
        tokens = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:
        tokens = None
    if tokens is None or tokens.size != counts.sum() or (tokens.size and tokens.min() < 0):
        raise _lightgcn_token_error(path, lines)
    nonblank = counts > 0
    if not nonblank.any():
        raise DataError(f"file has no data lines (expected {_LIGHTGCN_FMT})", path)
    listed_lines = np.flatnonzero(nonblank) + 1
    per_line = counts[nonblank]
    starts = np.cumsum(per_line) - per_line
    listed = tokens[starts]
    is_user = np.zeros(tokens.size, dtype=bool)
    is_user[starts] = True
    return _Part(
        path=path,
        users=np.repeat(listed, per_line - 1),
        items=tokens[~is_user],
        listed=listed,
        pair_lines=np.repeat(listed_lines, per_line - 1),
        listed_lines=listed_lines,
    )


def _lightgcn_token_error(path: Path, lines: list[str]) -> DataError:
    for lineno, line in enumerate(lines, 1):
        for token in line.split():
            if not re.fullmatch(r"\+?\d+", token):
                hint = ""
                for sep in (",", ";", "|", "::"):
                    if sep in token:
                        hint = f"; is the separator {sep!r}? this format is whitespace-separated"
                        break
                msg = f"token {token!r} is not a non-negative integer id{hint} ({_LIGHTGCN_FMT})"
                return DataError(msg, path, lineno)
    return DataError(f"cannot parse the file as {_LIGHTGCN_FMT}", path)


def read_lightgcn_split(
    folder: str | Path,
    *,
    name: str,
    train: str = "train.txt",
    valid: str | None = "valid.txt",
    test: str = "test.txt",
    num_users: int | None = None,
    num_items: int | None = None,
    strict: bool = True,
) -> LoadedDataset:
    """A LightGCN-format split folder (``train.txt``, optional ``valid.txt``, ``test.txt``).

    Ids are 0-based and kept as they are (``user_ids = arange(U)``); there are no ratings,
    timestamps or side information. ``interactions`` is the union of the three files.

    Args:
        num_users, num_items: the published id space. ``None``: the largest id seen in any
            file + 1. With a declared space, an id beyond it is a :class:`DataError`.
        strict: a user listed in ``valid``/``test`` without a ``train`` line is a
            :class:`DataError` (``False``: a warning).

    Shapes:
        Gowalla: train/valid/test ``719,081 / 91,047 / 217,242`` rows over ``(29858, 40981)``.
    """
    folder = Path(folder)
    parts = {"train": read_lightgcn_file(folder / train), "test": read_lightgcn_file(folder / test)}
    if valid is not None and (folder / valid).is_file():
        parts["valid"] = read_lightgcn_file(folder / valid)
    else:
        logger.info("%s has no %s: the validation part is empty", folder, valid)
        parts["valid"] = None
    return _assemble(name, parts, num_users, num_items, strict)


def _read_json_lists(path: Path) -> _Part:
    """``{"<user>": [item, ...]}`` -> pairs. Never touches pickles (LLMRec's ``train_mat``)."""
    path = _check_file(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON ({exc.msg}, column {exc.colno}); re-download the file"
        raise DataError(msg, path, exc.lineno) from exc
    if not isinstance(obj, dict):
        raise DataError(f'expected a JSON object {{"user": [item, ...]}}, found a {type(obj).__name__}', path)
    keys = list(obj)
    bad_key = next((k for k in keys if not re.fullmatch(r"\d+", k)), None)
    if bad_key is not None:
        raise DataError(f"user key {bad_key!r} is not a non-negative integer id", path)
    values = list(obj.values())
    bad_value = next((k for k, v in zip(keys, values) if not isinstance(v, list)), None)
    if bad_value is not None:
        kind = type(obj[bad_value]).__name__
        raise DataError(f"the value of user key {bad_value!r} is a {kind}, expected a list", path)
    flat = list(chain.from_iterable(values))
    bad_item = next((i for i in flat if type(i) is not int or i < 0), None)
    if bad_item is not None:
        user = next(k for k, v in zip(keys, values) if bad_item in v)
        raise DataError(f"item {bad_item!r} of user key {user!r} is not a non-negative integer id", path)
    listed = np.array(keys, dtype=np.int64) if keys else np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    items = np.array(flat, dtype=np.int64) if flat else np.zeros(0, dtype=np.int64)
    return _Part(path=path, users=np.repeat(listed, lengths), items=items, listed=listed)


def read_netflix_llmrec(
    folder: str | Path,
    *,
    name: str = "netflix-llmrec",
    num_users: int | None = None,
    num_items: int | None = None,
    strict: bool = True,
) -> LoadedDataset:
    """The LLMRec Netflix subset: ``train.json`` / ``val.json`` / ``test.json`` (``{"user": [items]}``).

    ``train_mat`` (a pickle holding the same pairs as ``train.json``) is never read:
    unpickling can run code. In the published copy ``val.json`` and ``test.json`` are the
    same file; they are kept as they are (valid == test) and logged.

    Args:
        num_users, num_items: the published id space (13,187 x 17,366); ``None``: the
            largest id seen in any file + 1 (13,187 x 17,364 for the published files).
        strict: a ``val``/``test`` user key absent from ``train.json`` is a
            :class:`DataError` (``False``: a warning).

    Shapes:
        train ``68,933`` rows; valid = test ``1,845`` rows.
    """
    folder = Path(folder)
    parts = {"train": _read_json_lists(folder / "train.json")}
    for part, file in (("valid", "val.json"), ("test", "test.json")):
        parts[part] = _read_json_lists(folder / file)
    if (folder / "val.json").read_bytes() == (folder / "test.json").read_bytes():
        logger.info("%s: val.json and test.json are identical (as published by LLMRec); kept as is", folder)
    return _assemble(name, parts, num_users, num_items, strict)


def _assemble(
    name: str, parts: dict[str, _Part | None], num_users: int | None, num_items: int | None, strict: bool
) -> LoadedDataset:
    """Validate split parts against one id space and build the :class:`LoadedDataset`."""
    present = [p for p in parts.values() if p is not None]
    max_user = max(int(max(p.listed.max(initial=-1), p.users.max(initial=-1))) for p in present)
    max_item = max(int(p.items.max(initial=-1)) for p in present)
    U = max_user + 1 if num_users is None else int(num_users)
    I = max_item + 1 if num_items is None else int(num_items)  # noqa: E741
    for p in present:
        for ids, space, what in ((p.listed, U, "user"), (p.items, I, "item")):
            if (beyond := np.flatnonzero(ids >= space)).size:
                k = int(beyond[0])
                line, key = p.where_listed(k) if what == "user" else p.where_pair(k)
                raise DataError(
                    f"{what} id {int(ids[k])}{key} is outside the {what} id space [0, {space}) of dataset {name!r}; "
                    "the file does not belong to this dataset (or the declared id space is wrong)",
                    p.path,
                    line,
                )
    train = parts["train"]
    for part in ("valid", "test"):
        p = parts[part]
        if p is None:
            continue
        unknown = np.flatnonzero(~np.isin(p.listed, train.listed))
        if unknown.size:
            line, key = p.where_listed(int(unknown[0]))
            msg = (
                f"{unknown.size} {part} user(s) absent from {train.path.name}, e.g. user {int(p.listed[unknown[0]])}"
                f"{key}: the split references users the training data does not know"
            )
            if strict:
                raise DataError(msg + "; remove them or pass strict=False", p.path, line)
            warnings.warn(f"{p.path}: {msg}", stacklevel=3)

    built: dict[str, Interactions] = {}
    for part, p in parts.items():
        if p is None:
            built[part] = Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), U, I)
            continue
        key = p.users * I + p.items
        unique = _sorted_unique(key)
        if unique.size < key.size:
            warnings.warn(
                f"{p.path}: {key.size - unique.size} duplicate (user, item) pairs dropped",
                DuplicateInteractionsWarning,
                stacklevel=3,
            )
        built[part] = Interactions(unique // I, unique % I, U, I)
    for part in ("valid", "test"):
        overlap = int(built["train"].contains(built[part].users, built[part].items).sum())
        if overlap:
            warnings.warn(f"{parts[part].path}: {overlap} pairs also appear in train (leakage)", stacklevel=3)
    everything = _sorted_unique(np.concatenate([b.sorted_keys() for b in built.values()]))
    x = Interactions(everything // I, everything % I, U, I)
    split = Split(built["train"], built["valid"], built["test"])
    return LoadedDataset(name, x, split, [p.path for p in present])


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values; a sort + diff beats ``np.unique``'s hash path on int64 keys."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


# ====================================================================== generic tables
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(
    path: str | Path,
    user_col: str,
    item_col: str,
    rating_col: str | None = None,
    timestamp_col: str | None = None,
    sep: str | None = None,
    format: str | None = None,  # noqa: A002 (mirrors pandas' vocabulary)
    *,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    name: str | None = None,
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
        df = _read_delimited(
            path, sep, names, required=columns, numeric=[rating_col] if rating_col else [], quoted=True,
            encoding=encoding, fmt=f"{_sep_name(sep)}-separated with columns {columns}",
        )  # fmt: skip
        lines_known = True
    renames = {user_col: "user", item_col: "item", rating_col: "rating", timestamp_col: "timestamp"}
    df = df[columns].rename(columns=renames)
    if timestamp_col is not None:
        df["timestamp"] = _to_unix_seconds(df["timestamp"], path, names is None, encoding, lines_known)
    df = dedupe(df, "user", "item", "timestamp" if timestamp_col else None, source=path)
    x = _build(df, rating_col is not None, timestamp_col is not None)
    return LoadedDataset(name or path.stem.split(".")[0], x, None, [path])


def _read_parquet(path: Path, columns: list[str]) -> pd.DataFrame:
    path = _check_file(path)
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
        line = _row_line(path, row, header, encoding)[0] if lines_known else None
        where = "" if lines_known else f"row {row}: "
        problem = "is neither a number nor a date" if neither.any() else "is a number but other rows hold dates"
        raise DataError(f"{where}timestamp {_show(values.iloc[row])} {problem}", path, line)
    return _epoch_seconds(parsed)


def _epoch_seconds(stamps: pd.Series) -> pd.Series:
    # via a Timedelta: pandas 3 may store microseconds rather than nanoseconds
    return ((stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype(np.int64)
