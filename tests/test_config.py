"""RunConfig: TOML loading, type checks, unknown keys, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from recdenoise.config import RunConfig, apply_overrides, config_from_dict, config_to_dict, load_config
from recdenoise.errors import ConfigError


def test_defaults_round_trip():
    cfg = RunConfig()
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_toml_values_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        'seed = 3\noutput_dir = "out"\n[data]\ndataset = "ml-100k"\nratios = [0.7, 0.1, 0.2]\n'
        '[method]\nname = "pld"\noptions = { k = 4, tau = 0.2 }\n[eval]\nks = [5, 20]\n'
    )
    cfg = load_config(path, {"train.lr": "0.01", "method.options.warmup": 2, "eval.ks": "10,20"})
    assert cfg.seed == 3 and cfg.output_dir == Path("out")
    assert cfg.data.ratios == (0.7, 0.1, 0.2)
    assert cfg.method.options == {"k": 4, "tau": 0.2, "warmup": 2}
    assert cfg.train.lr == 0.01 and cfg.eval.ks == (10, 20)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[trian]\nepochs = 1\n", r"unknown config key\(s\) \['trian'\]"),
        ("[train]\nepochs = 1\nlearning_rate = 2\n", r"train.learning_rate"),
        ("[train]\nepochs = 'ten'\n", r"train.epochs: expected int, got 'ten'"),
        ("[train]\nprogress = 3\n", r"train.progress: expected bool"),
        ("[model]\nname = 'gcn'\n", r"model.name = 'gcn' is not one of \['mf', 'lightgcn'\]"),
        ("train = 3\n", r"train: expected a table"),
        ("[train\n", r"invalid TOML"),
        ("[train]\nmonitor = 'recall@50'\n", r"needs its cut-off in eval.ks"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_config(path)
    assert "bad.toml" in str(info.value)


def test_missing_file_and_bad_override():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/no/such/file.toml")
    with pytest.raises(ConfigError, match="unknown config key 'model.depth'"):
        apply_overrides(RunConfig(), {"model.depth": 2})
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        apply_overrides(RunConfig(), {"nope.x": 2})
