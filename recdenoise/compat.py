"""Compatibility shims for the Python versions we support (3.10+).

``tomllib`` joined the standard library in Python 3.11; on 3.10 the same parser is the
``tomli`` package (a dependency there). Import it from here: ``from .compat import tomllib``.
"""

from __future__ import annotations

try:
    import tomllib
except ImportError:  # Python 3.10 (tests/test_py310_compat.py blocks tomllib to check this path)
    import tomli as tomllib

__all__ = ["tomllib"]
