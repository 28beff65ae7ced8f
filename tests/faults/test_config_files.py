"""TOML config files: every key x every bad value class, for ``train --config`` and
``bench denoise --config``; and malformed files. Exit 2, one line naming the key or file."""

from __future__ import annotations

import pytest

from .conftest import TINY_KS, check_fault

BAD_TOML = {"word": '"abc"', "inf": "inf", "nan": "nan", "negative": "-1", "huge-int": "99999999999999999999", "empty": '""', "list": "[1, 2]", "table": "{ a = 1 }"}
KEYS = {
    "train.lr": set(),
    "train.epochs": set(),
    "train.batch_size": set(),
    "train.weight_decay": {"huge-int"},  # legal (divergence is caught if it happens)
    "train.eval_every": set(),
    "model.embedding_dim": set(),
    "model.num_layers": set(),
    "data.k_core": set(),
    "noise.ratio": set(),
    "eval.max_batch_mib": set(),
    "eval.topk": set(),
}
CASES = [
    pytest.param(key, value, id=f"{key}={name}")
    for key, legal in KEYS.items()
    for name, value in BAD_TOML.items()
    if name not in legal
]


def _write(tmp_path, key: str, value: str):
    section, _, field = key.partition(".")
    path = tmp_path / "bad.toml"
    path.write_text(f"[{section}]\n{field} = {value}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("key,value", CASES)
def test_train_config_key(capsys, tmp_path, key, value):
    out = tmp_path / "run"
    path = _write(tmp_path, key, value)
    check_fault(capsys, ["train", "--config", str(path), *TINY_KS, "--output", str(out)], 2, [key, key.split(".")[1], str(path)], out)


@pytest.mark.parametrize("key,value", [c for c in CASES if c.id.endswith(("=word", "=nan", "=list"))])
def test_bench_config_key(capsys, tmp_path, key, value):
    out = tmp_path / "grid"
    path = _write(tmp_path, key, value)
    argv = ["bench", "denoise", "--config", str(path), "--datasets", "synthetic", "--methods", "bpr", "--backbones", "mf", "--seeds", "0", "--output", str(out)]
    check_fault(capsys, argv, 2, [key, key.split(".")[1], str(path)])
    assert not (out / "table.md").exists()


MALFORMED = {
    "not-toml": "this is = = not toml\n",
    "unknown-section": "[nosuch]\na = 1\n",
    "unknown-key": "[train]\nnosuch = 1\n",
    "section-is-value": "train = 3\n",
    "binary": "\x00\x01\x02",
    "duplicate-key": "[train]\nlr = 0.1\nlr = 0.2\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_config_file(capsys, tmp_path, name):
    path = tmp_path / "bad.toml"
    path.write_text(MALFORMED[name], encoding="utf-8")
    out = tmp_path / "run"
    check_fault(capsys, ["train", "--config", str(path), *TINY_KS, "--output", str(out)], 2, [str(path), "nosuch", "train"], out)


def test_missing_config_file(capsys, tmp_path):
    check_fault(capsys, ["train", "--config", str(tmp_path / "none.toml"), *TINY_KS], 2, ["none.toml"])


def test_config_file_is_a_folder(capsys, tmp_path):
    check_fault(capsys, ["train", "--config", str(tmp_path), *TINY_KS, "--output", str(tmp_path / "run")], (2, 5), [str(tmp_path)])
