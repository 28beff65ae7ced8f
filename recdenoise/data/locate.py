"""Where a dataset's files are: ``data_dir/<folder>``, else the cache, else a download.

The search order and the message that says where to put missing files live here;
:func:`recdenoise.data.registry.locate_dataset` is the public entry point.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from ..errors import ChecksumError, DatasetNotFoundError, DownloadError
from .download import download_into, resolve_cache_dir
from .manifest import Manifest

__all__ = ["DATA_DIR_ENV", "candidates", "find_folder", "resolve_data_dir"]

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "RECDENOISE_DATA_DIR"


def find_folder(
    manifest: Manifest,
    data_dir: str | Path | None,
    download: bool,
    cache_dir: str | Path | None,
    timeout: float,
) -> Path:
    """The folder holding ``manifest``'s files (see :func:`recdenoise.data.registry.locate_dataset`)."""
    data_dir = resolve_data_dir(data_dir)
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise DatasetNotFoundError(
            f"the data folder {data_dir} (--data-dir or ${DATA_DIR_ENV}) is a file, not a folder; pass the "
            f"folder that holds {manifest.folder}/ (e.g. --data-dir {data_dir.parent})"
        )
    found = candidates(manifest, data_dir, cache_dir)
    cache_folder = found[-1]
    for folder in found + ([data_dir] if data_dir is not None else []):
        if _has_files(folder, manifest):
            return folder
    failure = ""
    if download:
        if not manifest.downloads:
            failure = "there is no download source for it"
        else:
            expected = {f.path: f.sha256 for f in manifest.files if f.required}
            try:
                logger.info("downloading %s into %s", manifest.name, cache_folder)
                return download_into(manifest.downloads, cache_folder, expected, timeout)
            except ChecksumError:
                raise
            except DownloadError as exc:
                failure = f"the download failed: {exc}"
    raise DatasetNotFoundError(_not_found_message(manifest, found, cache_folder, data_dir, failure))



def _has_files(folder: Path, manifest: Manifest) -> bool:
    return folder.is_dir() and all((folder / f).is_file() for f in manifest.required_files)


def _missing(folder: Path, manifest: Manifest) -> list[str]:
    return [f for f in manifest.required_files if not (folder / f).is_file()]


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    data_dir = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or None
    return None if data_dir is None else Path(data_dir).expanduser()


def candidates(manifest: Manifest, data_dir: Path | None, cache_dir: str | Path | None) -> list[Path]:
    """``[data_dir/<folder>,] <cache>/<folder>`` in search order (the cache folder last)."""
    found = [] if data_dir is None else [data_dir / manifest.folder]
    return found + [resolve_cache_dir(cache_dir) / manifest.folder]


def _not_found_message(
    manifest: Manifest, looked: Sequence[Path], cache_folder: Path, data_dir: str | Path | None, failure: str
) -> str:
    files = ", ".join(manifest.required_files)
    where = "; ".join(f"{p} (missing {', '.join(_missing(p, manifest)) or 'folder'})" for p in looked)
    root = Path(data_dir) if data_dir is not None else Path("<data-dir>")
    target = root / manifest.folder
    sources = ", ".join(d.url for d in manifest.downloads) or manifest.homepage
    msg = f"dataset {manifest.name!r} not found" + (f" and {failure}" if failure else "") + f". Looked in: {where}. "
    msg += (
        f"Fix: place the files {files} in {target}/ and pass --data-dir {root} "
        f"(or set {DATA_DIR_ENV}); the files come from {sources}"
    )
    if any(d.kind == "zip" for d in manifest.downloads):
        msg += " (unzip the archive there)"
    if not failure and manifest.downloads:
        msg += f". Or pass --download (download=True) to fetch them into {cache_folder}"
    if manifest.notes:
        msg += f". Note: {manifest.notes}"
    return msg
