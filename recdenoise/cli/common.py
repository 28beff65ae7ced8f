"""Helpers shared by the CLI commands: argument types and one-line errors."""

from __future__ import annotations

import argparse
from typing import Any

from ..compat import tomllib

__all__ = ["EXIT_USAGE", "Parser", "kv", "csv_list", "ints"]

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``--help`` still prints the full usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def kv(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as TOML (``3``, ``0.1``, ``true``, ``"x"``, ``[1, 2]``), else a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def ints(text: str) -> list[int]:
    try:
        return [int(t) for t in csv_list(text)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
