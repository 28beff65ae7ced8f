"""Splitting one augmentation job over machines, and putting the pieces back together.

``--shard I/N`` keeps the tasks whose stable hash lands in shard ``I``:

.. math::
    \\mathrm{shard}(t) = \\mathrm{int}(\\mathrm{sha256}(\\mathrm{task\\_id})[:16]) \\bmod N

so every task belongs to exactly one shard whatever the machine, order or Python version.
``recdenoise augment merge SHARD_DIR... --output OUT`` (with the flags the shards ran with)
copies the shards' answer caches into ``OUT/cache`` and runs the job there: every answer is
found in the cache, so ``OUT`` ends up byte-identical to a single run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError, DataError
from .cache import JsonlCache, sha256_text

__all__ = ["parse_shard", "shard_of", "merge_caches", "CACHE_FILES"]

log = logging.getLogger(__name__)

CACHE_FILES = ("chat.jsonl", "embeddings.jsonl")


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; ``None`` stays ``None``."""
    if text is None:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise ConfigError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def shard_of(task_id: str, count: int) -> int:
    """The shard (of ``count``) that owns ``task_id`` (see the module formula)."""
    return int(sha256_text(task_id)[:16], 16) % count


def merge_caches(shard_dirs: Sequence[str | Path], output: str | Path) -> dict[str, int]:
    """Copy every usable cache record of ``shard_dirs`` into ``output/cache``; returns records added per file.

    A key already present keeps its first record (answers are keyed by what was asked, so
    two shards holding the same key hold the same question).
    """
    added = {}
    for name in CACHE_FILES:
        with JsonlCache(Path(output) / "cache" / name) as merged:
            before = len(merged)
            for shard in shard_dirs:
                path = Path(shard) / "cache" / name
                if not Path(shard).is_dir():
                    raise DataError(f"shard folder {shard} does not exist")
                if not path.exists():
                    continue
                with JsonlCache(path, fsync=False) as part:
                    merged.put_many((k, _strip(part.get(k))) for k in part if k not in merged)
            added[name] = len(merged) - before
    log.info("merged %d shard(s) into %s: %s", len(shard_dirs), output, added)
    return added


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "key"}
