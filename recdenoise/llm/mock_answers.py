"""The mock server's deterministic answers: what a well-behaved model would say to our prompts,
and the hostile replies the fault injection serves (:mod:`.mock_server` serves them over HTTP)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
from collections import Counter
from typing import Any, Sequence

from .prompts import extract_data_block

__all__ = ["FAULT_KINDS", "HOSTILE_KINDS", "TRICKLE", "RESPONSE_FORMATS", "mock_chat_answer", "schema_instance"]

FAULT_KINDS = ("rate_limit", "server_error", "timeout", "malformed", "out_of_candidates", "duplicate", "schema")
_TRANSPORT_FAULTS = ("rate_limit", "server_error", "timeout")
_DEEP = 100_000
#: Hostile HTTP-200 chat replies: kind -> body bytes, given the normal reply dict.
_HOSTILE_CHAT = {
    "truncated_json": lambda r: json.dumps(r).encode()[:40],
    "html": lambda r: b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "choices_string": lambda r: json.dumps(r | {"choices": "oops"}).encode(),
    "choices_empty_object": lambda r: json.dumps(r | {"choices": [{}]}).encode(),
    "choices_null": lambda r: json.dumps(r | {"choices": None}).encode(),
    "message_list": lambda r: json.dumps(r | {"choices": [{"index": 0, "message": []}]}).encode(),
    "usage_string": lambda r: json.dumps(r | {"usage": {"prompt_tokens": "abc", "completion_tokens": 1}}).encode(),
    "usage_negative": lambda r: json.dumps(r | {"usage": {"prompt_tokens": -5, "completion_tokens": 1}}).encode(),
    "huge_integer": lambda r: (
        json.dumps(r | {"usage": {"prompt_tokens": 0}})
        .encode()
        .replace(b'"prompt_tokens": 0', b'"prompt_tokens": ' + b"9" * 5000)
    ),
    "deep_nesting": lambda r: b"[" * _DEEP + b"]" * _DEEP,
    "deep_garbage": lambda r: json.dumps(r | {"choices": [functools.reduce(lambda x, _: [x], range(20), {})]}).encode(),
    "content_integer": lambda r: json.dumps(_with_content(r, 42)).encode(),
    "content_object": lambda r: json.dumps(_with_content(r, {"liked": 0})).encode(),
    "huge_reply": lambda r: json.dumps(_with_content(r, "x" * 10_000_000)).encode(),
    "nan_usage": lambda r: json.dumps(r).encode().replace(b'"total_tokens": ', b'"total_tokens": NaN, "x": '),
}
_HOSTILE_EMBEDDINGS = ("nan_embedding", "wrong_width_embedding")
#: A valid chat reply sent one byte every 50 ms: no single read waits long, the whole never ends in time.
TRICKLE = "trickle_reply"
HOSTILE_KINDS = (*_HOSTILE_CHAT, TRICKLE, *_HOSTILE_EMBEDDINGS)
RESPONSE_FORMATS = ("json_schema", "json_object_schema", "json_object")


def _with_content(reply: dict, content: Any) -> dict:
    choice = dict(reply["choices"][0], message={"role": "assistant", "content": content})
    return reply | {"choices": [choice]}


def _format_kind(body: dict) -> tuple[str | None, dict | None]:
    """``(kind, schema)`` of a request's ``response_format`` (kind ``None``: plain text)."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None, None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        return "json_schema", spec.get("schema")
    if fmt.get("type") == "json_object":
        return ("json_object_schema", fmt["schema"]) if isinstance(fmt.get("schema"), dict) else ("json_object", None)
    return str(fmt.get("type")), None


def schema_instance(schema: dict) -> Any:
    """A (minimal) value that follows a JSON schema of the subset in :mod:`.schemas`."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {k: schema_instance(v) for k, v in schema.get("properties", {}).items()}
    return {"integer": 0, "number": 0.0, "string": "unknown", "boolean": False, "array": []}.get(kind)


_POOLS = {
    "director": ["Alice Rivera", "Bruno Keller", "Chen Wei", "Dana Okafor", "Emil Novak", "Farah Haddad"],
    "country": ["USA", "France", "Japan", "India", "Brazil", "Germany", "Nigeria"],
    "language": ["English", "French", "Japanese", "Hindi", "Portuguese", "German"],
    "gender": ["female", "male"],
    "genre": ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Documentary", "Western"],
}


def _h(*parts: Any) -> int:
    text = "\x00".join(json.dumps(p, sort_keys=True, ensure_ascii=False) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _genre_counts(history: Sequence[dict]) -> Counter:
    return Counter(g for rec in history for g in rec.get("genres", []))


def _implicit(data: dict) -> dict:
    counts = _genre_counts(data.get("history", []))
    cands = data.get("candidates", [])
    scores = [sum(counts[g] for g in c.get("genres", [])) for c in cands]
    liked = max(range(len(cands)), key=lambda j: (scores[j], -j))
    disliked = min(range(len(cands)), key=lambda j: (scores[j], -j))
    if disliked == liked:
        disliked = len(cands) - 1 if liked != len(cands) - 1 else 0
    return {"liked": cands[liked].get("index", liked), "disliked": cands[disliked].get("index", disliked)}


def _attribute_value(name: str, kind: str, data: dict) -> Any:
    h = _h(name, data)
    counts = _genre_counts(data.get("history", []) or [data.get("item", {})])
    if kind == "integer":
        return 18 + h % 50 if name == "age" else h % 100
    if kind == "string_list":
        if "genre" in name and "dislike" in name:
            return [g for g in _POOLS["genre"] if g not in counts][:2] or [_POOLS["genre"][h % 8]]
        if "genre" in name:
            return [g for g, _ in counts.most_common(2)] or [_POOLS["genre"][h % 8]]
        pool = next((v for k, v in _POOLS.items() if k in name), None)
        return (
            [pool[h % len(pool)], pool[(h + 1 + (h >> 8) % (len(pool) - 1)) % len(pool)]]
            if pool
            else [f"{name}-{h % 997}"]
        )
    pool = next((v for k, v in _POOLS.items() if k in name), None)
    return pool[h % len(pool)] if pool else f"{name}-{h % 997}"


def _fits(value: Any, kind: str) -> bool:
    """Is a known fact (from the prompt's ``user``) of the asked type? Then the mock repeats it."""
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return kind == "string" and isinstance(value, str) and bool(value)


def mock_chat_answer(messages: Sequence[dict]) -> dict:
    """The (fault-free) JSON answer the mock gives to ``messages``."""
    user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
    data = extract_data_block(user if isinstance(user, str) else "")
    if data is None:
        return {"answer": "no <data> block found"}
    task = data.get("task")
    if task == "implicit_feedback":
        return _implicit(data)
    if task in ("item_attributes", "user_profile"):
        known = data.get("user") if task == "user_profile" and isinstance(data.get("user"), dict) else {}
        return {
            name: known[name] if _fits(known.get(name), kind) else _attribute_value(name, kind, data)
            for name, kind in data.get("attributes", {}).items()
        }
    return {"answer": f"unknown task {task!r}"}


def _embedding(text: str, dim: int) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).hexdigest())
    vec = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))

