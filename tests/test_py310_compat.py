"""Python 3.10 for real: with ``tomllib`` unavailable (it is 3.11+), the package imports
through ``recdenoise.compat`` (``tomli``) and still reads its TOML dataset manifests.

Each check runs in a fresh interpreter whose ``sys.meta_path`` refuses ``tomllib``. A
``tomli`` module is provided: the real one when installed, else a stub re-exporting the
standard ``tomllib`` loaded *before* the blocker went in, so the test needs no install.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Every module that parses TOML, directly or through an import, and the package's entry points.
MODULES_TO_CHECK = [
    "recdenoise",
    "recdenoise.compat",
    "recdenoise.config",
    "recdenoise.data",
    "recdenoise.data.registry",
    "recdenoise.data.pipeline",
    "recdenoise.methods",
    "recdenoise.experiment",
    "recdenoise.cli",
    "recdenoise.cli.common",
]

_BLOCK_TOMLLIB = textwrap.dedent(
    """
    import importlib.abc, sys, types
    import tomllib as _stdlib_toml  # kept under another name, then hidden
    try:
        import tomli
    except ImportError:
        tomli = types.ModuleType("tomli")
        tomli.loads, tomli.load, tomli.TOMLDecodeError = _stdlib_toml.loads, _stdlib_toml.load, _stdlib_toml.TOMLDecodeError
        sys.modules["tomli"] = tomli
    for name in [m for m in sys.modules if m == "tomllib" or m.startswith("tomllib.")]:
        del sys.modules[name]

    class BlockTomllib(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "tomllib" or name.startswith("tomllib."):
                raise ImportError("tomllib is blocked: simulating Python 3.10")
            return None

    sys.meta_path.insert(0, BlockTomllib())
    try:
        import tomllib
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker did not block tomllib")
    """
)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="on 3.10 tomllib is absent anyway: every test imports the package")
def test_imports_without_tomllib() -> None:
    """One interpreter (importing torch once) imports every module with tomllib blocked."""
    check = _BLOCK_TOMLLIB + textwrap.dedent(
        f"""
        import importlib
        for module in {MODULES_TO_CHECK!r}:
            importlib.import_module(module)
        from recdenoise.cli.common import kv
        assert kv("k=3") == ("k", 3)
        from recdenoise.compat import tomllib
        assert tomllib.__name__ == "tomli" and "tomllib" not in sys.modules, tomllib
        from recdenoise.data.registry import get_manifest, list_datasets
        assert "ml-100k" in list_datasets() and get_manifest("ml-100k").folder
        """
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
