"""The noisy validation protocol (``noise.valid = "noisy"``): noise planted into / kept in validation, test clean."""

from __future__ import annotations

import numpy as np
import pytest

from recdenoise.config import load_config
from recdenoise.data import Interactions, Split, make_synthetic, ratio_split
from recdenoise.data.noise import add_noise, inject_noise
from recdenoise.errors import ConfigError


@pytest.fixture(scope="module")
def split() -> Split:
    data = make_synthetic(80, 120, interactions_per_user=25, seed=5).interactions
    return ratio_split(data, (0.7, 0.15, 0.15), seed=0)


@pytest.mark.parametrize("ratio", [0.2, 0.5, 1.0])
def test_injected_noisy_valid_counts_labels_and_items(split, ratio):
    clean, _ = add_noise(split, "injected", ratio, seed=3)
    noisy, summary = add_noise(split, "injected", ratio, seed=3, valid="noisy")
    # training noise and test are identical under both protocols: the comparison is paired
    np.testing.assert_array_equal(noisy.train.sorted_keys(), clean.train.sorted_keys())
    np.testing.assert_array_equal(noisy.test.sorted_keys(), split.test.sorted_keys())
    assert noisy.test.is_noise is None or not noisy.test.is_noise.any()
    valid = noisy.valid
    # originals kept and labelled clean; planted rows labelled noisy
    assert valid.contains(split.valid.users, split.valid.items).all()
    np.testing.assert_array_equal(split.valid.contains(valid.users, valid.items), ~valid.is_noise)
    # per user: floor or ceil of ratio * |valid_u| (stochastic rounding)
    exact = ratio * split.valid.user_counts
    planted = np.bincount(valid.users[valid.is_noise], minlength=split.num_users)
    assert ((planted == np.floor(exact)) | (planted == np.ceil(exact))).all()
    # planted items are never a training (clean or noisy), test or validation item of the user
    nu, ni = valid.users[valid.is_noise], valid.items[valid.is_noise]
    for part in (noisy.train, split.test, split.valid):
        assert not part.contains(nu, ni).any()
    assert summary["valid"] == "noisy" and summary["valid_num_noisy"] == int(valid.is_noise.sum())


def test_stochastic_rounding_keeps_the_share():
    # 400 users with 3 validation items each: floor(0.2 * 3) = 0 would plant nothing
    users = np.repeat(np.arange(400), 3)
    items = np.tile(np.arange(3), 400)
    x = Interactions(users, items, 400, 50)
    planted = inject_noise(x, 0.2, seed=0, rounding="stochastic").is_noise.sum()
    assert abs(planted / len(x) - 0.2) < 0.03
    assert inject_noise(x, 0.2, seed=0).is_noise.sum() == 0  # training's floor rule
    with pytest.raises(ConfigError, match="rounding"):
        inject_noise(x, 0.2, rounding="up")


def test_natural_noisy_valid_keeps_low_ratings_labelled_and_test_clean():
    users = np.repeat(np.arange(3), 6)
    items = np.tile(np.arange(6), 3)
    ratings = np.tile(np.array([5, 1, 4, 2, 3, 1], dtype=np.float32), 3)
    x = Interactions(users, items, 3, 6, ratings=ratings)
    train, valid, test = (x.subset(np.isin(items, part)) for part in ([0, 1], [2, 3], [4, 5]))
    split = Split(train, valid, test)
    clean, _ = add_noise(split, "natural", threshold=3.0)
    noisy, summary = add_noise(split, "natural", threshold=3.0, valid="noisy")
    assert len(clean.valid) == 3 and len(noisy.valid) == 6
    np.testing.assert_array_equal(noisy.valid.is_noise, noisy.valid.ratings < 3.0)
    assert (noisy.test.ratings >= 3.0).all() and len(noisy.test) == len(clean.test) == 3
    assert summary["valid_num_noisy"] == 3


def test_protocol_is_validated_and_clean_is_default(split):
    with pytest.raises(ConfigError, match="validation protocol"):
        add_noise(split, "injected", 0.2, valid="dirty")
    assert load_config().noise.valid == "clean"
    with pytest.raises(ConfigError, match="noise.valid"):
        load_config(overrides={"noise.valid": "dirty"})


def test_cli_flag_sets_the_protocol():
    from recdenoise.cli import build_parser, config_from_args

    args = build_parser().parse_args(["train", "--valid-noise", "noisy", "--select", "trimmed_loss", "--select-trim", "0.3"])
    cfg = config_from_args(args)
    assert (cfg.noise.valid, cfg.train.select, cfg.train.select_trim) == ("noisy", "trimmed_loss", 0.3)
