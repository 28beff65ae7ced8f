"""Environment variables: one name each (RECDENOISE_CACHE_DIR, RECDENOISE_DATA_DIR), both documented (test_registry
checks that both are honoured); importing recdenoise.data writes no environment variable and seeds nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from recdenoise.data.download import CACHE_ENV
from recdenoise.data.registry import DATA_DIR_ENV

README = Path(__file__).resolve().parents[2] / "README.md"


def test_variable_names() -> None:
    assert (CACHE_ENV, DATA_DIR_ENV) == ("RECDENOISE_CACHE_DIR", "RECDENOISE_DATA_DIR")


def test_readme_documents_exactly_the_variables_read() -> None:
    """The README names every RECDENOISE_* variable the package reads, and no other."""
    text = README.read_text(encoding="utf-8")
    assert f"${CACHE_ENV}" in text and f"${DATA_DIR_ENV}" in text
    package = README.parent / "recdenoise"
    read = {name for path in package.rglob("*.py") for name in re.findall(r"RECDENOISE_[A-Z_]+", path.read_text(encoding="utf-8"))}
    assert {CACHE_ENV, DATA_DIR_ENV} <= read
    documented = set(re.findall(r"RECDENOISE_[A-Z_]+", text))
    assert read <= documented, f"undocumented: {sorted(read - documented)}"
    # the README may also name switches of the test suite and CI; nothing else
    elsewhere = {name for path in [*(README.parent / "tests").rglob("*.py"), README.parent / ".ci" / "run"]
                 for name in re.findall(r"RECDENOISE_[A-Z_]+", path.read_text(encoding="utf-8"))}
    assert documented <= read | elsewhere, f"documented but read nowhere: {sorted(documented - read - elsewhere)}"


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
