"""The augment folder: the one module that knows its file names, writes it and reads it.

``recdenoise augment`` (:func:`recdenoise.llm.augment`) writes, atomically (each file appears
whole or not at all):

- ``augmented_edges.csv`` / ``.npz``: ``user, pos_item, neg_item`` (contiguous) and
  ``user_id, pos_item_id, neg_item_id`` (raw); the npz also holds the candidates ``[U, k]``;
- ``items.jsonl`` / ``items.csv`` and ``users.jsonl`` / ``users.csv``: validated attributes;
- ``failures.csv``: every task that produced no data, with its reason;
- ``item_text_features.npy``, ``item_attribute_features.npy`` ``float32 [I, D]`` and
  ``user_profile_features.npy`` ``[U, D]`` (zero rows where no text was validated) with
  ``*_mask.npy`` ``bool`` (rows filled), aligned to contiguous ids (:data:`FEATURE_FILES`);
- ``manifest.json``: provenance (model, prompt versions, endpoint host, times, the training
  data's checksum), counts, usage, cost;
- ``cache/``: the answer caches that make a rerun resume.

:func:`load_augment_dir` reads it back for training (LLMRec, :mod:`recdenoise.llmrec`) and
checks it against the split: ids inside the split, raw ids matching, the manifest's
``provenance.data_checksum`` equal to ``train.checksum()`` (an augment dir made for another
split seed has the same id space but a different train set: its triples could hold test items).

Imports only :mod:`recdenoise.data`, :mod:`recdenoise.errors`, :mod:`recdenoise.utils` and
``llm/`` (no graph, model or training code).
"""

from __future__ import annotations

import io
import json
import re
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.interactions import Interactions
from ..errors import DataError
from ..utils import atomic_write, atomic_write_json, atomic_write_text

if TYPE_CHECKING:  # the writer only reads outcomes' fields
    from .runner import TaskOutcome

__all__ = [
    "EDGES_FILE",
    "ATTRIBUTE_FIELD_PATTERN",
    "EDGES_NPZ",
    "MANIFEST_FILE",
    "FAILURES_FILE",
    "FEATURE_FILES",
    "CACHE_DIR",
    "AugmentData",
    "load_augment_dir",
    "write_edges",
    "write_attributes",
    "write_failures",
    "write_array",
    "write_manifest",
]

logger = logging.getLogger(__name__)

EDGES_NPZ = "augmented_edges.npz"
"""Augmented triples and the candidates, as arrays."""

FAILURES_FILE = "failures.csv"
"""Tasks that produced no data, with their reasons."""

CACHE_DIR = "cache"
"""Answer caches (``chat.jsonl``, ``embeddings.jsonl``): rerunning resumes from them."""

EDGES_FILE = "augmented_edges.csv"
"""Augmented BPR triples written by the LLM job."""

MANIFEST_FILE = "manifest.json"
"""Provenance written by the LLM job (checked when present)."""

FEATURE_FILES: dict[str, tuple[str, str]] = {
    "user_profile": ("user", "user_profile_features.npy"),
    "item_text": ("item", "item_text_features.npy"),
    "item_attributes": ("item", "item_attribute_features.npy"),
}
"""Feature name -> (side, file name) in an augment dir; a missing file means "not produced"."""

ATTRIBUTE_FIELD_PATTERN = r"item_attribute_([A-Za-z0-9]+)_features\.npy"
"""Per-field item-attribute matrices ``item_attribute_<field>_features.npy``, one ``[I, F]`` per
field (LLMRec embeds each attribute field separately); the concatenated
``item_attribute_features.npy`` stays the fallback."""

_EDGE_COLUMNS = ("user", "pos_item", "neg_item")
_RAW_COLUMNS = {"user": "user_id", "pos_item": "pos_item_id", "neg_item": "neg_item_id"}


@dataclass
class AugmentData:
    """What an augment dir holds, validated against a training split.

    Attributes:
        users, pos_items, neg_items: ``int64 [N_A]`` augmented triples (contiguous ids).
        features: feature name -> ``float32 [U or I, F]`` (only the files present).
        path: the augment dir.
        attribute_fields: attribute field -> ``float32 [I, F]`` from the per-field files, sorted
            by field name (empty when the writer produced none).
    """

    users: np.ndarray
    pos_items: np.ndarray
    neg_items: np.ndarray
    features: dict[str, np.ndarray] = field(default_factory=dict)
    path: Optional[Path] = None
    attribute_fields: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_edges(self) -> int:
        return int(self.users.shape[0])


def _read_edges(path: Path, train: Interactions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read the augmented edges: {exc}", path) from exc
    missing = [c for c in _EDGE_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"missing columns {missing}; expected {list(_EDGE_COLUMNS)} (+ raw ids {list(_RAW_COLUMNS.values())})", path
        )
    out = []
    for col in _EDGE_COLUMNS:
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2  # 1-based, after the header
            raise DataError(f"column {col!r} holds a non-integer value {table[col].iloc[line - 2]!r}", path, line)
        index = values.to_numpy(dtype=np.int64)
        size = train.num_users if col == "user" else train.num_items
        outside = (index < 0) | (index >= size)
        if outside.any():
            line = int(np.flatnonzero(outside)[0]) + 2
            raise DataError(
                f"{col} index {index[line - 2]} is outside [0, {size}) of the training split; "
                "was the augment dir produced for another dataset or split?",
                path,
                line,
            )
        raw_col = _RAW_COLUMNS[col]
        if raw_col in table.columns:
            space = train.user_ids if col == "user" else train.item_ids
            expected = np.asarray(space).astype(str)[index]
            mismatch = expected != table[raw_col].to_numpy(dtype=str)
            if mismatch.any():
                line = int(np.flatnonzero(mismatch)[0]) + 2
                raise DataError(
                    f"{raw_col} {table[raw_col].iloc[line - 2]!r} does not match the split's raw id {expected[line - 2]!r} "
                    f"for {col} index {index[line - 2]}: the augment dir uses another id mapping; regenerate it "
                    "with `recdenoise augment` on the same dataset, split and seed",
                    path,
                    line,
                )
        out.append(index)
    same = out[1] == out[2]
    if same.any():
        line = int(np.flatnonzero(same)[0]) + 2
        raise DataError("an augmented triple has pos_item == neg_item", path, line)
    return out[0], out[1], out[2]


def _read_feature(path: Path, side: str, train: Interactions) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the feature matrix: {exc}", path) from exc
    rows = train.num_users if side == "user" else train.num_items
    if array.ndim != 2 or array.shape[0] != rows:
        raise DataError(
            f"feature matrix has shape {list(array.shape)}; expected [{rows}, F] (one row per contiguous {side} id)",
            path,
        )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise DataError("feature matrix holds NaN or inf values; write zeros for nodes without features", path)
    return array


def _check_manifest(path: Path, train: Interactions) -> None:
    if not path.is_file():
        logger.info("%s: no manifest; the augment dir cannot be checked against the split's checksum", path.parent)
        return
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the manifest: {exc}", path) from exc
    recorded = (manifest.get("provenance") or {}).get("data_checksum")
    if recorded is not None and recorded != train.checksum():
        raise DataError(
            f"the augment dir was generated for training data with checksum {recorded[:12]}..., but the split "
            f"trained on has {train.checksum()[:12]}...: regenerate it with `recdenoise augment` using the same "
            "dataset, preprocessing, split method and seed",
            path,
        )
    if manifest.get("complete") is False:
        logger.warning("%s: the augmentation job did not finish (partial outputs); rerun it to complete", path.parent)


def load_augment_dir(path: str | Path, train: Interactions, *, require_edges: bool = True) -> AugmentData:
    """Read and validate an augment dir against the training interactions.

    Raises:
        DatasetNotFoundError-like :class:`DataError`: the dir or the edges file is missing
            (with ``require_edges``), a file is malformed, or ids do not match the split.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"augment dir {root} does not exist; run `recdenoise augment` first or fix the path")
    _check_manifest(root / MANIFEST_FILE, train)
    edges_path = root / EDGES_FILE
    if edges_path.is_file():
        users, pos, neg = _read_edges(edges_path, train)
    elif require_edges:
        raise DataError(
            f"no {EDGES_FILE} in the augment dir; run the implicit-feedback augmentation or disable augmented edges",
            root,
        )
    else:
        users = pos = neg = np.zeros(0, dtype=np.int64)
    features = {}
    for name, (side, file_name) in FEATURE_FILES.items():
        if (root / file_name).is_file():
            features[name] = _read_feature(root / file_name, side, train)
    fields = {}
    for file in sorted(root.iterdir()):
        match = re.fullmatch(ATTRIBUTE_FIELD_PATTERN, file.name)
        if match:
            fields[match.group(1)] = _read_feature(file, "item", train)
    logger.info(
        "augment dir %s: %d augmented triples, features %s, attribute fields %s", root, users.shape[0], sorted(features), sorted(fields)
    )
    return AugmentData(users, pos, neg, features, root, fields)


# ---------------------------------------------------------------- writers
def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def write_edges(
    out: Path, edges: np.ndarray, candidates: np.ndarray, user_ids: np.ndarray, item_ids: np.ndarray
) -> list[str]:
    """``augmented_edges.csv`` and ``augmented_edges.npz`` from ``int64 [E, 3]`` edges."""
    u, p, n = edges[:, 0], edges[:, 1], edges[:, 2]
    df = pd.DataFrame(
        {
            "user": u,
            "pos_item": p,
            "neg_item": n,
            "user_id": user_ids[u],
            "pos_item_id": item_ids[p],
            "neg_item_id": item_ids[n],
        }
    )
    atomic_write_text(out / EDGES_FILE, df.to_csv(index=False))
    buf = io.BytesIO()
    np.savez(buf, users=u, pos_items=p, neg_items=n, candidates=candidates)
    with atomic_write(out / EDGES_NPZ, "wb") as fh:
        fh.write(buf.getvalue())
    return [EDGES_FILE, EDGES_NPZ]


def write_attributes(out: Path, stem: str, table: pd.DataFrame, provenance: Mapping[str, str]) -> list[str]:
    """``<stem>.jsonl`` (one object per row, with provenance) and ``<stem>.csv`` (lists joined by ``"|"``)."""
    id_cols = list(table.columns[:2])
    lines = []
    for row in table.to_dict(orient="records"):
        rec = {c: _plain(row[c]) for c in id_cols}
        rec["attributes"] = {k: _plain(v) for k, v in row.items() if k not in id_cols}
        rec.update(provenance)
        lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
    atomic_write_text(out / f"{stem}.jsonl", "".join(line + "\n" for line in lines))
    flat = table.copy()
    for col in flat.columns[2:]:
        flat[col] = [("|".join(v) if isinstance(v, list) else v) for v in flat[col]]
    atomic_write_text(out / f"{stem}.csv", flat.to_csv(index=False))
    return [f"{stem}.jsonl", f"{stem}.csv"]


def write_failures(out: Path, outcomes: Sequence[TaskOutcome]) -> list[str]:
    """``failures.csv``: ``task_id, kind, reason, attempts`` of every task without a value."""
    rows = [(o.task_id, o.kind, o.failure, o.attempts) for o in outcomes if not o.ok]
    df = pd.DataFrame(rows, columns=["task_id", "kind", "reason", "attempts"])
    atomic_write_text(out / FAILURES_FILE, df.to_csv(index=False))
    return [FAILURES_FILE]


def write_array(out: Path, name: str, array: np.ndarray) -> list[str]:
    """``<name>.npy`` written atomically."""
    buf = io.BytesIO()
    np.save(buf, array)
    with atomic_write(out / f"{name}.npy", "wb") as fh:
        fh.write(buf.getvalue())
    return [f"{name}.npy"]


def write_manifest(out: Path, manifest: dict) -> list[str]:
    """``manifest.json`` written atomically."""
    atomic_write_json(out / MANIFEST_FILE, manifest)
    return [MANIFEST_FILE]
