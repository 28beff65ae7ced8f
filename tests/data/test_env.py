"""Environment variables: one name each (RECDENOISE_CACHE_DIR, RECDENOISE_DATA_DIR), honoured and documented;
importing recdenoise.data writes no environment variable and seeds nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from recdenoise.data.download import CACHE_ENV
from recdenoise.data.registry import DATA_DIR_ENV, load_dataset, locate_dataset

README = Path(__file__).resolve().parents[2] / "README.md"


def _toy_gowalla(root: Path) -> Path:
    folder = root / "gowalla-lightgcnpp"
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("0 0 1 2\n1 1 2\n")
    (folder / "valid.txt").write_text("1 0\n")
    (folder / "test.txt").write_text("0 4\n")
    return folder


def test_variable_names() -> None:
    assert (CACHE_ENV, DATA_DIR_ENV) == ("RECDENOISE_CACHE_DIR", "RECDENOISE_DATA_DIR")


def test_cache_variable_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    folder = _toy_gowalla(tmp_path / "cache")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert locate_dataset("gowalla-lightgcnpp") == folder
    assert len(load_dataset("gowalla-lightgcnpp").interactions) == 7


def test_data_dir_variable_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "empty-cache"))
    folder = _toy_gowalla(tmp_path / "data")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    assert locate_dataset("gowalla-lightgcnpp") == folder


def test_readme_documents_exactly_the_variables_read() -> None:
    text = README.read_text(encoding="utf-8")
    assert f"${CACHE_ENV}" in text and f"${DATA_DIR_ENV}" in text
    assert set(re.findall(r"RECDENOISE_[A-Z_]+", text)) <= {CACHE_ENV, DATA_DIR_ENV}


def test_importing_data_has_no_side_effects() -> None:
    code = (
        "import os, random, numpy as np, torch\n"
        "env = dict(os.environ); torch.manual_seed(123); np.random.seed(123); random.seed(123)\n"
        "import recdenoise.data, recdenoise.data.pipeline, recdenoise.data.pyg, recdenoise.graph\n"
        "assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())\n"
        "t = torch.rand(1); torch.manual_seed(123); assert torch.equal(t, torch.rand(1)), 'torch RNG touched'\n"
        "n = np.random.rand(); np.random.seed(123); assert n == np.random.rand(), 'numpy RNG touched'\n"
        "r = random.random(); random.seed(123); assert r == random.random(), 'random touched'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stderr
