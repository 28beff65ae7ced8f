"""MovieLens readers: 100K (``u.data``), 1M (``ratings.dat``) and latest(-small) (``ratings.csv``).

Each returns every rating as one :class:`~recdenoise.data.Interactions` table over a
contiguous id space (raw ids remapped in sorted order, kept in ``user_ids`` / ``item_ids``)
with ratings, timestamps and the titles / genres / demographics as side information.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError, DatasetNotFoundError
from ..interactions import Interactions, Split
from ..preprocess import dedupe
from .dataset import LoadedDataset, build_interactions
from .delimited import read_delimited, row_line, show_value
from .published_splits import read_lightgcn_split

__all__ = [
    "MovieLens100KOptions",
    "MovieLens1MOptions",
    "MovieLensLatestOptions",
    "read_movielens_100k",
    "read_movielens_1m",
    "read_movielens_latest",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MovieLens100KOptions:
    """Options of :func:`read_movielens_100k`.

    Attributes:
        fold: ``"u1"``..``"u5"``, ``"ua"``, ``"ub"``: attach that official fold as the
            predefined split; ``None``: no predefined split.
    """

    fold: str | None = None


@dataclass(frozen=True)
class MovieLens1MOptions:
    """Options of :func:`read_movielens_1m`.

    Attributes:
        fallback_to_split: read the LightGCN++ split when ``ratings.dat`` is missing.
    """

    fallback_to_split: bool = False


@dataclass(frozen=True)
class MovieLensLatestOptions:
    """Options of :func:`read_movielens_latest` (it has none)."""


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
    df = read_delimited(
        path, sep, _RATING_COLUMNS, integer=["user", "item", "timestamp"], numeric=["rating"],
        encoding=encoding, fmt=fmt,
    )  # fmt: skip
    return dedupe(df, "user", "item", "timestamp", source=path)


def read_movielens_100k(
    folder: str | Path, *, fold: str | None = MovieLens100KOptions.fold, name: str = "ml-100k"
) -> LoadedDataset:
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
        items = read_delimited(
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
        users = read_delimited(
            user_path, "|", ["user_id", "age", "gender", "occupation", "zip"], integer=["user_id", "age"],
            text=["gender", "occupation", "zip"], encoding="latin-1", fmt="id|age|gender|occupation|zip",
        )  # fmt: skip
        user_info = (users, user_path)
        files.append(user_path)
    else:
        logger.warning("%s not found: no user side information", user_path)
    x = build_interactions(ratings, True, True, user_info, item_info)

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


def read_movielens_1m(
    folder: str | Path, *, name: str = "ml-1m", fallback_to_split: bool = MovieLens1MOptions.fallback_to_split
) -> LoadedDataset:
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
        movies = read_delimited(
            movie_path, "::", ["item_id", "title", "genres"], required=["item_id", "title"], integer=["item_id"],
            text=["title", "genres"], encoding="latin-1", fmt="MovieID::Title::Genres",
        )  # fmt: skip
        movies["year"] = _year_from_title(movies["title"])
        item_info = (movies[["item_id", "title", "year", "genres"]], movie_path)
        files.append(movie_path)
    if (user_path := folder / "users.dat").is_file():
        users = read_delimited(
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
    return LoadedDataset(name, build_interactions(ratings, True, True, user_info, item_info), None, files)


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
    df = read_delimited(
        data_path, ",", None, required=["userId", "movieId", "rating", "timestamp"],
        integer=["userId", "movieId", "timestamp"], numeric=["rating"], quoted=True,
        fmt="header userId,movieId,rating,timestamp",
    )  # fmt: skip
    df = df.rename(columns={"userId": "user", "movieId": "item"})
    df = dedupe(df, "user", "item", "timestamp", source=data_path)
    files = [data_path]
    item_info = None
    if (movie_path := folder / "movies.csv").is_file():
        movies = read_delimited(
            movie_path, ",", None, required=["movieId", "title"], integer=["movieId"], text=["title", "genres"],
            quoted=True, fmt="header movieId,title,genres",
        )  # fmt: skip
        movies = movies.rename(columns={"movieId": "item_id"})
        movies["year"] = _year_from_title(movies["title"].str.strip())
        movies["genres"] = movies["genres"].fillna("").replace("(no genres listed)", "")
        item_info = (movies[["item_id", "title", "year", "genres"]], movie_path)
        files.append(movie_path)
    return LoadedDataset(name, build_interactions(df, True, True, None, item_info), None, files)


def _year_from_title(titles: pd.Series) -> pd.Series:
    """``"Toy Story (1995)" -> 1995`` (nullable ``Int64``; missing when no ``(yyyy)`` suffix)."""
    return pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype("Int64")



def _map_into(df: pd.DataFrame, x: Interactions, path: Path, data_file: str) -> Interactions:
    """Map a raw-id ``user, item, rating, timestamp`` frame (a split file) into ``x``'s id space."""
    codes = {}
    for col, space in (("user", x.user_ids), ("item", x.item_ids)):
        idx = pd.Index(space).get_indexer(df[col].to_numpy())
        if (bad := idx < 0).any():
            row = int(np.flatnonzero(bad)[0])
            lineno, _ = row_line(path, row, False, "utf-8")
            raise DataError(
                f"{col} id {show_value(df[col].iloc[row])} does not occur in {data_file}: this split file does not "
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

