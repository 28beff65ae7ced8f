"""Offline batch files: the job's pending requests out, a batch run's answers in.

``--batch-out requests.jsonl`` writes one line per request the job would send, in the
OpenAI Batch API input format (also read by vLLM's ``run-batch``)::

    {"custom_id": <cache key>, "method": "POST", "url": "/v1/chat/completions", "body": {...}}

``--batch-in results.jsonl`` reads the Batch API output format (vLLM's ``run-batch`` writes
the same)::

    {"custom_id": ..., "response": {"status_code": 200, "body": {...}}, "error": null}

Each answer goes through the same checks as an online reply (:mod:`.replies`) and into the
same cache under its ``custom_id``; the job then runs as usual and finds them there. Answers
that are rejected produce re-asks, which a second ``--batch-out`` collects (a few rounds
of batches reach the same verdicts as an online run).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from pathlib import Path

from ..utils import atomic_write_text
from .cache import JsonlCache, canonical_json, iter_lines
from .replies import ReplyError, ReplyLimits, chat_reply, load_json

__all__ = ["write_batch_requests", "ingest_batch_results", "CHAT_URL"]

log = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")


def write_batch_requests(path: str | Path, requests: dict[str, dict]) -> int:
    """Write ``requests`` (cache key -> body) as a Batch API input file (atomically); returns the count."""
    lines = [
        canonical_json({"custom_id": key, "method": "POST", "url": CHAT_URL, "body": body})
        for key, body in sorted(requests.items())
    ]
    atomic_write_text(Path(path), "".join(line + "\n" for line in lines))
    return len(lines)


def _answer(line: bytes, limits: ReplyLimits) -> tuple[str, dict]:
    # A result line holds one reply body plus a little envelope: the same caps, one level deeper.
    obj = load_json(line, ReplyLimits(limits.max_bytes + 4096, limits.max_depth + 3, limits.max_int_digits))
    key = obj.get("custom_id") if isinstance(obj, dict) else None
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise ReplyError("reply_shape", "custom_id is not a cache key written by --batch-out")
    response = obj.get("response")
    if obj.get("error") or not isinstance(response, dict) or response.get("status_code") != 200:
        status = response.get("status_code") if isinstance(response, dict) else None
        raise ReplyError("batch_error", f"request {key[:12]} failed in the batch (status {status})")
    content, pt, ct, model = chat_reply(response.get("body"), limits)
    record = {
        "content": content,
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "model": model,
        "source": "batch",
        "received_at": time.time(),
    }
    return key, record


def ingest_batch_results(path: str | Path, cache: JsonlCache, limits: ReplyLimits) -> Counter:
    """Put every usable answer of a Batch API output file into ``cache``; returns counts by outcome.

    Lines are streamed (at most ``limits.max_bytes`` + an envelope each are held); keys
    already cached are left alone (the first answer of a key is final, as online).
    """
    counts: Counter = Counter()
    cap = limits.max_bytes + 4096
    with open(path, "rb") as fh:
        for lineno, line in iter_lines(fh, cap):
            if line is None:
                counts["reply_too_large"] += 1
                continue
            if not line.strip():
                continue
            try:
                key, record = _answer(line, limits)
            except ReplyError as exc:
                log.warning("%s:%d: batch answer not used (%s)", path, lineno, exc)
                counts[exc.kind] += 1
                continue
            if key in cache:
                counts["already_cached"] += 1
                continue
            cache.put(key, record)
            counts["ingested"] += 1
    log.info("%s: batch results %s", path, dict(counts))
    return counts


def read_batch_requests(path: str | Path) -> list[dict]:
    """The lines of a Batch API input file (for tests and tools)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
