"""Dry run of the augmentation job: requests, tokens and cost, computed without sending anything.

Prompt tokens are estimated as :math:`\\lceil \\text{chars} / 4 \\rceil` of each request's
messages; completion tokens by a per-task allowance (capped at ``max_tokens``); cost with
the configured prices. Only first attempts not already in the cache are counted: re-asks
and retries can multiply the figure by up to ``max_attempts * (retries + 1)``. No API key
is needed and the cache is read without being locked or repaired. With ``structured='auto'``
(resolved only by a live probe) a task counts as cached when it is cached in any mode.

Shapes:
    - train: ``Interactions`` over ``(U, I)``; candidates: ``int [U, k]``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data import Interactions
from .augment import EMBED_BATCH, AugmentConfig, build_tasks, selection
from .cache import JsonlCache
from .client import LLMConfig, chat_body
from .runner import request_key
from .schemas import FALLBACK_ORDER
from .text import item_text

__all__ = ["DryRunEstimate", "estimate"]

# Typical completion length per task kind, in tokens.
_COMPLETION_ESTIMATE = {
    "implicit_feedback": lambda cfg: 16,
    "item_attributes": lambda cfg: 8 + 10 * len(cfg.item_attributes),
    "user_profile": lambda cfg: 8 + 12 * len(cfg.user_profile),
}
_ATTRIBUTE_TEXT_TOKENS = 24  # attribute / profile texts do not exist before the run


@dataclass(frozen=True)
class DryRunEstimate:
    """Requests (first attempts not yet cached), estimated tokens and cost; nothing was sent."""

    requests: int
    cached: int
    prompt_tokens: int
    completion_tokens: int
    embedding_requests: int
    embedding_tokens: int
    cost: float
    by_kind: dict

    def to_dict(self) -> dict:
        return asdict(self) | {
            "note": "first attempts only; upper bound with re-asks and retries: requests * max_attempts * (retries + 1)"
        }


def estimate(
    train: Interactions, candidates: np.ndarray | None, output_dir: str | Path, llm: LLMConfig, cfg: AugmentConfig
) -> DryRunEstimate:
    """Dry run: what :func:`augment` would send (chars/4 tokens), reading the cache but sending nothing."""
    tasks, _, records = build_tasks(train, candidates, cfg)
    cached_keys = JsonlCache.read_keys(Path(output_dir) / "cache" / "chat.jsonl")
    requests = cached = pt = ct = 0
    by_kind: dict[str, int] = {}
    modes = FALLBACK_ORDER + ("off",) if llm.structured == "auto" else (llm.structured,)
    for t in tasks:
        bodies = [chat_body(llm, t.messages, t.schema, t.schema_name, mode) for mode in modes]
        body = bodies[0]
        if any(request_key(b, t.kind, t.prompt_version, 0) in cached_keys for b in bodies):
            cached += 1
            continue
        requests += 1
        by_kind[t.kind] = by_kind.get(t.kind, 0) + 1
        pt += math.ceil(sum(len(m["content"]) for m in body["messages"]) / 4)
        ct += min(llm.max_tokens, _COMPLETION_ESTIMATE[t.kind](cfg))
    emb_requests = emb_tokens = 0
    if cfg.embedder == "openai":  # texts: item text, item attributes, user profiles (not yet known: estimated)
        items = selection(cfg.items, train.num_items, "items")
        n_items, n_users = items.size, selection(cfg.users, train.num_users, "users").size
        groups = [n_items] + [n_items] * ("items" in cfg.augmentations) + [n_users] * ("users" in cfg.augmentations)
        emb_requests = sum(math.ceil(g / EMBED_BATCH) for g in groups)
        emb_tokens = sum(math.ceil(len(item_text(records[i])) / 4) for i in items)
        emb_tokens += sum(groups[1:]) * _ATTRIBUTE_TEXT_TOKENS
    return DryRunEstimate(
        requests=requests,
        cached=cached,
        prompt_tokens=pt,
        completion_tokens=ct,
        embedding_requests=emb_requests,
        embedding_tokens=emb_tokens,
        cost=llm.cost(pt + emb_tokens, ct),
        by_kind=by_kind,
    )
