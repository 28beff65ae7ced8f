"""Dataset manifests: one TOML file per public dataset, parsed into a frozen :class:`Manifest`.

A manifest names the dataset, its folder and file format, the official download URLs, the
sha256 of every file, the licence and the citation (``recdenoise/data/manifests/*.toml``).
Unknown keys are errors, so a typo in a manifest cannot silently drop a checksum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..compat import tomllib
from ..errors import ConfigError
from .download import DownloadSpec

__all__ = ["DatasetFile", "Manifest", "parse_manifest"]

_UNKNOWN = ("", "unknown")


@dataclass(frozen=True)
class DatasetFile:
    """A file of a dataset folder: relative ``path``, expected ``sha256`` (``None`` = unknown)."""

    path: str
    sha256: str | None = None
    required: bool = True


@dataclass(frozen=True)
class Manifest:
    """Everything the registry knows about one dataset (parsed from its TOML manifest)."""

    name: str
    description: str
    folder: str
    format: str
    homepage: str = ""
    license: str = ""
    citation: str = ""
    predefined_split: bool = False
    notes: str = ""
    stats: Mapping[str, int] = field(default_factory=dict)
    id_space: Mapping[str, int] = field(default_factory=dict)
    downloads: tuple[DownloadSpec, ...] = ()
    files: tuple[DatasetFile, ...] = ()

    @property
    def required_files(self) -> list[str]:
        return [f.path for f in self.files if f.required]

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (for ``recdenoise datasets describe`` and JSON)."""
        return {
            "name": self.name,
            "description": self.description,
            "folder": self.folder,
            "format": self.format,
            "homepage": self.homepage,
            "license": self.license,
            "citation": self.citation,
            "predefined_split": self.predefined_split,
            "notes": self.notes,
            "stats": dict(self.stats),
            "downloads": [
                {"url": d.url, "kind": d.kind, "path": d.path, "sha256": d.sha256 or "unknown"} for d in self.downloads
            ],
            "files": [{"path": f.path, "sha256": f.sha256 or "unknown", "required": f.required} for f in self.files],
        }


_TOP_KEYS = {
    "name", "description", "folder", "format", "homepage", "license", "citation", "predefined_split", "notes",
    "stats", "id_space", "downloads", "files",
}  # fmt: skip
_DOWNLOAD_KEYS = {"url", "kind", "path", "sha256", "strip"}
_FILE_KEYS = {"path", "sha256", "required"}


def _sha_or_none(value: str | None) -> str | None:
    return None if value is None or value.strip().lower() in _UNKNOWN else value.strip().lower()


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    if unknown := sorted(set(table) - allowed):
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def parse_manifest(path: Path) -> Manifest:
    """Read and validate one manifest file (:class:`ConfigError` naming the file when it is malformed)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from exc
    _check_keys(str(path), raw, _TOP_KEYS)
    for key in ("name", "description", "folder", "format"):
        if key not in raw:
            raise ConfigError(f"{path}: missing required key {key!r}")
    downloads = []
    for d in raw.get("downloads", []):
        _check_keys(f"{path} [[downloads]]", d, _DOWNLOAD_KEYS)
        sha = _sha_or_none(d.get("sha256"))
        downloads.append(DownloadSpec(d["url"], d.get("kind", "file"), d.get("path"), sha, d.get("strip")))
    files = []
    for f in raw.get("files", []):
        _check_keys(f"{path} [[files]]", f, _FILE_KEYS)
        files.append(DatasetFile(f["path"], _sha_or_none(f.get("sha256")), bool(f.get("required", True))))
    return Manifest(
        **{k: raw[k] for k in _TOP_KEYS - {"downloads", "files"} if k in raw},
        downloads=tuple(downloads),
        files=tuple(files),
    )
