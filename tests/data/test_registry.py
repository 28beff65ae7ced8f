"""Registry: manifests, lookup errors, verification, and the prepare_data pipeline."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from recdenoise.data import (
    describe_dataset,
    get_manifest,
    list_datasets,
    load_dataset,
    locate_dataset,
    make_synthetic,
    prepare_data,
    verify_dataset,
)
from recdenoise.data.manifest import parse_manifest as _parse_manifest
from recdenoise.data.registry import MANIFEST_DIR
from recdenoise.errors import ConfigError, DataError, DatasetNotFoundError

REAL = ["gowalla-lightgcnpp", "ml-100k", "ml-1m", "ml-1m-split", "ml-latest-small", "netflix-llmrec"]


@pytest.fixture(autouse=True)
def _no_env_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RECDENOISE_DATA_DIR", raising=False)
    monkeypatch.setenv("RECDENOISE_CACHE_DIR", str(tmp_path / "cache"))


def test_every_dataset_has_a_complete_manifest() -> None:
    assert list_datasets() == sorted(REAL + ["synthetic"])
    assert len(list(MANIFEST_DIR.glob("*.toml"))) == len(list_datasets())
    for name in REAL:
        m = get_manifest(name)
        assert m.folder and m.description and m.license and m.citation and m.homepage
        assert m.downloads and all(d.url.startswith("https://") for d in m.downloads)
        assert m.required_files and m.stats["num_interactions"] > 0
        for f in m.files:
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256), (name, f.path)
    assert get_manifest("ml-100k").downloads[0].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert get_manifest("netflix-llmrec").id_space == {"num_users": 13187, "num_items": 17366}
    info = describe_dataset("ml-1m")
    assert info["files"][0] == {"path": "ratings.dat", "sha256": "unknown", "required": True}
    assert info["downloads"][0]["sha256"] == "unknown"


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset 'ml100k' \(did you mean 'ml-100k'\?\); known datasets: .*netflix-llmrec"):
        load_dataset("ml100k")


def test_manifest_with_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('name = "x"\ndescription = "d"\nfolder = "x"\nformat = "lightgcn"\nurl = "typo"\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['url'\]"):
        _parse_manifest(path)
    path.write_text('name = "x"\ndescription = "d"\nfolder = "x"\nformat = "lightgcn"\n[[files]]\npath = "a"\nsha = "b"\n')
    with pytest.raises(ConfigError, match=r"\[\[files\]\]: unknown key\(s\) \['sha'\]"):
        _parse_manifest(path)


def test_not_found_message(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("ml-100k", data_dir=tmp_path / "data")
    msg = str(info.value)
    assert "place the files u.data, u.item, u.user in" in msg and str(tmp_path / "data" / "ml-100k") in msg
    assert f"--data-dir {tmp_path / 'data'}" in msg and "ml-100k.zip" in msg and "--download" in msg


def _toy_gowalla(root: Path) -> Path:
    folder = root / "gowalla-lightgcnpp"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("0 0 1 2\n1 1 2\n2 0 3\n")
    (folder / "valid.txt").write_text("0 3\n1 0\n")
    (folder / "test.txt").write_text("0 4\n2 1\n")
    return folder


def test_load_from_data_dir_uses_declared_id_space(tmp_path: Path) -> None:
    _toy_gowalla(tmp_path)
    ds = load_dataset("gowalla-lightgcnpp", data_dir=tmp_path)
    assert ds.interactions.shape == (29858, 40981) and len(ds.predefined.train) == 7
    assert load_dataset("gowalla-lightgcnpp", data_dir=tmp_path / "gowalla-lightgcnpp").interactions.shape == (29858, 40981)
    with pytest.raises(ConfigError, match=r"does not take option\(s\) \['num_items'\]"):
        load_dataset("gowalla-lightgcnpp", data_dir=tmp_path, num_items=5)


def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toy_gowalla(tmp_path)
    monkeypatch.setenv("RECDENOISE_DATA_DIR", str(tmp_path))
    assert len(load_dataset("gowalla-lightgcnpp").interactions) == 11


def test_cache_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _toy_gowalla(tmp_path / "env-cache")
    monkeypatch.setenv("RECDENOISE_CACHE_DIR", str(tmp_path / "env-cache"))
    assert locate_dataset("gowalla-lightgcnpp") == folder
    assert len(load_dataset("gowalla-lightgcnpp").interactions) == 11


def test_verify_reports_per_file(tmp_path: Path) -> None:
    folder = _toy_gowalla(tmp_path)
    report = verify_dataset("gowalla-lightgcnpp", tmp_path)
    assert report.folder == folder and not report.ok
    status = {f.path: f.status for f in report.files}
    assert status == {"train.txt": "mismatch", "valid.txt": "mismatch", "test.txt": "mismatch", "LightGCNpp_README.md": "missing"}
    assert report.to_dict()["ok"] is False
    empty = verify_dataset("ml-100k", tmp_path)
    assert empty.folder is None and {f.status for f in empty.files} == {"missing"}
    assert verify_dataset("synthetic").ok


def test_synthetic_needs_no_files() -> None:
    ds = load_dataset("synthetic", num_users=50, num_items=60, seed=3)
    assert ds.interactions.shape == (50, 60)
    assert ds.interactions.checksum() == make_synthetic(50, 60, seed=3).interactions.checksum()
    with pytest.raises(ConfigError, match="does not take option"):
        load_dataset("synthetic", users=5)


def test_prepare_data_ratio_default_and_info() -> None:
    split, info = prepare_data("synthetic", seed=1, options={"num_users": 80, "num_items": 100})
    assert info["split"] == {"method": "ratio", "ratios": [0.8, 0.1, 0.1], "seed": 1}
    assert info["dataset"] == "synthetic" and info["files"] == {} and info["files_verified"] is None
    assert info["data_checksum"] == split.checksum()
    assert sum(info["stats"][p]["num_interactions"] for p in ("train", "valid", "test")) == info["raw"]["num_interactions"]
    again, _ = prepare_data("synthetic", seed=1, options={"num_users": 80, "num_items": 100})
    assert again.checksum() == split.checksum()


def test_prepare_data_threshold_and_k_core() -> None:
    loaded = make_synthetic(100, 120, seed=0)
    split, info = prepare_data(loaded, rating_threshold=4, k_core=3, split="leave_one_out")
    everything = split.train.concat(split.valid).concat(split.test)
    assert (everything.ratings >= 4).all()
    assert everything.user_counts.min() >= 3 and everything.item_counts.min() >= 3
    assert info["preprocess"] == {"rating_threshold": 4, "k_core": [3, 3]} and info["split"]["method"] == "leave_one_out"
    assert split.num_items == len(everything.item_ids) < 120  # compacted; raw ids kept
    assert np.isin(everything.item_ids, np.arange(120)).all()


def test_prepare_data_predefined(tmp_path: Path) -> None:
    _toy_gowalla(tmp_path)
    split, info = prepare_data("gowalla-lightgcnpp", tmp_path)
    assert info["split"]["method"] == "predefined" and len(split.test) == 2
    assert info["files_verified"] is False and set(info["files"]) == {"train.txt", "valid.txt", "test.txt"}
    ratio, info = prepare_data("gowalla-lightgcnpp", tmp_path, split="ratio", ratios=(0.5, 0.5))
    assert info["split"]["method"] == "ratio" and len(ratio.valid) == 0
    with pytest.raises(ConfigError, match="cannot be combined with the predefined split"):
        prepare_data("gowalla-lightgcnpp", tmp_path, k_core=2)
    with pytest.raises(DataError, match="no ratings"):
        prepare_data("gowalla-lightgcnpp", tmp_path, rating_threshold=3)
    with pytest.raises(ConfigError, match="seed"):
        prepare_data("gowalla-lightgcnpp", tmp_path, seed=-1)
