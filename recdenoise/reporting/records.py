"""The run folder's files: ``run.json`` and the artefacts beside it, each written atomically.

::

    run.json            resolved config, seed, versions, data checksums, noise summary,
                        per-epoch history, diagnostics, final valid/test metrics
    split/train.csv     the split with raw user/item ids (train has ``is_noise`` when labelled)
    split/valid.csv
    split/test.csv
    test_topk.csv       user,rank,item,score (raw ids): the lists behind the test metrics
    test_per_user.csv   per-user test metrics
    checkpoint.pt       resumable trainer state (written every epoch)
    model.pt            weights of the selected (best-validation) epoch
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..config import RunConfig, config_from_dict, config_to_dict
from ..data.interactions import Interactions, Split
from ..errors import CheckpointError, DivergedError
from ..evaluation import EvalResult
from ..utils import atomic_torch_save, atomic_write, atomic_write_json

__all__ = [
    "CHECKPOINT_FILE",
    "MODEL_FILE",
    "RECORD_FILE",
    "versions",
    "topk_frame",
    "write_csv",
    "write_split",
    "write_record",
    "write_model",
    "write_results",
    "read_record",
    "check_resumable",
    "previous_failure",
    "mark_stopped",
]

CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
RECORD_FILE = "run.json"

logger = logging.getLogger(__name__)

# Config fields that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "progress"), ("train", "device"), ("train", "patience")}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of Python and the libraries a result depends on (``None``: not installed)."""
    from .. import __version__

    return {
        "recdenoise": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": _version("torch_geometric"),
        "numpy": np.__version__,
        "scipy": _version("scipy"),
        "pandas": pd.__version__,
    }


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic_write(path, "w") as fh:
        frame.to_csv(fh, index=False)


def write_split(out: Path, split: Split) -> None:
    """``split/{train,valid,test}.csv`` with raw ids (``is_noise`` as 0/1 when labelled)."""
    for name in ("train", "valid", "test"):
        part: Interactions = getattr(split, name)
        frame = part.to_dataframe(raw_ids=True)
        if "is_noise" in frame:
            frame["is_noise"] = frame["is_noise"].astype(np.int8)
        write_csv(out / "split" / f"{name}.csv", frame)


def topk_frame(result: EvalResult, train: Interactions) -> pd.DataFrame:
    """``user,rank,item,score`` (raw ids, rank from 1) from an :class:`EvalResult` with ``topk``."""
    users, items, scores = (t.numpy() for t in result.topk)
    k = items.shape[1]
    return pd.DataFrame(
        {
            "user": np.repeat(train.user_ids[users], k),
            "rank": np.tile(np.arange(1, k + 1), len(users)),
            "item": train.item_ids[items.reshape(-1)],
            "score": scores.reshape(-1).astype(np.float64),
        }
    )


def write_record(out: Path, record: dict[str, Any]) -> None:
    atomic_write_json(out / RECORD_FILE, record)


def write_model(out: Path, model: torch.nn.Module) -> None:
    atomic_torch_save(model.state_dict(), out / MODEL_FILE)


def write_results(out: Path, test: EvalResult, train: Interactions) -> None:
    """``test_topk.csv`` and ``test_per_user.csv``."""
    write_csv(out / "test_topk.csv", topk_frame(test, train))
    write_csv(out / "test_per_user.csv", test.per_user)


def read_record(folder: Path) -> tuple[dict[str, Any], RunConfig]:
    """``(record, config)`` of a run folder's ``run.json``."""
    path = folder / RECORD_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder} has no {RECORD_FILE}; pass the --output folder of a `recdenoise train` run")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise TypeError("expected a JSON object with a \"config\" object")
        return record, config_from_dict(record["config"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a run record: {exc}") from exc


def check_resumable(out: Path, cfg: RunConfig) -> None:
    """The run in ``out`` must have been started with the same config (epochs etc. may differ)."""
    path = out / RECORD_FILE
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8")).get("config")
    except (ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); delete the folder or choose another --output") from exc
    if not isinstance(old, dict):
        return
    new = config_to_dict(cfg)
    diffs = []
    for section, values in new.items():
        if isinstance(values, dict):
            for key, value in values.items():
                before = (old.get(section) or {}).get(key)
                if (section, key) not in RESUMABLE_CHANGES and before != value:
                    diffs.append(f"{section}.{key}: {before!r} -> {value!r}")
        elif section != "output_dir" and old.get(section) != values:
            diffs.append(f"{section}: {old.get(section)!r} -> {values!r}")
    if diffs:
        raise CheckpointError(
            f"cannot resume {out}: it was started with another config ({'; '.join(diffs)}); "
            "use the same settings or a new --output"
        )


def _read_json(out: Path) -> dict[str, Any] | None:
    """``out/run.json`` as a dict; ``None`` when it is missing, unreadable or not an object."""
    try:
        record = json.loads((out / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # UnicodeDecodeError and JSON errors are ValueErrors
        return None
    return record if isinstance(record, dict) else None


def record_status(out: Path) -> str | None:
    """The ``"status"`` of ``out/run.json``: ``None`` without one, ``"unreadable"`` for a file
    that is not a JSON object, ``"unknown"`` for one without a status."""
    if not (out / RECORD_FILE).is_file():
        return None
    record = _read_json(out)
    return "unreadable" if record is None else str(record.get("status", "unknown"))


def previous_failure(out: Path) -> str | None:
    """``"<status> at epoch N: <error>"`` when ``out/run.json`` records a failed, diverged or
    interrupted run, else ``None``."""
    record = _read_json(out)
    if record is None or record.get("status") not in ("failed", "diverged", "interrupted"):
        return None
    epoch = record.get("failed_at_epoch")
    where = f" at epoch {epoch}" if epoch is not None else ""
    return f"{record['status']}{where}: {record.get('error') or 'no message'}"


def mark_stopped(out: Path, record: dict[str, Any], exc: BaseException, epoch: int) -> None:
    """Record why a run stopped: ``"status"`` ``"diverged"`` (:class:`DivergedError`),
    ``"interrupted"`` (Ctrl-C / SIGTERM) or ``"failed"``, with ``"error"`` and the epoch. Best
    effort: when the record itself cannot be written (disk full), the old one stays."""
    if isinstance(exc, DivergedError):
        status, epoch = "diverged", exc.epoch
    elif isinstance(exc, KeyboardInterrupt):
        status = "interrupted"
    else:
        status = "failed"
    message = " ".join(str(exc).split()) or type(exc).__name__
    record.update(status=status, error=message, failed_at_epoch=epoch)
    try:
        write_record(out, record)
    except OSError as err:  # disk full / read-only: nothing half-written either way
        logger.debug("could not mark %s as %s: %s", out, status, err)
