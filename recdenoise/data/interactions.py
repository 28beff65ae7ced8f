"""The one in-memory representation of implicit feedback.

:class:`Interactions` is a table of (user, item) pairs over a *contiguous* id space
(users ``0..U-1``, items ``0..I-1``) that remembers the raw ids it came from, optional
per-interaction columns (rating, timestamp, noise label) and side information (titles,
genres, demographics) for later LLM work. Rows are kept sorted by (user, item) and are
unique, so the users-as-rows CSR view is exact and cheap.

Every stage downstream (graph, samplers, models, evaluator) consumes this object or its
CSR view; nothing reaches back into the raw files.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ..errors import DataError
from .csr import row_pointers

__all__ = ["Interactions", "Split"]

_OPTIONAL_COLUMNS = ("ratings", "timestamps", "is_noise")
_COLUMN_DTYPES = {"ratings": np.float32, "timestamps": np.int64, "is_noise": bool}


@dataclass(frozen=True, eq=False)
class Interactions:
    """Implicit feedback over a contiguous id space.

    Attributes:
        users: ``int64 [N]`` contiguous user index of each interaction.
        items: ``int64 [N]`` contiguous item index of each interaction.
        num_users: ``U``; may exceed ``users.max() + 1`` (users with no rows here).
        num_items: ``I``.
        user_ids: ``[U]`` raw user id of each contiguous index.
        item_ids: ``[I]`` raw item id of each contiguous index.
        ratings: optional ``float32 [N]`` explicit rating.
        timestamps: optional ``int64 [N]`` unix time.
        is_noise: optional ``bool [N]`` planted/natural noise label (``True`` = noisy).
        user_info: optional side information, one row per contiguous user, in index order.
        item_info: optional side information, one row per contiguous item, in index order.

    Construction sorts rows by (user, item) and rejects duplicates and out-of-range ids.
    """

    users: np.ndarray
    items: np.ndarray
    num_users: int
    num_items: int
    user_ids: np.ndarray | None = None
    item_ids: np.ndarray | None = None
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    is_noise: np.ndarray | None = None
    user_info: pd.DataFrame | None = field(default=None, repr=False)
    item_info: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        users = np.asarray(self.users, dtype=np.int64).ravel()
        items = np.asarray(self.items, dtype=np.int64).ravel()
        if users.shape != items.shape:
            raise DataError(f"users and items must have the same length, got {users.shape[0]} and {items.shape[0]}")
        num_users, num_items = int(self.num_users), int(self.num_items)
        if num_users < 0 or num_items < 0:
            raise DataError(f"num_users and num_items must be >= 0, got {num_users} and {num_items}")
        if users.size:
            if users.min() < 0 or users.max() >= num_users:
                raise DataError(f"user index out of range [0, {num_users}): min {users.min()}, max {users.max()}")
            if items.min() < 0 or items.max() >= num_items:
                raise DataError(f"item index out of range [0, {num_items}): min {items.min()}, max {items.max()}")
        key = users * max(num_items, 1) + items
        order = np.argsort(key, kind="stable")
        key = key[order]
        if key.size > 1 and (dup := np.flatnonzero(key[1:] == key[:-1])).size:
            u, i = users[order][dup[0]], items[order][dup[0]]
            raise DataError(
                f"{dup.size} duplicate (user, item) rows, e.g. user index {u}, item index {i}; "
                "deduplicate first (the readers do this and warn)"
            )
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        set_("users", users[order])
        set_("items", items[order])
        set_("num_users", num_users)
        set_("num_items", num_items)
        for name in _OPTIONAL_COLUMNS:
            col = getattr(self, name)
            if col is not None:
                col = np.asarray(col, dtype=_COLUMN_DTYPES[name]).ravel()
                if col.shape[0] != users.shape[0]:
                    raise DataError(f"{name} has {col.shape[0]} entries for {users.shape[0]} interactions")
                set_(name, col[order])
        set_("user_ids", np.arange(num_users) if self.user_ids is None else np.asarray(self.user_ids))
        set_("item_ids", np.arange(num_items) if self.item_ids is None else np.asarray(self.item_ids))
        if self.user_ids.shape[0] != num_users:
            raise DataError(f"user_ids has {self.user_ids.shape[0]} entries for num_users={num_users}")
        if self.item_ids.shape[0] != num_items:
            raise DataError(f"item_ids has {self.item_ids.shape[0]} entries for num_items={num_items}")
        for name, n in (("user_info", num_users), ("item_info", num_items)):
            info = getattr(self, name)
            if info is not None and len(info) != n:
                raise DataError(f"{name} has {len(info)} rows, expected one per index ({n})")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.users.shape[0])

    def __repr__(self) -> str:
        cols = [c for c in _OPTIONAL_COLUMNS if getattr(self, c) is not None]
        return (
            f"Interactions(num_users={self.num_users}, num_items={self.num_items}, "
            f"num_interactions={len(self)}, columns={cols})"
        )

    @property
    def shape(self) -> tuple[int, int]:
        """``(U, I)``."""
        return (self.num_users, self.num_items)

    @property
    def density(self) -> float:
        return len(self) / max(self.num_users * self.num_items, 1)

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Users-as-rows ``float32 [U, I]`` CSR matrix of ones (rows sorted, no duplicates)."""
        data = np.ones(len(self), dtype=np.float32)
        return sp.csr_matrix((data, self.items.copy(), row_pointers(self.users, self.num_users)), shape=self.shape)

    @cached_property
    def user_counts(self) -> np.ndarray:
        """``int64 [U]`` interactions per user."""
        return np.bincount(self.users, minlength=self.num_users).astype(np.int64)

    @cached_property
    def item_counts(self) -> np.ndarray:
        """``int64 [I]`` interactions per item."""
        return np.bincount(self.items, minlength=self.num_items).astype(np.int64)

    def checksum(self) -> str:
        """sha256 over the (user, item) pairs and the id space: identifies the data in run records."""
        h = hashlib.sha256()
        h.update(np.array([self.num_users, self.num_items], dtype=np.int64).tobytes())
        h.update(self.users.tobytes())
        h.update(self.items.tobytes())
        return h.hexdigest()

    def describe(self) -> dict:
        """Counts and sparsity as a plain dict."""
        out = {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "num_interactions": len(self),
            "density": self.density,
            "active_users": int((self.user_counts > 0).sum()),
            "active_items": int((self.item_counts > 0).sum()),
        }
        if self.is_noise is not None:
            out["num_noisy"] = int(self.is_noise.sum())
        return out

    # ------------------------------------------------------------- derivation
    def replace(self, **changes) -> "Interactions":
        """A copy with some fields replaced (validated again)."""
        return dataclasses.replace(self, **changes)

    def subset(self, index: np.ndarray | Sequence[int] | Sequence[bool]) -> "Interactions":
        """Rows selected by a boolean mask ``[N]`` or an integer index, in the same id space."""
        index = np.asarray(index)
        if index.dtype == bool and index.shape[0] != len(self):
            raise DataError(f"boolean mask has {index.shape[0]} entries for {len(self)} interactions")
        cols = {c: (None if getattr(self, c) is None else getattr(self, c)[index]) for c in _OPTIONAL_COLUMNS}
        return self.replace(users=self.users[index], items=self.items[index], **cols)

    def concat(self, other: "Interactions") -> "Interactions":
        """Rows of both tables (same id space required); optional columns kept only if both have them."""
        if self.shape != other.shape:
            raise DataError(f"cannot concatenate interactions over id spaces {self.shape} and {other.shape}")
        cols = {}
        for c in _OPTIONAL_COLUMNS:
            a, b = getattr(self, c), getattr(other, c)
            cols[c] = None if a is None or b is None else np.concatenate([a, b])
        if cols["is_noise"] is None and (self.is_noise is not None or other.is_noise is not None):
            a = self.is_noise if self.is_noise is not None else np.zeros(len(self), bool)
            b = other.is_noise if other.is_noise is not None else np.zeros(len(other), bool)
            cols["is_noise"] = np.concatenate([a, b])
        return self.replace(
            users=np.concatenate([self.users, other.users]), items=np.concatenate([self.items, other.items]), **cols
        )

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``bool [M]``: whether each (users[m], items[m]) pair is a row of this table (vectorised)."""
        keys = self.users * self.num_items + self.items  # sorted by construction
        query = np.asarray(users, dtype=np.int64) * self.num_items + np.asarray(items, dtype=np.int64)
        pos = np.searchsorted(keys, query)
        pos = np.minimum(pos, max(len(keys) - 1, 0))
        return (keys.size > 0) & (keys[pos] == query) if keys.size else np.zeros(query.shape, bool)

    # ------------------------------------------------------------- conversion
    @classmethod
    def from_csr(
        cls,
        matrix: sp.spmatrix,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
        **kwargs,
    ) -> "Interactions":
        """From a users-as-rows sparse matrix; every stored non-zero becomes one interaction."""
        coo = sp.coo_matrix(matrix)
        coo.sum_duplicates()
        keep = coo.data != 0
        return cls(coo.row[keep], coo.col[keep], coo.shape[0], coo.shape[1], user_ids, item_ids, **kwargs)

    def to_csr(self) -> sp.csr_matrix:
        """Alias of :attr:`csr` (a copy, so callers may modify it)."""
        return self.csr.copy()

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str | None = None,
        timestamp_col: str | None = None,
        user_ids: Iterable | None = None,
        item_ids: Iterable | None = None,
    ) -> "Interactions":
        """From a table of raw ids; raw ids are remapped to contiguous indices (sorted order).

        Pass ``user_ids`` / ``item_ids`` to fix the id space (e.g. to include items nobody
        interacted with, or to map a split into an existing id space); a raw id missing from
        them raises :class:`DataError`.
        """
        for col in (user_col, item_col, rating_col, timestamp_col):
            if col is not None and col not in df.columns:
                raise DataError(f"column {col!r} not found; available columns: {list(df.columns)}")
        u_codes, u_space = _encode(df[user_col].to_numpy(), user_ids, "user")
        i_codes, i_space = _encode(df[item_col].to_numpy(), item_ids, "item")
        ratings = None if rating_col is None else df[rating_col].to_numpy(np.float32)
        ts = None if timestamp_col is None else df[timestamp_col].to_numpy(np.int64)
        return cls(u_codes, i_codes, len(u_space), len(i_space), u_space, i_space, ratings, ts)

    def to_dataframe(self, raw_ids: bool = False) -> pd.DataFrame:
        """Columns ``user, item`` (+ ``rating``, ``timestamp``, ``is_noise`` when present).

        With ``raw_ids=True`` the user/item columns hold the original ids.
        """
        data = {
            "user": self.user_ids[self.users] if raw_ids else self.users,
            "item": self.item_ids[self.items] if raw_ids else self.items,
        }
        for c, name in (("ratings", "rating"), ("timestamps", "timestamp"), ("is_noise", "is_noise")):
            if getattr(self, c) is not None:
                data[name] = getattr(self, c)
        return pd.DataFrame(data)

    def to_edge_index(self, homogeneous: bool = False, device: torch.device | str | None = None) -> torch.Tensor:
        """PyG-style ``edge_index`` (see :func:`recdenoise.data.pyg.pairs_to_edge_index`).

        Shapes:
            - ``homogeneous=False``: ``[2, N]`` rows (user index, item index).
            - ``homogeneous=True``: ``[2, 2N]`` undirected graph over ``U + I`` nodes, items
              offset by ``U``: the input PyG's ``LightGCN`` expects.
        """
        from .pyg import pairs_to_edge_index

        ei = pairs_to_edge_index(torch.from_numpy(self.users), torch.from_numpy(self.items), self.num_users, homogeneous)
        return ei.to(device) if device is not None else ei

    @classmethod
    def from_edge_index(
        cls, edge_index: torch.Tensor, num_users: int, num_items: int, homogeneous: bool = False, **kwargs
    ) -> "Interactions":
        """Inverse of :meth:`to_edge_index` (duplicate and reverse edges are merged)."""
        from .pyg import edge_index_to_pairs

        users, items = edge_index_to_pairs(edge_index.detach().cpu(), num_users, num_items, homogeneous)
        return cls(users.numpy(), items.numpy(), num_users, num_items, **kwargs)

    def to_pyg(self) -> "torch_geometric.data.HeteroData":  # noqa: F821 (optional dependency)
        """A PyG ``HeteroData`` with ``("user", "rates", "item")`` edges (see :func:`recdenoise.data.pyg.to_pyg`)."""
        from .pyg import to_pyg

        return to_pyg(self)

    @classmethod
    def from_pyg(cls, data, num_users: int | None = None, num_items: int | None = None, **kwargs) -> "Interactions":
        """From a PyG ``HeteroData`` or an ``edge_index`` (see :func:`recdenoise.data.pyg.from_pyg`)."""
        from .pyg import from_pyg

        return from_pyg(data, num_users, num_items, **kwargs)

    def sorted_keys(self) -> np.ndarray:
        """``int64 [N]`` sorted keys ``user * I + item``: fast membership tests (``np.searchsorted``)."""
        return self.users * self.num_items + self.items


def _encode(raw: np.ndarray, space: Iterable | None, what: str) -> tuple[np.ndarray, np.ndarray]:
    if space is None:
        space_arr, codes = np.unique(raw, return_inverse=True)
        return codes.astype(np.int64), space_arr
    space_arr = np.asarray(list(space) if not isinstance(space, np.ndarray) else space)
    index = pd.Index(space_arr)
    codes = index.get_indexer(raw)
    if (missing := codes < 0).any():
        bad = pd.unique(raw[missing])[:5]
        raise DataError(
            f"{int(missing.sum())} rows reference {what} ids absent from the {what} id space, e.g. {list(bad)}"
        )
    return codes.astype(np.int64), space_arr


@dataclass(frozen=True)
class Split:
    """Train / validation / test interactions over one shared id space."""

    train: Interactions
    valid: Interactions
    test: Interactions

    def __post_init__(self) -> None:
        if not (self.train.shape == self.valid.shape == self.test.shape):
            raise DataError(
                f"split parts must share one id space, got {self.train.shape}, {self.valid.shape}, {self.test.shape}"
            )

    @property
    def num_users(self) -> int:
        return self.train.num_users

    @property
    def num_items(self) -> int:
        return self.train.num_items

    def checksum(self) -> str:
        """sha256 over the three parts."""
        h = hashlib.sha256()
        for part in (self.train, self.valid, self.test):
            h.update(part.checksum().encode())
        return h.hexdigest()

    def describe(self) -> dict:
        return {name: getattr(self, name).describe() for name in ("train", "valid", "test")}
