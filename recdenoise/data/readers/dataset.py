"""The result every reader returns, and the step from a raw-id frame to :class:`Interactions`."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import DataError
from ..interactions import Interactions, Split

__all__ = ["LoadedDataset", "build_interactions"]


@dataclass(frozen=True, eq=False)
class LoadedDataset:
    """A dataset as read from disk.

    Attributes:
        name: dataset name (registry name, or the file stem for :func:`read_table`).
        interactions: every interaction in the files, ``N`` rows over ``(U, I)``; raw
            ratings / timestamps kept when the format has them.
        predefined: the files' own train/valid/test split over the same ``(U, I)``, or ``None``.
        files: the files that were read.
    """

    name: str
    interactions: Interactions
    predefined: Split | None = None
    files: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.predefined is not None and self.predefined.train.shape != self.interactions.shape:
            raise DataError(
                f"dataset {self.name!r}: predefined split id space {self.predefined.train.shape} differs from "
                f"the interactions' {self.interactions.shape}"
            )

    def describe(self) -> dict:
        """Counts of the whole table (and of the predefined split, if any) as a plain dict."""
        out = {"name": self.name, **self.interactions.describe()}
        if self.predefined is not None:
            out["predefined"] = {k: len(getattr(self.predefined, k)) for k in ("train", "valid", "test")}
        return out



def _align_info(info: pd.DataFrame, key: str, ids: np.ndarray, source: Path) -> pd.DataFrame:
    """One row per raw id in ``ids`` (contiguous-index order); ``key`` keeps the raw id."""
    info = info.drop_duplicates(key, keep="last").set_index(key)
    missing = ~np.isin(ids, info.index.to_numpy())
    if missing.any():
        warnings.warn(
            f"{source}: {int(missing.sum())} of {len(ids)} {key}s used by the interactions have no row here "
            f"(e.g. {ids[missing][:3].tolist()}); their side information is left empty",
            stacklevel=3,
        )
    out = info.reindex(ids).reset_index(drop=True)
    out.insert(0, key, ids)
    return out



def build_interactions(
    df: pd.DataFrame,
    rating: bool,
    timestamp: bool,
    user_info: tuple[pd.DataFrame, Path] | None = None,
    item_info: tuple[pd.DataFrame, Path] | None = None,
) -> Interactions:
    """Interactions from a deduplicated ``user, item[, rating][, timestamp]`` frame of raw ids."""
    x = Interactions.from_dataframe(
        df, "user", "item", "rating" if rating else None, "timestamp" if timestamp else None
    )
    changes = {}
    if user_info is not None:
        changes["user_info"] = _align_info(user_info[0], "user_id", x.user_ids, user_info[1])
    if item_info is not None:
        changes["item_info"] = _align_info(item_info[0], "item_id", x.item_ids, item_info[1])
    return x.replace(**changes) if changes else x

