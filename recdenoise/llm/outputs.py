"""Atomic writers for the augmentation job's outputs (each file appears whole or not at all).

Files in the output folder:

- ``augmented_edges.csv`` / ``.npz``: ``user, pos_item, neg_item`` (contiguous) and
  ``user_id, pos_item_id, neg_item_id`` (raw); the npz also holds the candidates ``[U, k]``;
- ``items.jsonl`` / ``items.csv`` and ``users.jsonl`` / ``users.csv``: validated attributes;
- ``failures.csv``: every task that produced no data, with its reason;
- ``item_text_features.npy``, ``item_attribute_features.npy`` ``float32 [I, D]`` and
  ``user_profile_features.npy`` ``[U, D]`` (zero rows where no text was validated) with
  ``*_mask.npy`` ``bool`` (rows filled), aligned to contiguous ids (read by :mod:`recdenoise.llmrec`);
- ``manifest.json``: provenance (model, prompt versions, endpoint host, times), counts, usage, cost.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..utils import atomic_write, atomic_write_json, atomic_write_text
from .runner import TaskOutcome

__all__ = ["write_edges", "write_attributes", "write_failures", "write_array", "write_manifest"]


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
    atomic_write_text(out / "augmented_edges.csv", df.to_csv(index=False))
    buf = io.BytesIO()
    np.savez(buf, users=u, pos_items=p, neg_items=n, candidates=candidates)
    with atomic_write(out / "augmented_edges.npz", "wb") as fh:
        fh.write(buf.getvalue())
    return ["augmented_edges.csv", "augmented_edges.npz"]


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
    atomic_write_text(out / "failures.csv", df.to_csv(index=False))
    return ["failures.csv"]


def write_array(out: Path, name: str, array: np.ndarray) -> list[str]:
    """``<name>.npy`` written atomically."""
    buf = io.BytesIO()
    np.save(buf, array)
    with atomic_write(out / f"{name}.npy", "wb") as fh:
        fh.write(buf.getvalue())
    return [f"{name}.npy"]


def write_manifest(out: Path, manifest: dict) -> list[str]:
    atomic_write_json(out / "manifest.json", manifest)
    return ["manifest.json"]
