"""Resource pre-flight: the memory a run will need, checked before anything is built or written.

The estimate is deliberately rough (a factor of ~2 either way) and only refuses runs that
cannot fit: embedding tables with their gradients and Adam moments, the method's per-step
tensors (PLD's ``[B, k]`` pools and ``[B, k, D]`` candidate embeddings, NBPO's second
factorisation), and one evaluation block (bounded by ``eval.max_batch_mib``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from ..errors import ResourceError

__all__ = ["MemoryNeed", "estimate_memory", "available_memory", "check_memory"]

GIB = 2**30
_FLOAT = 4
_INDEX = 8


@dataclass(frozen=True)
class MemoryNeed:
    """One component: ``bytes``, what it is, and the flags that shrink it."""

    bytes: int
    what: str
    flags: str


def estimate_memory(cfg: Any, num_users: int, num_items: int, num_train: int, method: str, options: dict) -> list[MemoryNeed]:
    """The big allocations of a run of ``cfg`` on ``num_users`` x ``num_items`` (``num_train``
    training interactions) with ``method`` / ``options`` (already resolved)."""
    d = int(cfg.model.embedding_dim)
    b = int(cfg.train.batch_size)
    layers = int(cfg.model.num_layers) if cfg.model.name == "lightgcn" else 0
    table = (num_users + num_items) * d * _FLOAT
    needs = [MemoryNeed(table * 4, f"embedding tables with gradients and Adam moments ([{num_users}+{num_items}, {d}] x 4)", "--embedding-dim")]
    if layers:
        needs.append(MemoryNeed(table * (layers + 1) * 2, f"LightGCN propagation ({layers} layers, kept for backward)", "--num-layers or --embedding-dim"))
        needs.append(MemoryNeed(num_train * 2 * (_INDEX * 2 + _FLOAT) * 2, "the normalised training graph", "--k-core"))
    negatives = int(options.get("num_negatives", 1) or 1)
    needs.append(MemoryNeed(b * (2 + negatives) * (d * _FLOAT * 3 + _INDEX), f"training batches ([{b}, {2 + negatives}, {d}])", "--batch-size"))
    if method == "pld":
        k = int(options.get("k", 5))
        per = _INDEX * 4 + _FLOAT * 4 + d * _FLOAT * 2  # ids, rows, offsets, draws; scores, losses; candidate embeddings
        needs.append(MemoryNeed(b * k * per, f"PLD pools ([B, k] = [{b}, {k}], [B, k, D] = [{b}, {k}, {d}])", "--pld-k or --batch-size"))
    if method == "nbpo":
        flip = int(options.get("flip_dim", d) or d)
        needs.append(MemoryNeed((num_users + num_items) * flip * _FLOAT * 4, f"NBPO's flip-rate factorisation ([{num_users}+{num_items}, {flip}] x 4)", "--option flip_dim"))
    block = int(cfg.eval.max_batch_mib) * 2**20
    needs.append(MemoryNeed(min(block, num_users * num_items * _FLOAT) * 3, "evaluation score blocks", "eval.max_batch_mib"))
    return needs


def available_memory(device: torch.device) -> Optional[int]:
    """Bytes free for ``device`` (``MemAvailable`` on CPU, ``cuda.mem_get_info`` on GPU), or ``None``."""
    if device.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except (RuntimeError, AssertionError):  # pragma: no cover
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return None
    return None  # pragma: no cover


def check_memory(cfg: Any, num_users: int, num_items: int, num_train: int, method: str, options: dict, device: torch.device,
                 available: Optional[int] = None) -> int:  # fmt: skip
    """Raise :class:`ResourceError` naming the largest component and its flag when the estimate
    exceeds the available memory; return the estimate in bytes."""
    needs = estimate_memory(cfg, num_users, num_items, num_train, method, options)
    total = sum(n.bytes for n in needs)
    free = available_memory(device) if available is None else available
    if free is not None and total > free:
        worst = max(needs, key=lambda n: n.bytes)
        raise ResourceError(
            f"the run needs ~{total / GIB:.2f} GiB on {device} (largest: ~{worst.bytes / GIB:.2f} GiB for {worst.what}), "
            f"more than the {free / GIB:.2f} GiB available; lower {worst.flags}"
        )
    return total
