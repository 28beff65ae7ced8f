"""Errors raised by recdenoise.

Every error the library raises on purpose subclasses :class:`RecDenoiseError`, so a caller
(and the CLI) can tell a problem with the input from a bug. Messages say *what* is wrong,
*where* (file, line, argument) and *how to fix it*.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "RecDenoiseError",
    "ConfigError",
    "DataError",
    "DatasetNotFoundError",
    "DownloadError",
    "ChecksumError",
    "CheckpointError",
    "LLMError",
]


class RecDenoiseError(Exception):
    """Base class of every error recdenoise raises deliberately."""


class ConfigError(RecDenoiseError, ValueError):
    """A configuration value or function argument is invalid."""


class DataError(RecDenoiseError, ValueError):
    """A data file or an in-memory interaction table is malformed.

    Args:
        message: what is wrong and how to fix it.
        path: the offending file, if any.
        line: 1-based line number inside ``path``, if known.
    """

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)


class DatasetNotFoundError(DataError):
    """A dataset's files are not on disk and cannot (or may not) be downloaded."""


class DownloadError(RecDenoiseError, OSError):
    """A download failed (network error, HTTP error, interrupted transfer)."""


class ChecksumError(DownloadError):
    """A downloaded or local file does not match the sha256 in its manifest."""


class CheckpointError(RecDenoiseError):
    """A checkpoint is missing, corrupt, or does not match the model/config."""


class LLMError(RecDenoiseError):
    """An LLM request or answer could not be completed or validated."""
