"""Durable answer cache: an append-only JSONL log keyed by the sha256 of the canonical request.

One line per *completed* answer, written with a single ``write`` on an ``O_APPEND``
descriptor, then ``fsync``-ed before the writer moves on (:meth:`JsonlCache.aput` shares
one fsync between answers that complete together, off the event loop). A job killed at
any moment (SIGKILL included) therefore leaves every answer it had received on disk, plus
at most one torn last line, which :class:`JsonlCache` drops (and truncates away) when it
opens the file. A restarted job looks
every request up here first, so no completed answer is requested twice and none is lost.

Loading streams the file line by line (memory bounded by the records kept, not the file):
a malformed line, a line over ``max_line_bytes``, or a record the ``validate`` hook refuses
is dropped with a warning, so its question is simply asked again.

Why JSONL rather than sqlite: the access pattern is "append one small record, never
update" from a single writer, which an fsynced append log does with one syscall pair and no
journal; the file is human-readable (``grep``/``jq`` show what a model answered and what it
cost), diff-able between runs, and trivially merged or pruned by hand. sqlite would buy
concurrent writers and random updates, neither of which this job needs; one writer per
file is enforced with an advisory ``flock`` instead.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from ..errors import LLMError

try:  # POSIX only; elsewhere we simply do not lock.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "iter_lines",
    "JsonlCache",
    "canonical_json",
    "sha256_text",
    "request_fingerprint",
    "encode_vector",
    "decode_vector",
]

log = logging.getLogger(__name__)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept (the basis of every cache key)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_fingerprint(body: dict) -> str:
    """sha256 of a request body as sent over HTTP (the mock server counts requests by it)."""
    return sha256_text(canonical_json(body))


def encode_vector(vec: np.ndarray) -> str:
    """``float32 [D]`` -> base64 text (compact and exact, for JSONL records)."""
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    """Inverse of :func:`encode_vector`."""
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def iter_lines(fh: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(lineno, line)`` of a binary file, holding at most ``max_bytes + 1`` bytes of a line:
    a longer line is skipped and yielded as ``None``. The last line may lack its newline."""
    for lineno, line in enumerate(iter(lambda: fh.readline(max_bytes + 1), b""), start=1):  # ends at EOF
        if len(line) > max_bytes and not line.endswith(b"\n"):
            for chunk in iter(lambda: fh.readline(1 << 20), b""):  # the rest of the long line
                if chunk.endswith(b"\n"):
                    break
            line = None
        yield lineno, line


class JsonlCache:
    """Append-only, fsynced JSONL key -> record store (see the module docstring for why).

    Args:
        path: the log file; created (with its folder) if missing.
        fsync: fsync after every append (default). Turn off only for throw-away caches.
        validate: ``record -> bool``; records it refuses on load are dropped (and re-asked).
        max_line_bytes: longer lines are skipped on load without being held in memory.

    Every line is ``{"key": <hex>, ...record}``. Loading keeps the last record per key,
    ignores a torn last line (a crash mid-write) and truncates it so later appends start on
    a fresh line; a malformed line anywhere else is dropped with a warning naming the line.
    """

    def __init__(
        self,
        path: str | Path,
        fsync: bool = True,
        validate: Callable[[dict], bool] | None = None,
        max_line_bytes: int = 4 << 20,
    ):
        self.path = Path(path)
        self.fsync = fsync
        self._validate = validate
        self.max_line_bytes = max_line_bytes
        self.dropped = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        self._written = self._synced = 0  # append generations written / known fsynced
        self._fsync_task: asyncio.Future | None = None
        try:
            self._lock()
            self._records: dict[str, dict] = {}
            self._load()
        except BaseException:
            os.close(self._fd)
            raise

    # ------------------------------------------------------------------ open
    def _lock(self) -> None:
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LLMError(
                f"{self.path}: the cache is in use by another process; wait for that job to finish "
                "or give this one a different output folder"
            ) from exc

    def _load(self) -> None:
        good_end = 0  # offset after the last complete line
        with open(self.path, "rb") as fh:
            for lineno, line in iter_lines(fh, self.max_line_bytes):
                if line is None:
                    self.dropped += 1
                    log.warning("%s:%d: record over %d bytes dropped", self.path, lineno, self.max_line_bytes)
                elif not line.endswith(b"\n"):  # the file ends mid-line: a torn write
                    break
                elif line.strip():
                    self._keep(line, lineno)
                good_end = fh.tell()
        size = self.path.stat().st_size
        if good_end < size:
            log.warning(
                "%s: ignoring a torn last line (%d bytes) left by an interrupted write", self.path, size - good_end
            )
            os.ftruncate(self._fd, good_end)
            os.fsync(self._fd)
        if self.dropped:
            log.warning(
                "%s: dropped %d unusable record(s); their questions will be asked again", self.path, self.dropped
            )

    def _keep(self, line: bytes, lineno: int) -> None:
        try:
            rec = json.loads(line)
            key = rec["key"]
            ok = isinstance(key, str) and (self._validate is None or bool(self._validate(rec)))
        except (ValueError, UnicodeDecodeError, KeyError, TypeError, RecursionError) as exc:
            log.warning("%s:%d: malformed cache record dropped (%s)", self.path, lineno, type(exc).__name__)
            ok = False
        if ok:
            self._records[key] = rec
        else:
            self.dropped += 1

    @staticmethod
    def read_keys(path: str | Path) -> set[str]:
        """Keys of the complete records in ``path`` without locking or repairing it (for dry runs)."""
        path = Path(path)
        if not path.exists():
            return set()
        keys = set()
        with open(path, "rb") as fh:
            for line in fh:  # streamed; a torn last line has no newline and is skipped
                if not line.endswith(b"\n"):
                    continue
                try:
                    keys.add(json.loads(line)["key"])
                except (ValueError, UnicodeDecodeError, KeyError, TypeError, RecursionError):
                    continue
        return keys

    # ---------------------------------------------------------------- access
    def get(self, key: str) -> dict | None:
        """The record stored under ``key``, or ``None``."""
        return self._records.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def put(self, key: str, record: dict) -> dict:
        """Append one record durably (written and fsynced before this returns)."""
        return self.put_many([(key, record)])[0]

    def put_many(self, items: Iterable[tuple[str, dict]]) -> list[dict]:
        """Append several records with one write and one fsync (each still its own line)."""
        recs = self._append(items)
        if recs and self.fsync:
            os.fsync(self._fd)
            self._synced = self._written
        return recs

    async def aput(self, key: str, record: dict) -> dict:
        """:meth:`put` for event loops: the line is written at once, then fsynced off the loop.

        Concurrent callers share fsyncs (group commit): each waits until an fsync that
        started after its own write has finished, so every line is still on disk before its
        ``aput`` returns, but the loop never blocks on the disk.
        """
        rec = self._append([(key, record)])[0]
        if self.fsync:
            mine = self._written
            while self._synced < mine:
                if self._fsync_task is None or self._fsync_task.done():
                    self._fsync_task = asyncio.ensure_future(self._fsync_upto(self._written))
                await asyncio.shield(self._fsync_task)
        return rec

    async def _fsync_upto(self, generation: int) -> None:
        try:
            await asyncio.to_thread(os.fsync, self._fd)
        except OSError as exc:  # closed under us after a cancellation; nothing left to protect
            log.debug("%s: fsync skipped (%s)", self.path, exc)
        self._synced = max(self._synced, generation)

    def _append(self, items: Iterable[tuple[str, dict]]) -> list[dict]:
        # One os.write per call: the records reach the kernel (and survive a SIGKILL) at once.
        recs = [{"key": key, **record} for key, record in items]
        if not recs:
            return []
        payload = "".join(canonical_json(r) + "\n" for r in recs).encode("utf-8")
        view = memoryview(payload)
        while view:  # os.write may write less than asked for; O_APPEND keeps each chunk at the end
            view = view[os.write(self._fd, view) :]
        self._written += 1
        for r in recs:
            self._records[r["key"]] = r
        return recs

    # ----------------------------------------------------------------- close
    def close(self) -> None:
        """Release the lock and the file descriptor (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor also drops the flock
            self._fd = -1

    def __enter__(self) -> "JsonlCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; explicit close() is the contract
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"JsonlCache(path={str(self.path)!r}, records={len(self._records)})"
