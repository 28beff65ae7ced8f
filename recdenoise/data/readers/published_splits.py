"""Published split formats: the LightGCN text format and LLMRec's JSON lists.

- LightGCN ``user item item ...`` per line (``train.txt`` / ``valid.txt`` / ``test.txt``:
  Gowalla and the ML-1M split of LightGCN++),
- LLMRec ``{"user": [item, ...]}`` (``train.json`` / ``val.json`` / ``test.json``).

Ids are 0-based and kept as published; the files' split becomes the predefined split.
Tokens are parsed with ``numpy.fromstring``; a Python scan runs only to name a bad line.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..interactions import Interactions, Split
from ..preprocess import DuplicateInteractionsWarning
from .dataset import LoadedDataset
from .delimited import check_file

__all__ = [
    "LightGCNSplitOptions",
    "NetflixLLMRecOptions",
    "read_lightgcn_file",
    "read_lightgcn_split",
    "read_netflix_llmrec",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LightGCNSplitOptions:
    """Options of :func:`read_lightgcn_split`.

    Attributes:
        train, valid, test: file names inside the folder (a missing ``valid`` file = empty part).
        num_users, num_items: the published id space; ``None``: the largest id seen + 1.
        strict: a ``valid``/``test`` user without a ``train`` line is an error (else a warning).
    """

    train: str = "train.txt"
    valid: str | None = "valid.txt"
    test: str = "test.txt"
    num_users: int | None = None
    num_items: int | None = None
    strict: bool = True


@dataclass(frozen=True)
class NetflixLLMRecOptions:
    """Options of :func:`read_netflix_llmrec` (see :class:`LightGCNSplitOptions` for the fields)."""

    num_users: int | None = None
    num_items: int | None = None
    strict: bool = True


@dataclass
class _Part:
    """One split file parsed to 0-based (user, item) pairs; ``*_where`` locate rows for errors."""

    path: Path
    users: np.ndarray  # int64 [N]
    items: np.ndarray  # int64 [N]
    listed: np.ndarray  # int64 [L] users that have a line / key (possibly with no items)
    pair_lines: np.ndarray | None = None  # int64 [N] 1-based line of each pair (text formats)
    listed_lines: np.ndarray | None = None  # int64 [L]

    def where_pair(self, k: int) -> tuple[int | None, str]:
        if self.pair_lines is not None:
            return int(self.pair_lines[k]), ""
        return None, f" (user key {str(self.users[k])!r})"

    def where_listed(self, k: int) -> tuple[int | None, str]:
        if self.listed_lines is not None:
            return int(self.listed_lines[k]), ""
        return None, f" (user key {str(self.listed[k])!r})"


_LIGHTGCN_FMT = "one line per user: 'user item item ...' separated by spaces, 0-based integer ids"


def read_lightgcn_file(path: str | Path) -> _Part:
    """Parse one LightGCN-format file (``user item item ...`` per line, whitespace-separated).

    Blank lines are skipped; a line holding only a user id lists the user with no items.
    Tokens are parsed in one ``numpy.fromstring`` pass (about 1 s for 1M interactions is the
    budget; Gowalla's 0.75M-token ``train.txt`` takes ~0.05 s).

    Returns:
        a record with ``users``, ``items`` (``int64 [N]``), ``listed`` (``int64 [L]``, the
        user of each non-blank line) and 1-based line numbers ``pair_lines [N]`` /
        ``listed_lines [L]``.
    """
    path = check_file(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    counts = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    try:
        tokens = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:
        tokens = None
    if tokens is None or tokens.size != counts.sum() or (tokens.size and tokens.min() < 0):
        raise _lightgcn_token_error(path, lines)
    nonblank = counts > 0
    if not nonblank.any():
        raise DataError(f"file has no data lines (expected {_LIGHTGCN_FMT})", path)
    listed_lines = np.flatnonzero(nonblank) + 1
    per_line = counts[nonblank]
    starts = np.cumsum(per_line) - per_line
    listed = tokens[starts]
    is_user = np.zeros(tokens.size, dtype=bool)
    is_user[starts] = True
    return _Part(
        path=path,
        users=np.repeat(listed, per_line - 1),
        items=tokens[~is_user],
        listed=listed,
        pair_lines=np.repeat(listed_lines, per_line - 1),
        listed_lines=listed_lines,
    )


def _lightgcn_token_error(path: Path, lines: list[str]) -> DataError:
    for lineno, line in enumerate(lines, 1):
        for token in line.split():
            if not re.fullmatch(r"\+?\d+", token):
                hint = ""
                for sep in (",", ";", "|", "::"):
                    if sep in token:
                        hint = f"; is the separator {sep!r}? this format is whitespace-separated"
                        break
                msg = f"token {token!r} is not a non-negative integer id{hint} ({_LIGHTGCN_FMT})"
                return DataError(msg, path, lineno)
    return DataError(f"cannot parse the file as {_LIGHTGCN_FMT}", path)


def read_lightgcn_split(
    folder: str | Path,
    *,
    name: str,
    train: str = LightGCNSplitOptions.train,
    valid: str | None = LightGCNSplitOptions.valid,
    test: str = LightGCNSplitOptions.test,
    num_users: int | None = LightGCNSplitOptions.num_users,
    num_items: int | None = LightGCNSplitOptions.num_items,
    strict: bool = LightGCNSplitOptions.strict,
) -> LoadedDataset:
    """A LightGCN-format split folder (``train.txt``, optional ``valid.txt``, ``test.txt``).

    Ids are 0-based and kept as they are (``user_ids = arange(U)``); there are no ratings,
    timestamps or side information. ``interactions`` is the union of the three files.

    Args:
        num_users, num_items: the published id space. ``None``: the largest id seen in any
            file + 1. With a declared space, an id beyond it is a :class:`DataError`.
        strict: a user listed in ``valid``/``test`` without a ``train`` line is a
            :class:`DataError` (``False``: a warning).

    Shapes:
        Gowalla: train/valid/test ``719,081 / 91,047 / 217,242`` rows over ``(29858, 40981)``.
    """
    folder = Path(folder)
    parts = {"train": read_lightgcn_file(folder / train), "test": read_lightgcn_file(folder / test)}
    if valid is not None and (folder / valid).is_file():
        parts["valid"] = read_lightgcn_file(folder / valid)
    else:
        logger.info("%s has no %s: the validation part is empty", folder, valid)
        parts["valid"] = None
    return _assemble(name, parts, num_users, num_items, strict)


def _read_json_lists(path: Path) -> _Part:
    """``{"<user>": [item, ...]}`` -> pairs. Never touches pickles (LLMRec's ``train_mat``)."""
    path = check_file(path)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON ({exc.msg}, column {exc.colno}); re-download the file"
        raise DataError(msg, path, exc.lineno) from exc
    if not isinstance(obj, dict):
        raise DataError(f'expected a JSON object {{"user": [item, ...]}}, found a {type(obj).__name__}', path)
    keys = list(obj)
    bad_key = next((k for k in keys if not re.fullmatch(r"\d+", k)), None)
    if bad_key is not None:
        raise DataError(f"user key {bad_key!r} is not a non-negative integer id", path)
    values = list(obj.values())
    bad_value = next((k for k, v in zip(keys, values) if not isinstance(v, list)), None)
    if bad_value is not None:
        kind = type(obj[bad_value]).__name__
        raise DataError(f"the value of user key {bad_value!r} is a {kind}, expected a list", path)
    flat = list(chain.from_iterable(values))
    bad_item = next((i for i in flat if type(i) is not int or i < 0), None)
    if bad_item is not None:
        user = next(k for k, v in zip(keys, values) if bad_item in v)
        raise DataError(f"item {bad_item!r} of user key {user!r} is not a non-negative integer id", path)
    listed = np.array(keys, dtype=np.int64) if keys else np.zeros(0, dtype=np.int64)
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    items = np.array(flat, dtype=np.int64) if flat else np.zeros(0, dtype=np.int64)
    return _Part(path=path, users=np.repeat(listed, lengths), items=items, listed=listed)


def read_netflix_llmrec(
    folder: str | Path,
    *,
    name: str = "netflix-llmrec",
    num_users: int | None = NetflixLLMRecOptions.num_users,
    num_items: int | None = NetflixLLMRecOptions.num_items,
    strict: bool = NetflixLLMRecOptions.strict,
) -> LoadedDataset:
    """The LLMRec Netflix subset: ``train.json`` / ``val.json`` / ``test.json`` (``{"user": [items]}``).

    ``train_mat`` (a pickle holding the same pairs as ``train.json``) is never read:
    unpickling can run code. In the published copy ``val.json`` and ``test.json`` are the
    same file; they are kept as they are (valid == test) and logged.

    Args:
        num_users, num_items: the published id space (13,187 x 17,366); ``None``: the
            largest id seen in any file + 1 (13,187 x 17,364 for the published files).
        strict: a ``val``/``test`` user key absent from ``train.json`` is a
            :class:`DataError` (``False``: a warning).

    Shapes:
        train ``68,933`` rows; valid = test ``1,845`` rows.
    """
    folder = Path(folder)
    parts = {"train": _read_json_lists(folder / "train.json")}
    for part, file in (("valid", "val.json"), ("test", "test.json")):
        parts[part] = _read_json_lists(folder / file)
    if (folder / "val.json").read_bytes() == (folder / "test.json").read_bytes():
        logger.info("%s: val.json and test.json are identical (as published by LLMRec); kept as is", folder)
    return _assemble(name, parts, num_users, num_items, strict)


def _assemble(
    name: str, parts: dict[str, _Part | None], num_users: int | None, num_items: int | None, strict: bool
) -> LoadedDataset:
    """Validate split parts against one id space and build the :class:`LoadedDataset`."""
    present = [p for p in parts.values() if p is not None]
    max_user = max(int(max(p.listed.max(initial=-1), p.users.max(initial=-1))) for p in present)
    max_item = max(int(p.items.max(initial=-1)) for p in present)
    U = max_user + 1 if num_users is None else int(num_users)
    I = max_item + 1 if num_items is None else int(num_items)  # noqa: E741
    for p in present:
        for ids, space, what in ((p.listed, U, "user"), (p.items, I, "item")):
            if (beyond := np.flatnonzero(ids >= space)).size:
                k = int(beyond[0])
                line, key = p.where_listed(k) if what == "user" else p.where_pair(k)
                raise DataError(
                    f"{what} id {int(ids[k])}{key} is outside the {what} id space [0, {space}) of dataset {name!r}; "
                    "the file does not belong to this dataset (or the declared id space is wrong)",
                    p.path,
                    line,
                )
    train = parts["train"]
    for part in ("valid", "test"):
        p = parts[part]
        if p is None:
            continue
        unknown = np.flatnonzero(~np.isin(p.listed, train.listed))
        if unknown.size:
            line, key = p.where_listed(int(unknown[0]))
            msg = (
                f"{unknown.size} {part} user(s) absent from {train.path.name}, e.g. user {int(p.listed[unknown[0]])}"
                f"{key}: the split references users the training data does not know"
            )
            if strict:
                raise DataError(msg + "; remove them or pass strict=False", p.path, line)
            warnings.warn(f"{p.path}: {msg}", stacklevel=3)

    built: dict[str, Interactions] = {}
    for part, p in parts.items():
        if p is None:
            built[part] = Interactions(np.zeros(0, np.int64), np.zeros(0, np.int64), U, I)
            continue
        key = p.users * I + p.items
        unique = _sorted_unique(key)
        if unique.size < key.size:
            warnings.warn(
                f"{p.path}: {key.size - unique.size} duplicate (user, item) pairs dropped",
                DuplicateInteractionsWarning,
                stacklevel=3,
            )
        built[part] = Interactions(unique // I, unique % I, U, I)
    for part in ("valid", "test"):
        overlap = int(built["train"].contains(built[part].users, built[part].items).sum())
        if overlap:
            warnings.warn(f"{parts[part].path}: {overlap} pairs also appear in train (leakage)", stacklevel=3)
    everything = _sorted_unique(np.concatenate([b.sorted_keys() for b in built.values()]))
    x = Interactions(everything // I, everything % I, U, I)
    split = Split(built["train"], built["valid"], built["test"])
    return LoadedDataset(name, x, split, [p.path for p in present])


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values; a sort + diff beats ``np.unique``'s hash path on int64 keys."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys

