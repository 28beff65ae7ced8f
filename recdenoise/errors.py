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
    "ResourceError",
    "DivergedError",
    "RunLockedError",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_PARTIAL",
    "EXIT_DIVERGED",
    "EXIT_ENVIRONMENT",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
]

# Exit statuses of the ``recdenoise`` command (docs/faults.md): one home for every command.
EXIT_OK = 0  # success
EXIT_FAILED = 1  # verification failed / some benchmark cells failed
EXIT_USAGE = 2  # bad input: flag, config, data file, checkpoint
EXIT_PARTIAL = 3  # an LLM job finished partially (rerun to complete)
EXIT_DIVERGED = 4  # training diverged (non-finite loss or validation score)
EXIT_ENVIRONMENT = 5  # environment fault: disk full, read-only, permission, folder locked
EXIT_INTERRUPTED = 130  # SIGINT
EXIT_TERMINATED = 143  # SIGTERM


class RecDenoiseError(Exception):
    """Base class of every error recdenoise raises deliberately; ``exit_status`` is what the
    command line exits with (2 = bad input unless a subclass says otherwise)."""

    exit_status = 2


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


class ResourceError(ConfigError):
    """A run would need more memory than is available (found before anything is written)."""


class DivergedError(RecDenoiseError):
    """Training diverged: the epoch loss or the validation score is not finite.

    Args:
        message: what was non-finite and how to fix it.
        epoch: the 1-based epoch at which it was found.
    """

    exit_status = 4

    def __init__(self, message: str, epoch: int):
        self.epoch = epoch
        super().__init__(message)


class RunLockedError(RecDenoiseError):
    """Another live process holds the run folder's lock."""

    exit_status = 5
