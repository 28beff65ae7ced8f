"""Dataset registry: manifests, locating / downloading files, loading, and the data pipeline.

Each public dataset has a TOML manifest in ``recdenoise/data/manifests/`` (name, folder,
format, download URLs, per-file sha256, licence, citation). :func:`load_dataset` finds the
files in ``data_dir/<folder>``, else in the cache, else downloads them when allowed, and
parses them with the reader for the manifest's format. :func:`prepare_data` is the one call
the CLI and benchmarks make: load -> implicit feedback -> k-core -> split, plus a record of
what was done (checksums included) for the run record.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigError, DatasetNotFoundError
from ..utils import sha256_file
from .interactions import Split
from .locate import DATA_DIR_ENV, candidates, find_folder, resolve_data_dir
from .manifest import DatasetFile, Manifest, parse_manifest
from .options import parse_options
from .preprocess import compact, k_core as k_core_filter, to_implicit
from .readers import (
    LightGCNSplitOptions,
    LoadedDataset,
    MovieLens1MOptions,
    MovieLens100KOptions,
    MovieLensLatestOptions,
    NetflixLLMRecOptions,
    read_lightgcn_split,
    read_movielens_1m,
    read_movielens_100k,
    read_movielens_latest,
    read_netflix_llmrec,
)
from .split import predefined, resolve_split_method, split_dataset
from .synthetic import SyntheticOptions, make_synthetic

__all__ = [
    "DATA_DIR_ENV",
    "Manifest",
    "DatasetFile",
    "FileCheck",
    "VerifyReport",
    "list_datasets",
    "get_manifest",
    "describe_dataset",
    "locate_dataset",
    "has_ratings",
    "load_dataset",
    "dataset_options",
    "verify_dataset",
    "prepare_data",
]

logger = logging.getLogger(__name__)

MANIFEST_DIR = Path(__file__).parent / "manifests"


# ====================================================================== manifests
_MANIFESTS: dict[str, Manifest] | None = None


def _manifests() -> dict[str, Manifest]:
    global _MANIFESTS
    if _MANIFESTS is None:
        found = {}
        for path in sorted(MANIFEST_DIR.glob("*.toml")):
            m = parse_manifest(path)
            if m.name in found:
                raise ConfigError(f"{path}: dataset name {m.name!r} is declared twice")
            found[m.name] = m
        _MANIFESTS = found
    return _MANIFESTS


def list_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return sorted(_manifests())


def get_manifest(name: str) -> Manifest:
    """The manifest of dataset ``name``; :class:`ConfigError` (listing the known names) if unknown."""
    manifests = _manifests()
    if name in manifests:
        return manifests[name]
    close = difflib.get_close_matches(str(name), list(manifests), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown dataset {name!r}{hint}; known datasets: {', '.join(list_datasets())}")


def describe_dataset(name: str) -> dict[str, Any]:
    """The manifest of ``name`` as a plain dict (description, URLs, licence, citation, files)."""
    return get_manifest(name).to_dict()


# ====================================================================== locating files
def locate_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """The folder holding dataset ``name``'s files.

    Looks in ``data_dir/<folder>`` (``data_dir`` defaults to ``$RECDENOISE_DATA_DIR``; a
    ``data_dir`` that is itself the dataset folder works too), then in
    ``<cache>/<folder>``; downloads into the cache when ``download`` is true.

    Raises:
        DatasetNotFoundError: the files are nowhere and may not (or could not) be
            downloaded; the message lists the files to place and where.
        ChecksumError: a download did not match its manifest sha256.
    """
    manifest = get_manifest(name)
    if manifest.format == "synthetic":
        raise ConfigError(f"dataset {name!r} is generated, it has no folder")
    return find_folder(manifest, data_dir, download, cache_dir, timeout)


# ====================================================================== loading
_READERS: dict[str, tuple[Callable[..., LoadedDataset], type]] = {
    "movielens-100k": (read_movielens_100k, MovieLens100KOptions),
    "movielens-1m": (read_movielens_1m, MovieLens1MOptions),
    "movielens-latest": (read_movielens_latest, MovieLensLatestOptions),
    "lightgcn": (read_lightgcn_split, LightGCNSplitOptions),
    "llmrec-json": (read_netflix_llmrec, NetflixLLMRecOptions),
    "synthetic": (make_synthetic, SyntheticOptions),
}


# formats whose files hold interactions only, no ratings (natural noise needs ratings)
_UNRATED_FORMATS = frozenset({"lightgcn", "llmrec-json"})


def has_ratings(name: str) -> bool:
    """Whether dataset ``name``'s files carry ratings (needed by ``noise.kind = "natural"``)."""
    return get_manifest(name).format not in _UNRATED_FORMATS


def _reader(manifest: Manifest) -> tuple[Callable[..., LoadedDataset], type]:
    if manifest.format not in _READERS:
        raise ConfigError(
            f"dataset {manifest.name!r}: manifest format {manifest.format!r} has no reader; known: {sorted(_READERS)}"
        )
    return _READERS[manifest.format]


def _fixed_options(manifest: Manifest) -> set[str]:
    """Options the manifest sets itself (a declared id space), which a caller may not override."""
    return {k for k in ("num_users", "num_items") if k in manifest.id_space}


def dataset_options(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """The typed reader options of dataset ``name`` (defaults overridden by ``options``).

    Returns:
        an instance of the reader's frozen options class, e.g. :class:`MovieLens100KOptions`.

    Raises:
        ConfigError: unknown dataset; an option the reader does not take (the message lists
            the valid ones) or a value of the wrong type (the message names the key and type).
    """
    manifest = get_manifest(name)
    _, options_cls = _reader(manifest)
    return parse_options(options_cls, dict(options or {}), f"dataset {name!r}", _fixed_options(manifest))


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
    *,
    timeout: float = 60.0,
    **options: Any,
) -> LoadedDataset:
    """Find (or download) and read dataset ``name``.

    Args:
        name: a registered name (:func:`list_datasets`).
        data_dir: folder containing ``<folder>/`` of the dataset (default ``$RECDENOISE_DATA_DIR``).
        download: download into the cache when the files are not found.
        cache_dir: cache folder (default ``$RECDENOISE_CACHE_DIR`` or ``~/.cache/recdenoise``).
        options: reader options, checked against the reader's options class
            (:func:`dataset_options`), e.g. ``fold="u1"`` for ml-100k, ``strict=False`` for
            the split formats, or ``num_users=...`` / ``seed=...`` for ``"synthetic"``.

    Raises:
        ConfigError: unknown name, option or option type. DatasetNotFoundError: see
        :func:`locate_dataset`. DataError: malformed files (names the file and line).
    """
    manifest = get_manifest(name)
    reader, _ = _reader(manifest)
    kwargs = dataclasses.asdict(dataset_options(name, options))
    if manifest.format == "synthetic":
        return reader(name=name, **kwargs)
    kwargs.update({k: int(manifest.id_space[k]) for k in _fixed_options(manifest)})
    folder = locate_dataset(name, data_dir, download, cache_dir, timeout)
    logger.info("reading %s from %s", name, folder)
    return reader(folder, name=name, **kwargs)


# ====================================================================== verification
@dataclass(frozen=True)
class FileCheck:
    """Result of checking one file: ``status`` is ``ok``, ``mismatch``, ``missing`` or ``unknown``
    (present, but the manifest has no sha256 for it)."""

    path: str
    status: str
    required: bool
    expected: str | None = None
    actual: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    """Per-file checksum report of one dataset folder (``recdenoise datasets verify``)."""

    name: str
    folder: Path | None
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        """No mismatch and no missing required file."""
        return all(f.status != "mismatch" and not (f.status == "missing" and f.required) for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": None if self.folder is None else str(self.folder),
            "ok": self.ok,
            "files": [vars(f).copy() for f in self.files],
        }


def verify_dataset(name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> VerifyReport:
    """Check every manifest file of ``name`` against its sha256.

    Finds the folder like :func:`load_dataset` (never downloads); when the required files
    are not found anywhere, the report lists them as missing with ``folder=None``.
    """
    manifest = get_manifest(name)
    if manifest.format == "synthetic":
        return VerifyReport(name, None, ())
    try:
        folder: Path | None = locate_dataset(name, data_dir, False, cache_dir)
    except DatasetNotFoundError:  # report on the first folder that exists, complete or not
        existing = [p for p in candidates(manifest, resolve_data_dir(data_dir), cache_dir) if p.is_dir()]
        folder = existing[0] if existing else None
    checks = []
    for f in manifest.files:
        path = None if folder is None else folder / f.path
        if path is None or not path.is_file():
            checks.append(FileCheck(f.path, "missing", f.required, f.sha256))
            continue
        actual = sha256_file(path)
        status = "unknown" if f.sha256 is None else ("ok" if actual == f.sha256 else "mismatch")
        checks.append(FileCheck(f.path, status, f.required, f.sha256, actual))
    return VerifyReport(name, folder, tuple(checks))


# ====================================================================== pipeline
def prepare_data(
    dataset: str | LoadedDataset,
    data_dir: str | Path | None = None,
    *,
    split: str = "auto",
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    rating_threshold: float | None = None,
    k_core: int | tuple[int, int] = 0,
    seed: int = 0,
    download: bool = False,
    cache_dir: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> tuple[Split, dict[str, Any]]:
    """Load a dataset and turn it into a train/valid/test :class:`Split` (the CLI's entry point).

    Steps: :func:`load_dataset` -> :func:`~recdenoise.data.preprocess.to_implicit`
    (``rating >= rating_threshold``; ``None`` keeps *every* rating as an implicit positive,
    which is the default for MovieLens too) -> :func:`~recdenoise.data.preprocess.k_core`
    (when ``k_core > 0``; otherwise :func:`~recdenoise.data.preprocess.compact`) -> split.

    Args:
        dataset: a registered name, or an already loaded :class:`LoadedDataset`.
        data_dir: see :func:`load_dataset`.
        split: ``"auto"`` (the dataset's own split when it has one, else ``"ratio"``),
            ``"ratio"``, ``"leave_one_out"``, ``"temporal"`` or ``"predefined"``.
        ratios: ``(train, valid, test)`` for ``"ratio"`` / ``"temporal"``.
        rating_threshold: minimum rating kept; ``None`` keeps all.
        k_core: ``k`` for both sides or ``(user_k, item_k)``; ``0`` = no filter. Not
            allowed with a predefined split (it would change the published split).
        seed: split seed.
        download, cache_dir: see :func:`load_dataset`.
        options: reader options passed to :func:`load_dataset`.

    Returns:
        ``(split, info)``; ``info`` is JSON-ready: ``dataset``, ``description``, ``source``,
        ``files`` (``{path: sha256}``), ``files_verified`` (``True``/``False``/``None`` when
        no sha256 is known), ``raw`` stats, ``preprocess``, ``split`` (method, ratios, seed),
        ``stats`` per part and ``data_checksum`` (:meth:`Split.checksum`).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    user_k, item_k = (k_core, k_core) if isinstance(k_core, int) else tuple(k_core)
    if isinstance(dataset, LoadedDataset):
        loaded, manifest = dataset, None
    else:
        manifest = get_manifest(dataset)
        loaded = load_dataset(dataset, data_dir, download, cache_dir, **dict(options or {}))
    method = resolve_split_method(split, loaded.predefined is not None)

    if method == "predefined":
        if user_k > 0 or item_k > 0:
            raise ConfigError(
                f"k_core={k_core!r} cannot be combined with the predefined split of {loaded.name!r} (it would change "
                "the published split); use k_core=0 or split='ratio'"
            )
        parts = predefined(loaded)
        result = Split(*(to_implicit(getattr(parts, p), rating_threshold) for p in ("train", "valid", "test")))
    else:
        x = to_implicit(loaded.interactions, rating_threshold)
        x = k_core_filter(x, user_k, item_k) if (user_k > 0 or item_k > 0) else compact(x)
        result = split_dataset(loaded, method, ratios, seed, interactions=x)

    info: dict[str, Any] = {
        "dataset": loaded.name,
        "description": manifest.description if manifest is not None else "",
        "source": str(loaded.files[0].parent) if loaded.files else None,
        **_file_checksums(loaded, manifest),
        "raw": loaded.describe(),
        "preprocess": {"rating_threshold": rating_threshold, "k_core": [user_k, item_k]},
        "split": {
            "method": method,
            "ratios": [float(r) for r in ratios] if method in ("ratio", "temporal") else None,
            "seed": seed,
        },
        "stats": result.describe(),
        "data_checksum": result.checksum(),
    }
    return result, info


def _file_checksums(loaded: LoadedDataset, manifest: Manifest | None) -> dict[str, Any]:
    """sha256 of the files read, compared with the manifest (a mismatch is logged, not fatal)."""
    if not loaded.files:
        return {"files": {}, "files_verified": None}
    root = loaded.files[0].parent
    expected = {f.path: f.sha256 for f in manifest.files} if manifest is not None else {}
    sums, verdicts = {}, []
    for path in loaded.files:
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        sums[rel] = sha256_file(path)
        if expected.get(rel):
            verdicts.append(sums[rel] == expected[rel])
            if not verdicts[-1]:
                logger.warning(
                    "%s: sha256 %s differs from the manifest's %s; results may not be comparable",
                    path, sums[rel], expected[rel],
                )  # fmt: skip
    return {"files": sums, "files_verified": all(verdicts) if verdicts else None}
