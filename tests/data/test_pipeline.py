"""prepare_run_data: typed data.options (unknown key, wrong type, valid), same data as the steps it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from recdenoise.config import DataConfig, NoiseConfig
from recdenoise.data import prepare_data
from recdenoise.data.noise import add_noise
from recdenoise.data.pipeline import prepare_run_data
from recdenoise.errors import ConfigError

TABLE = "u,i,r\n" + "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(12) for i in range(u % 4, 20, 3))


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "ratings.csv"
    path.write_text(TABLE)
    return str(path)


ERRORS = [
    # dataset, options, message pattern
    ("synthetic", {"bogus": 1}, r"dataset 'synthetic' does not take option\(s\) \['bogus'\]; it accepts \[.*'num_users'"),
    ("synthetic", {"num_users": "80"}, r"option 'num_users' must be int, got '80' \(str\)"),
    ("synthetic", {"num_users": True}, r"option 'num_users' must be int, got True \(bool\)"),
    ("synthetic", {"signal": "high"}, r"option 'signal' must be float"),
    ("ml-100k", {"fold": 1}, r"dataset 'ml-100k': option 'fold' must be str or None, got 1 \(int\)"),
    ("ml-100k", {"folds": "u1"}, r"does not take option\(s\) \['folds'\]; it accepts \['fold'\]"),
    ("gowalla-lightgcnpp", {"num_items": 5}, r"does not take option\(s\) \['num_items'\]"),  # declared id space
    ("gowalla-lightgcnpp", {"strict": "no"}, r"option 'strict' must be bool"),
    ("TABLE", {"bogus": 1}, r"table file .* does not take option\(s\) \['bogus'\]; it accepts \[.*'user_col'"),
    ("TABLE", {"user_col": "u", "item_col": "i", "rating_col": 3}, r"option 'rating_col' must be str or None"),
    ("TABLE", {"user_col": "u", "item_col": "i", "names": "u,i,r"}, r"option 'names' must be a list of str or None"),
]


@pytest.mark.parametrize(("dataset", "options", "message"), ERRORS)
def test_bad_data_options_are_config_errors(dataset, options, message, table, tmp_path) -> None:
    data = DataConfig(dataset=table if dataset == "TABLE" else dataset, data_dir=str(tmp_path), options=options)
    with pytest.raises(ConfigError, match=message):
        prepare_run_data(data, NoiseConfig(), seed=0)


def test_valid_synthetic_options_give_the_same_data_as_the_steps() -> None:
    options = {"num_users": 60, "num_items": 90, "signal": 2}  # an int for a float option is fine
    data = DataConfig(dataset="synthetic", options=options)
    noise = NoiseConfig(kind="injected", ratio=0.2)
    split, info, summary = prepare_run_data(data, noise, seed=3)
    expected, expected_info = prepare_data("synthetic", seed=3, options=options)
    expected, expected_summary = add_noise(expected, "injected", 0.2, 3.0, 3)
    assert split.checksum() == expected.checksum() and info == expected_info and summary == expected_summary
    assert split.train.is_noise.sum() > 0


def test_valid_table_options(table: str) -> None:
    data = DataConfig(dataset=table, options={"user_col": "u", "item_col": "i", "rating_col": "r"})
    split, info, _ = prepare_run_data(data, NoiseConfig(kind="natural", threshold=3.0), seed=0)
    assert info["dataset"] == "ratings" and split.num_users == 12 and split.train.ratings is not None


def test_split_seed_is_independent_of_the_run_seed() -> None:
    data = DataConfig(dataset="synthetic", options={"num_users": 40, "num_items": 50}, split_seed=7)
    first, _, _ = prepare_run_data(data, NoiseConfig(), seed=1)
    second, _, _ = prepare_run_data(data, NoiseConfig(), seed=2)
    assert first.checksum() == second.checksum()


@pytest.mark.parametrize(
    ("noise", "message"),
    [(NoiseConfig(kind="injected", ratio=0.0), "needs a ratio > 0"), (NoiseConfig(kind="natural"), "needs ratings")],
)
def test_noise_protocol_errors(noise: NoiseConfig, message: str, tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("user,item\n0,1\n1,2\n2,0\n")
    with pytest.raises(ConfigError, match=message):
        prepare_run_data(DataConfig(dataset=str(path)), noise, seed=0)
