"""An exclusive lock on a run folder, and the output-path checks done before anything is written.

:class:`RunLock` holds ``<folder>/.lock`` (``fcntl.flock`` on an open file holding the pid) for
as long as a ``train`` / ``evaluate --topk`` / ``bench`` process writes into the folder. A
second process is refused with :class:`~recdenoise.errors.RunLockedError` (exit status 5); the
kernel drops a flock when its holder dies, so a lock file left by a killed run (a dead pid)
is taken over with a one-line warning. On taking the lock, orphaned temporary files
(``.<name>.*.tmp`` left by :func:`recdenoise.utils.atomic_write` when a process was killed
mid-write) are removed.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import Optional

from ..errors import RunLockedError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: O_EXCL only
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLock", "check_not_locked", "check_output_path", "remove_orphaned_temp_files"]

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"


def check_output_path(path: str | Path, flag: str = "--output") -> Path:
    """Refuse an output folder that cannot be a folder, before anything is created: an existing
    file (or a path through one), or a folder whose nearest existing ancestor is not writable.
    Raises ``OSError`` with the errno (the CLI maps it to one line, exit status 5)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OSError(errno.ENOTDIR, f"{flag} is a file, not a folder", str(path))
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(probe))
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(probe) else errno.EACCES
        raise OSError(code, os.strerror(code), str(probe))
    return path


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:  # pragma: no cover
        return False


def remove_orphaned_temp_files(folder: Path) -> list[Path]:
    """Delete ``.*.tmp`` files (atomic-write leftovers) in ``folder`` and ``folder/split``."""
    removed = []
    for sub in (folder, folder / "split"):
        if not sub.is_dir():
            continue
        for tmp in sub.glob(".*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:  # pragma: no cover - raced
                pass
    if removed:
        logger.warning("%s: removed %d temporary file(s) left by an interrupted run", folder, len(removed))
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_not_locked(folder: str | Path, what: str = "run") -> None:
    """Raise :class:`~recdenoise.errors.RunLockedError` (exit 5) if the process named in
    ``folder``'s lock file is alive. Reads the pid only: probing the flock itself could make a
    process that is taking the lock at that moment fail (a stale pid reused by another process
    is the rare false refusal)."""
    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        pid = _read_pid(fd)
    finally:
        os.close(fd)
    if pid and pid != os.getpid() and _pid_alive(pid):
        raise _in_use(folder, what, pid, path)


def _in_use(folder: str | Path, what: str, pid: int, path: Path) -> RunLockedError:
    return RunLockedError(
        f"{folder} is in use by another {what} (pid {pid or '?'}, lock {path}); wait for it to finish or choose another --output"
    )


class RunLock:
    """``with RunLock(folder): ...`` creates ``folder`` and holds its lock (see the module doc).

    Args:
        folder: the run (or grid) folder.
        what: the command, for the refusal message.
    """

    def __init__(self, folder: str | Path, what: str = "run"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.what = what
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        check_output_path(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            previous = _read_pid(fd)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise _in_use(self.folder, self.what, previous, self.path) from None
            if previous and previous != os.getpid() and not _pid_alive(previous):
                logger.warning("%s: taking over a stale lock left by pid %d (no longer running)", self.folder, previous)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        remove_orphaned_temp_files(self.folder)
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:  # the file stays (unlinking it would race with a process opening it); empty = free
            os.ftruncate(fd, 0)
        except OSError:  # pragma: no cover - read-only now: the flock is what matters
            pass
        finally:
            os.close(fd)  # drops the flock

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (ValueError, UnicodeDecodeError, OSError):
        return 0

