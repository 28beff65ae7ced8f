"""Compatibility shims for the supported Python versions (>= 3.10)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by tests/test_py310_compat.py with tomllib blocked
    import tomli as tomllib

__all__ = ["tomllib"]
