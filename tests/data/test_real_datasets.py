"""Real datasets (local copies, never committed): counts from shared/datasets/README.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recdenoise.data import load_dataset, prepare_data, verify_dataset
from recdenoise.errors import DatasetNotFoundError

pytestmark = pytest.mark.dataset


def _folder(data_dir: Path, name: str) -> Path:
    folder = data_dir / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return data_dir


def test_ml100k(data_dir: Path) -> None:
    ds = load_dataset("ml-100k", _folder(data_dir, "ml-100k"))
    x = ds.interactions
    assert (len(x), x.num_users, x.num_items) == (100_000, 943, 1_682)
    assert np.bincount(x.ratings.astype(int))[1:].tolist() == [6_110, 11_370, 27_145, 34_174, 21_201]
    assert x.user_ids[0] == 1 and x.item_ids[-1] == 1682
    items, users = x.item_info, x.user_info
    assert items.loc[0, "title"] == "Toy Story (1995)" and items.loc[0, "year"] == 1995
    assert items.loc[0, "genres"] == "Animation|Children's|Comedy"
    assert items.loc[266, "title"] == "unknown"  # raw item 267 has no date
    assert items["title"].notna().all()
    assert users.loc[0, ["age", "gender", "occupation"]].tolist() == [24, "M", "technician"]
    assert users[["age", "gender", "occupation"]].notna().all().all()
    fold = load_dataset("ml-100k", data_dir, fold="u1").predefined
    assert (len(fold.train), len(fold.valid), len(fold.test)) == (80_000, 0, 20_000)
    ua = load_dataset("ml-100k", data_dir, fold="ua").predefined
    assert (ua.test.user_counts == 10).all()
    assert verify_dataset("ml-100k", data_dir).ok


def test_ml_latest_small(data_dir: Path) -> None:
    x = load_dataset("ml-latest-small", _folder(data_dir, "ml-latest-small")).interactions
    assert (len(x), x.num_users, x.num_items) == (100_836, 610, 9_724)
    assert sorted(np.unique(x.ratings).tolist()) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert x.item_info["title"].notna().all() and x.item_info.loc[0, "title"] == "Toy Story (1995)"
    assert verify_dataset("ml-latest-small", data_dir).ok


def test_netflix_llmrec(data_dir: Path) -> None:
    ds = load_dataset("netflix-llmrec", _folder(data_dir, "netflix-llmrec"))
    s = ds.predefined
    assert s.train.shape == (13_187, 17_366)
    assert (len(s.train), len(s.valid), len(s.test)) == (68_933, 1_845, 1_845)
    assert s.valid.checksum() == s.test.checksum()
    assert not s.train.contains(s.test.users, s.test.items).any()
    assert len(ds.interactions) == 68_933 + 1_845
    assert all(p.name != "train_mat" for p in ds.files)
    assert verify_dataset("netflix-llmrec", data_dir).ok


def test_gowalla(data_dir: Path) -> None:
    ds = load_dataset("gowalla-lightgcnpp", _folder(data_dir, "gowalla-lightgcnpp"))
    s = ds.predefined
    assert (len(s.train), len(s.valid), len(s.test)) == (719_081, 91_047, 217_242)
    assert ds.interactions.shape == (29_858, 40_981) and len(ds.interactions) == 1_027_370
    assert verify_dataset("gowalla-lightgcnpp", data_dir).ok


def test_ml1m_split(data_dir: Path) -> None:
    ds = load_dataset("ml-1m-split", _folder(data_dir, "ml-1m"))
    s = ds.predefined
    assert (len(s.train), len(s.valid), len(s.test)) == (590_733, 80_897, 164_848)
    assert ds.interactions.shape == (6_039, 3_628) and len(ds.interactions) == 836_478
    assert (s.test.user_counts > 0).sum() == 6_038
    assert ds.interactions.user_info is None
    assert verify_dataset("ml-1m-split", data_dir).ok


def test_ml1m_needs_ratings_dat(data_dir: Path) -> None:
    folder = _folder(data_dir, "ml-1m") / "ml-1m"
    if (folder / "ratings.dat").is_file():
        x = load_dataset("ml-1m", data_dir).interactions
        assert (len(x), x.num_users, x.num_items) == (1_000_209, 6_040, 3_706)
        assert x.item_info["title"].notna().all() and x.user_info["gender"].notna().all()
    else:
        with pytest.raises(DatasetNotFoundError, match="ml-1m-split"):
            load_dataset("ml-1m", data_dir)
        report = verify_dataset("ml-1m", data_dir)
        assert {f.path: f.status for f in report.files}["movies.dat"] == "ok" and not report.ok


@pytest.mark.parametrize(
    ("name", "method"),
    [("ml-100k", "ratio"), ("ml-latest-small", "ratio"), ("netflix-llmrec", "predefined"), ("ml-1m-split", "predefined")],
)
def test_prepare_data_defaults(data_dir: Path, name: str, method: str) -> None:
    split, info = prepare_data(name, data_dir)
    assert info["split"]["method"] == method and info["files_verified"] is True
    assert len(split.train) > len(split.test) > 0
