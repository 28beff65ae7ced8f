"""Readers on small generated files: parsing, side information, predefined splits, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recdenoise.data import (
    DuplicateInteractionsWarning,
    read_lightgcn_split,
    read_movielens_1m,
    read_movielens_100k,
    read_movielens_latest,
    read_netflix_llmrec,
    read_table,
)
from recdenoise.data.readers import read_lightgcn_file
from recdenoise.errors import DataError, DatasetNotFoundError

def _flags(*on: int) -> str:
    flags = ["0"] * 19
    for i in on:
        flags[i] = "1"
    return "|".join(flags)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    """Users 10, 20, 30 and items 5, 7, 9 (raw ids), 7 ratings."""
    folder = tmp_path / "ml-100k"
    rows = [(10, 5, 4, 100), (10, 7, 1, 101), (20, 5, 5, 102), (20, 9, 3, 103), (30, 7, 2, 104), (30, 9, 5, 105), (30, 5, 3, 106)]
    write(folder / "u.data", "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    write(
        folder / "u.item",
        f"5|Toy Story (1995)|01-Jan-1995||http://x/5|{_flags(3, 4, 5)}\n"
        f"7|Café Society (1995)|01-Jan-1997||http://x/7|{_flags(8)}\n"
        f"9|unknown||||{_flags(0)}\n"
        f"11|Never Rated (1990)|01-Jan-1990||http://x/11|{_flags(1)}\n",
        encoding="latin-1",
    )
    write(folder / "u.user", "10|24|M|technician|85711\n20|53|F|other|T8H1N\n30|23|M|writer|32067\n")
    write(folder / "u1.base", "10\t5\t4\t100\n20\t5\t5\t102\n20\t9\t3\t103\n30\t7\t2\t104\n30\t9\t5\t105\n")
    write(folder / "u1.test", "10\t7\t1\t101\n30\t5\t3\t106\n")
    return folder


# ====================================================================== MovieLens-100K
def test_ml100k_reads_ratings_ids_and_side_info(ml100k: Path) -> None:
    ds = read_movielens_100k(ml100k)
    x = ds.interactions
    assert ds.name == "ml-100k" and ds.predefined is None
    assert x.shape == (3, 3) and len(x) == 7
    assert x.user_ids.tolist() == [10, 20, 30] and x.item_ids.tolist() == [5, 7, 9]
    assert x.ratings is not None and x.timestamps is not None
    df = x.to_dataframe(raw_ids=True).set_index(["user", "item"])
    assert df.loc[(30, 9), "rating"] == 5 and df.loc[(30, 9), "timestamp"] == 105
    info = x.item_info
    assert info["item_id"].tolist() == [5, 7, 9]  # aligned to the contiguous index, unrated item 11 dropped
    assert info["title"].tolist() == ["Toy Story (1995)", "Café Society (1995)", "unknown"]
    assert info["genres"].tolist() == ["Animation|Children's|Comedy", "Drama", "unknown"]
    assert info["year"].tolist()[:2] == [1995, 1997] and pd.isna(info["year"].iloc[2])
    users = x.user_info
    assert users["user_id"].tolist() == [10, 20, 30]
    assert users["age"].tolist() == [24, 53, 23] and users["gender"].tolist() == ["M", "F", "M"]
    assert users["occupation"].tolist() == ["technician", "other", "writer"]
    assert users["zip"].tolist() == ["85711", "T8H1N", "32067"]  # zip codes stay strings
    assert [p.name for p in ds.files] == ["u.data", "u.item", "u.user"]


def test_ml100k_fold_is_a_predefined_split_in_the_same_id_space(ml100k: Path) -> None:
    ds = read_movielens_100k(ml100k, fold="u1")
    split = ds.predefined
    assert split is not None and split.train.shape == ds.interactions.shape
    assert (len(split.train), len(split.valid), len(split.test)) == (5, 0, 2)
    test = split.test.to_dataframe(raw_ids=True)
    assert sorted(zip(test["user"], test["item"])) == [(10, 7), (30, 5)]
    assert split.train.ratings is not None


def test_ml100k_fold_with_unknown_user_names_the_line(ml100k: Path) -> None:
    write(ml100k / "u1.test", "10\t7\t1\t101\n99\t5\t3\t106\n")
    with pytest.raises(DataError, match=r"u1\.test:2: user id 99 does not occur in u\.data"):
        read_movielens_100k(ml100k, fold="u1")


def test_ml100k_missing_side_files_leave_info_empty(ml100k: Path) -> None:
    (ml100k / "u.user").unlink()
    ds = read_movielens_100k(ml100k)
    assert ds.interactions.user_info is None and ds.interactions.item_info is not None


def test_side_info_missing_rows_warn(ml100k: Path) -> None:
    write(ml100k / "u.user", "10|24|M|technician|85711\n")
    with pytest.warns(UserWarning, match="2 of 3 user_ids"):
        ds = read_movielens_100k(ml100k)
    assert ds.interactions.user_info["age"].isna().sum() == 2


# ====================================================================== malformed delimited files
def test_wrong_separator_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", "1,2,3,100\n1,3,4,101\n")
    with pytest.raises(DataError) as info:
        read_movielens_100k(folder)
    msg = str(info.value)
    assert "expected 4 tab-separated fields, found 1" in msg
    assert "is the separator ','?" in msg
    assert info.value.line == 1 and info.value.path == folder / "u.data"


def test_extra_field_names_the_line(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t3\t100\n1\t3\t4\t101\n2\t2\t4\t102\t9\n")
    with pytest.raises(DataError, match=r"u\.data:3: expected 4 tab-separated fields, found 5"):
        read_movielens_100k(tmp_path)


def test_missing_field_names_the_line(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t3\t100\n1\t3\t4\n")
    with pytest.raises(DataError, match=r"u\.data:2: expected 4 tab-separated fields, found 3"):
        read_movielens_100k(tmp_path)


def test_non_numeric_rating_names_line_and_value(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t3\t100\n\n1\t3\tfive\t101\n")  # the blank line still counts
    with pytest.raises(DataError, match=r"u\.data:3: rating value 'five' is not a number"):
        read_movielens_100k(tmp_path)


def test_non_integer_id_names_line_and_value(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t3\t100\n1\t3.5\t4\t101\n")
    with pytest.raises(DataError, match=r"u\.data:2: item value 3.5 is not an integer"):
        read_movielens_100k(tmp_path)


def test_non_numeric_user_id(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t3\t100\nabc\t3\t4\t101\n")
    with pytest.raises(DataError, match=r"u\.data:2: user value 'abc' is not a number"):
        read_movielens_100k(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    write(tmp_path / "u.data", content)
    with pytest.raises(DataError, match=r"u\.data: file (is empty|has no data rows)"):
        read_movielens_100k(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_movielens_100k(tmp_path)


def test_duplicates_warn_and_keep_latest(tmp_path: Path) -> None:
    write(tmp_path / "u.data", "1\t2\t5\t300\n1\t2\t1\t100\n1\t3\t4\t101\n")
    with pytest.warns(DuplicateInteractionsWarning, match=r"1 duplicate \(user, item\) rows dropped .*latest by 'timestamp'"):
        ds = read_movielens_100k(tmp_path)
    df = ds.interactions.to_dataframe(raw_ids=True).set_index(["user", "item"])
    assert len(df) == 2 and df.loc[(1, 2), "rating"] == 5 and df.loc[(1, 2), "timestamp"] == 300


def test_bad_encoding_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.0,100\n")
    write(tmp_path / "movies.csv", "movieId,title,genres\n2,Caf\xe9 (1990),Drama\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"movies\.csv: not valid utf-8"):
        read_movielens_latest(tmp_path)


# ====================================================================== MovieLens-1M and latest
def _ml1m(folder: Path, with_ratings: bool = True) -> Path:
    if with_ratings:
        write(folder / "ratings.dat", "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n")
    write(folder / "movies.dat", "10::Toy Story (1995)::Animation|Children's|Comedy\n20::Señor (1999)::Drama\n", "latin-1")
    write(folder / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def test_ml1m_reads_double_colon_files(tmp_path: Path) -> None:
    ds = read_movielens_1m(_ml1m(tmp_path / "ml-1m"))
    x = ds.interactions
    assert x.shape == (2, 2) and len(x) == 3 and x.ratings.tolist() == [5.0, 3.0, 4.0]
    assert x.item_info["title"].tolist() == ["Toy Story (1995)", "Señor (1999)"]
    assert x.item_info["year"].tolist() == [1995, 1999]
    assert x.item_info["genres"].tolist() == ["Animation|Children's|Comedy", "Drama"]
    assert x.user_info["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert x.user_info["age"].tolist() == [1, 56]


def test_ml1m_without_ratings_points_to_the_split(tmp_path: Path) -> None:
    folder = _ml1m(tmp_path / "ml-1m", with_ratings=False)
    with pytest.raises(DatasetNotFoundError, match="ml-1m-split"):
        read_movielens_1m(folder)
    write(folder / "lightgcnpp_split" / "train.txt", "0 0 1\n1 1\n")
    write(folder / "lightgcnpp_split" / "valid.txt", "0 2\n")
    write(folder / "lightgcnpp_split" / "test.txt", "1 2\n")
    with pytest.warns(UserWarning, match="ratings.dat is missing"):
        ds = read_movielens_1m(folder, fallback_to_split=True)
    assert ds.name == "ml-1m-split" and ds.predefined is not None and len(ds.interactions) == 5


def test_ml1m_wrong_separator(tmp_path: Path) -> None:
    folder = _ml1m(tmp_path)
    write(folder / "ratings.dat", "1\t10\t5\t978300760\n")
    with pytest.raises(DataError, match=r"ratings\.dat:1: expected 4 '::'-separated fields, found 1; is the separator '\\t'"):
        read_movielens_1m(folder)


def test_ml_latest_quoted_titles_and_no_genres(tmp_path: Path) -> None:
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n2,1,2.5,1\n")
    write(
        tmp_path / "movies.csv",
        'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n3,Nameless,(no genres listed)\n',
    )
    ds = read_movielens_latest(tmp_path)
    x = ds.interactions
    assert x.shape == (2, 2) and sorted(x.ratings.tolist()) == [0.5, 2.5, 4.0]
    assert x.item_info["title"].tolist() == ["American President, The (1995)", "Nameless"]
    assert x.item_info["year"].iloc[0] == 1995 and pd.isna(x.item_info["year"].iloc[1])
    assert x.item_info["genres"].tolist() == ["Comedy|Drama|Romance", ""]


def test_ml_latest_missing_column_and_separator_hint(tmp_path: Path) -> None:
    write(tmp_path / "ratings.csv", "userId\tmovieId\trating\ttimestamp\n1\t1\t4.0\t964982703\n")
    with pytest.raises(DataError, match=r"ratings\.csv:1: missing column\(s\).*is the separator '\\t'"):
        read_movielens_latest(tmp_path)
    write(tmp_path / "ratings.csv", "userId,movieId,timestamp\n1,1,964982703\n")
    with pytest.raises(DataError, match=r"missing column\(s\) \['rating'\]; found \['userId', 'movieId', 'timestamp'\]"):
        read_movielens_latest(tmp_path)


# ====================================================================== LightGCN format
def _lightgcn(folder: Path, train: str, valid: str | None, test: str) -> Path:
    write(folder / "train.txt", train)
    if valid is not None:
        write(folder / "valid.txt", valid)
    write(folder / "test.txt", test)
    return folder


def test_lightgcn_split(tmp_path: Path) -> None:
    folder = _lightgcn(tmp_path, "0 0 1 2\n1 3\n\n2\n", "0 3\n1 1\n", "0 4\n1 0 2\n2 4\n")
    ds = read_lightgcn_split(folder, name="toy")
    x, s = ds.interactions, ds.predefined
    assert x.shape == (3, 5) and s is not None
    assert (len(s.train), len(s.valid), len(s.test)) == (4, 2, 4)
    assert len(x) == 10 and x.user_ids.tolist() == [0, 1, 2]
    assert s.test.contains(np.array([1, 1]), np.array([0, 2])).all()
    part = read_lightgcn_file(folder / "train.txt")
    assert part.listed.tolist() == [0, 1, 2] and part.listed_lines.tolist() == [1, 2, 4]
    assert part.pair_lines.tolist() == [1, 1, 1, 2]


def test_lightgcn_without_valid_file(tmp_path: Path) -> None:
    ds = read_lightgcn_split(_lightgcn(tmp_path, "0 0 1\n1 1\n", None, "0 2\n"), name="toy")
    assert len(ds.predefined.valid) == 0 and ds.interactions.shape == (2, 3)


def test_lightgcn_declared_id_space(tmp_path: Path) -> None:
    folder = _lightgcn(tmp_path, "0 0 1\n1 1\n", "0 2\n", "0 3\n1 9\n")
    ds = read_lightgcn_split(folder, name="toy", num_users=4, num_items=10)
    assert ds.interactions.shape == (4, 10)
    with pytest.raises(DataError, match=r"test\.txt:2: item id 9 is outside the item id space \[0, 5\)"):
        read_lightgcn_split(folder, name="toy", num_users=4, num_items=5)


def test_lightgcn_unknown_test_user(tmp_path: Path) -> None:
    folder = _lightgcn(tmp_path, "0 0 1\n1 1\n", "0 2\n", "0 2\n5 1\n")
    with pytest.raises(DataError, match=r"test\.txt:2: 1 test user\(s\) absent from train\.txt, e\.g\. user 5"):
        read_lightgcn_split(folder, name="toy")
    with pytest.warns(UserWarning, match="absent from train.txt"):
        ds = read_lightgcn_split(folder, name="toy", strict=False)
    assert ds.interactions.num_users == 6


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("0 1 2\n1 x 3\n", r"train\.txt:2: token 'x' is not a non-negative integer id"),
        ("0,1,2\n", r"train\.txt:1: token '0,1,2' .*is the separator ','\?"),
        ("0 1\n1 -3\n", r"train\.txt:2: token '-3'"),
    ],
)
def test_lightgcn_bad_tokens(tmp_path: Path, content: str, pattern: str) -> None:
    folder = _lightgcn(tmp_path, content, "0 2\n", "0 2\n")
    with pytest.raises(DataError, match=pattern):
        read_lightgcn_split(folder, name="toy")


def test_lightgcn_duplicates_and_leakage_warn(tmp_path: Path) -> None:
    folder = _lightgcn(tmp_path, "0 0 1 1\n1 1\n", "0 2\n", "0 0\n1 2\n")
    with pytest.warns(UserWarning) as record:
        ds = read_lightgcn_split(folder, name="toy")
    messages = " ".join(str(w.message) for w in record)
    assert "1 duplicate (user, item) pairs dropped" in messages
    assert "1 pairs also appear in train (leakage)" in messages
    assert len(ds.predefined.train) == 3


def test_lightgcn_empty_file(tmp_path: Path) -> None:
    folder = _lightgcn(tmp_path, "", "0 2\n", "0 2\n")
    with pytest.raises(DataError, match=r"train\.txt: file is empty"):
        read_lightgcn_split(folder, name="toy")


# ====================================================================== LLMRec JSON
def _netflix(folder: Path, train: dict, val: dict, test: dict | None = None) -> Path:
    write(folder / "train.json", json.dumps(train))
    write(folder / "val.json", json.dumps(val))
    write(folder / "test.json", json.dumps(val if test is None else test))
    # a pickle must never be loaded: this one would fail loudly if it were
    write(folder / "train_mat", "not a pickle")
    return folder


def test_netflix_reads_json_and_keeps_val_equal_test(tmp_path: Path) -> None:
    folder = _netflix(tmp_path, {"0": [1, 2], "1": [3], "2": [0, 4]}, {"0": [5], "1": [], "2": []})
    ds = read_netflix_llmrec(folder)
    s = ds.predefined
    assert ds.interactions.shape == (3, 6) and len(ds.interactions) == 6
    assert (len(s.train), len(s.valid), len(s.test)) == (5, 1, 1)
    assert s.valid.checksum() == s.test.checksum()
    assert [p.name for p in ds.files] == ["train.json", "val.json", "test.json"]
    assert read_netflix_llmrec(folder, num_users=4, num_items=10).interactions.shape == (4, 10)


def test_netflix_unknown_val_user(tmp_path: Path) -> None:
    folder = _netflix(tmp_path, {"0": [1, 2], "1": [3]}, {"0": [4], "7": [5]})
    with pytest.raises(DataError, match=r"val\.json: 1 valid user\(s\) absent from train\.json, e\.g\. user 7 \(user key '7'\)"):
        read_netflix_llmrec(folder)


def test_netflix_item_beyond_declared_space(tmp_path: Path) -> None:
    folder = _netflix(tmp_path, {"0": [1, 2], "1": [3]}, {"0": [40]})
    with pytest.raises(DataError, match=r"val\.json: item id 40 \(user key '0'\) is outside the item id space \[0, 10\)"):
        read_netflix_llmrec(folder, num_users=2, num_items=10)


@pytest.mark.parametrize(
    ("train", "pattern"),
    [
        ('{"0": [1, 2],\n "1": [3,}', r"train\.json:2: invalid JSON"),
        ('[[0, 1]]', "expected a JSON object"),
        ('{"a": [1]}', "user key 'a' is not a non-negative integer id"),
        ('{"0": 3}', "value of user key '0' is a int, expected a list"),
        ('{"0": [1, "2"]}', "item '2' of user key '0' is not a non-negative integer id"),
    ],
)
def test_netflix_malformed_json(tmp_path: Path, train: str, pattern: str) -> None:
    folder = _netflix(tmp_path, {"0": [1]}, {"0": [2]})
    write(folder / "train.json", train)
    with pytest.raises(DataError, match=pattern):
        read_netflix_llmrec(folder)


# ====================================================================== generic tables
def test_read_table_csv_with_string_ids_and_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path / "events.csv",
        "uid,iid,score,when\nalice,B01,4,2020-01-02\nbob,A99,5,2020-01-01 12:00:00\nalice,A99,1,2019-12-31\n",
    )
    ds = read_table(path, "uid", "iid", rating_col="score", timestamp_col="when")
    x = ds.interactions
    assert ds.name == "events" and x.user_ids.tolist() == ["alice", "bob"] and x.item_ids.tolist() == ["A99", "B01"]
    df = x.to_dataframe(raw_ids=True).set_index(["user", "item"])
    assert df.loc[("alice", "B01"), "timestamp"] == 1577923200  # 2020-01-02 UTC
    assert df.loc[("bob", "A99"), "timestamp"] == 1577880000


def test_read_table_tsv_without_header(tmp_path: Path) -> None:
    path = write(tmp_path / "x.tsv", "1\t2\t100\n1\t3\t101\n")
    ds = read_table(path, "u", "i", timestamp_col="t", names=["u", "i", "t"])
    assert ds.interactions.shape == (1, 2) and ds.interactions.ratings is None
    assert ds.interactions.timestamps.tolist() == [100, 101]


def test_read_table_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "x.parquet"
    pd.DataFrame({"u": [3, 1, 3], "i": [7, 7, 8], "r": [1.0, 2.0, 3.0]}).to_parquet(path)
    ds = read_table(path, "u", "i", rating_col="r")
    assert ds.interactions.user_ids.tolist() == [1, 3] and len(ds.interactions) == 3
    with pytest.raises(DataError, match=r"missing column\(s\) \['user'\]"):
        read_table(path, "user", "i")


def test_read_table_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "u,i,r\n1,2,3\n1,3,bad\n")
    with pytest.raises(DataError, match=r"x\.csv:3: r value 'bad' is not a number"):
        read_table(path, "u", "i", rating_col="r")
    with pytest.raises(DataError, match=r"missing column\(s\) \['item'\]"):
        read_table(path, "u", "item")
    with pytest.raises(DataError, match="cannot tell the table format"):
        read_table(write(tmp_path / "x.dat", "u,i\n1,2\n"), "u", "i")
    bad_time = write(tmp_path / "t.csv", "u,i,t\n1,2,100\n1,3,yesterday-ish\n")
    with pytest.raises(DataError, match=r"t\.csv:3: timestamp 'yesterday-ish' is neither a number nor a date"):
        read_table(bad_time, "u", "i", timestamp_col="t")


def test_read_table_duplicates_keep_last_row_without_timestamps(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "u,i,r\n1,2,1\n1,2,5\n")
    with pytest.warns(DuplicateInteractionsWarning, match="kept the last row"):
        ds = read_table(path, "u", "i", rating_col="r")
    assert ds.interactions.ratings.tolist() == [5.0]
