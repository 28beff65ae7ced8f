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

_SWITCHED_AT_MERGE = pytest.mark.xfail(strict=False, reason="switched to compat at merge")

# Every module that parses TOML, directly or through an import. config.py and cli.py (and
# data.pipeline, which imports config) still `import tomllib` on this branch; they move to
# `from .compat import tomllib` when the branches merge, and then these params pass too.
MODULES_TO_CHECK = [
    "recdenoise",
    "recdenoise.compat",
    "recdenoise.data",
    "recdenoise.data.registry",
    pytest.param("recdenoise.config", marks=_SWITCHED_AT_MERGE),
    pytest.param("recdenoise.cli", marks=_SWITCHED_AT_MERGE),
    pytest.param("recdenoise.data.pipeline", marks=_SWITCHED_AT_MERGE),
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
@pytest.mark.parametrize("module", MODULES_TO_CHECK)
def test_imports_without_tomllib(module: str) -> None:
    check = _BLOCK_TOMLLIB + textwrap.dedent(
        f"""
        import importlib
        importlib.import_module({module!r})
        from recdenoise.compat import tomllib
        assert tomllib.__name__ == "tomli" and "tomllib" not in sys.modules, tomllib
        from recdenoise.data.registry import get_manifest, list_datasets
        assert "ml-100k" in list_datasets() and get_manifest("ml-100k").folder
        """
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
