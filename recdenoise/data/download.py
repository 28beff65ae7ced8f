"""Downloads into the local cache: streamed, checksummed, atomic.

:func:`fetch` streams one URL into a temporary file next to its destination, hashing as it
goes, and renames it into place only after the length and sha256 check out: an interrupted
or corrupt transfer leaves nothing behind. :func:`extract_zip` unpacks into a temporary
folder first (rejecting paths that escape it) and then moves the result into place.
:func:`download_into` runs a dataset's downloads into a staging folder and installs the
files only when every one has arrived.

Cache folder: the ``cache_dir`` argument, else ``$RECDENOISE_CACHE_DIR``, else
``~/.cache/recdenoise``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ChecksumError, ConfigError, DownloadError
from ..utils import sha256_file

__all__ = ["CACHE_ENV", "DownloadSpec", "resolve_cache_dir", "fetch", "extract_zip", "download_into"]

logger = logging.getLogger(__name__)

CACHE_ENV = "RECDENOISE_CACHE_DIR"
_CHUNK = 1 << 20
_USER_AGENT = "recdenoise/0.1 (dataset download)"


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir`` > ``$RECDENOISE_CACHE_DIR`` > ``~/.cache/recdenoise`` (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if env := os.environ.get(CACHE_ENV):
        return Path(env).expanduser()
    return Path.home() / ".cache" / "recdenoise"


def confined_path(rel: str, what: str) -> PurePosixPath:
    """``rel`` as a relative path that stays inside its dataset folder (no absolute path, no ``..``).

    Raises:
        ConfigError: naming ``what`` and the path.
    """
    path = PurePosixPath(str(rel).replace("\\", "/"))
    if not str(rel) or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ConfigError(f"{what} {rel!r} must be a relative path inside the dataset folder (no absolute path, no '..')")
    return path


@dataclass(frozen=True)
class DownloadSpec:
    """One download of a dataset manifest.

    Attributes:
        url: where to get it.
        kind: ``"file"`` (saved as ``path``) or ``"zip"`` (extracted).
        path: for ``"file"``: the file name inside the dataset folder.
        sha256: expected sha256 of the downloaded bytes; ``None`` when not known.
        strip: for ``"zip"``: the folder inside the archive whose contents form the dataset
            folder (e.g. ``"ml-100k"``); ``None`` = the archive root.
    """

    url: str
    kind: str = "file"
    path: str | None = None
    sha256: str | None = None
    strip: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("file", "zip"):
            raise ConfigError(f"download kind must be 'file' or 'zip', got {self.kind!r} (url {self.url})")
        for name in ("path", "strip"):
            value = getattr(self, name)
            if value is not None:
                confined_path(value, f"download {name}")
        if self.kind == "file" and not self.path:
            raise ConfigError(f"a 'file' download needs a path (url {self.url})")


def fetch(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying the length and (if given) sha256.

    The bytes stream into a temporary file in ``dest``'s folder, which is renamed onto
    ``dest`` only after a complete, verified transfer.

    Raises:
        DownloadError: network failure, HTTP error status, or a transfer that ended early
            (fewer bytes than ``Content-Length``). Nothing is left at ``dest``.
        ChecksumError: the sha256 differs from ``sha256``. Nothing is left at ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    expected = response.headers.get("Content-Length")
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
            except urllib.error.URLError as exc:
                raise DownloadError(f"{url}: cannot connect ({exc.reason}); are you offline?") from exc
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(f"{url}: transfer failed after {received} bytes ({exc!r})") from exc
            if expected is not None and received != int(expected):
                raise DownloadError(
                    f"{url}: transfer ended early: received {received} of {int(expected)} bytes; try again"
                )
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if sha256 and actual.lower() != sha256.lower():
            raise ChecksumError(
                f"{url}: sha256 mismatch: expected {sha256}, got {actual}; the download was discarded. The file may "
                "be corrupt or changed upstream: retry, or place a verified copy manually"
            )
        os.replace(tmp, dest)
        logger.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, dest, received, actual)
        return dest
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def extract_zip(archive: str | Path, dest: str | Path, strip: str | None = None) -> Path:
    """Extract ``archive`` so that ``dest`` holds the contents of its ``strip`` folder.

    Extraction goes to a temporary folder next to ``dest``; members with absolute paths or
    ``..`` are refused. When ``dest`` does not exist the folder is renamed into place in
    one step; otherwise files are moved in one by one (existing files are replaced,
    others kept), so a partial archive never lands half-extracted.

    Raises:
        DownloadError: the archive is corrupt, unsafe, or lacks the ``strip`` folder.
    """
    archive, dest = Path(archive), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extract", dir=dest.parent))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    p = PurePosixPath(member)
                    if p.is_absolute() or ".." in p.parts:
                        raise DownloadError(f"{archive}: unsafe member path {member!r} in the archive; refusing it")
                if bad := zf.testzip():
                    raise DownloadError(f"{archive}: corrupt member {bad!r}; delete it and download again")
                zf.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise DownloadError(f"{archive}: not a valid zip archive ({exc}); delete it and download again") from exc
        source = staging / strip if strip else staging
        if not source.is_dir():
            raise DownloadError(f"{archive}: the archive has no folder {strip!r}; the upstream layout changed")
        _install(source, dest)
        return dest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install(source: Path, dest: Path) -> None:
    """Move the tree ``source`` to ``dest`` (rename when possible, else file by file)."""
    if not dest.exists():
        os.replace(source, dest)
        return
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)


def download_into(
    specs: list[DownloadSpec] | tuple[DownloadSpec, ...],
    folder: str | Path,
    expected_files: dict[str, str | None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Run every download of a dataset and install the result in ``folder``.

    All downloads land in a staging folder next to ``folder``; the per-file sha256 sums in
    ``expected_files`` (``{relative path: sha256 or None}``) are checked there, and only
    then are the files moved into ``folder``.

    Raises:
        DownloadError / ChecksumError: see :func:`fetch`; a required file missing from the
            downloads is a :class:`DownloadError`. Nothing is installed on failure.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".download", dir=folder.parent))
    try:
        tree = staging / "tree"
        tree.mkdir()
        for spec in specs:
            if spec.kind == "file":
                fetch(spec.url, tree / spec.path, spec.sha256, timeout)
            else:
                archive = fetch(spec.url, staging / "archive.zip", spec.sha256, timeout)
                extract_zip(archive, tree, spec.strip)
                archive.unlink()
        for rel, sha in (expected_files or {}).items():
            path = tree / confined_path(rel, "expected file")
            if not path.is_file():
                raise DownloadError(f"the downloads did not contain {rel}; the upstream layout changed")
            if sha:
                actual = sha256_file(path)
                if actual != sha.lower():
                    raise ChecksumError(
                        f"{rel} (from {', '.join(s.url for s in specs)}): sha256 mismatch: expected {sha}, got "
                        f"{actual}; nothing was installed. Upstream may have changed the file: place a verified copy "
                        f"in {folder} manually"
                    )
        _install(tree, folder)
        return folder
    finally:
        shutil.rmtree(staging, ignore_errors=True)

