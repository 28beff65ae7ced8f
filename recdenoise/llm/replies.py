"""Checks on what an HTTP-200 reply may be before anything of it is used or cached.

A server can answer 200 with anything: a truncated or HTML body, ``choices`` of the wrong
type, ``usage`` with strings, a 5000-digit integer, 100,000 nested brackets, a 10 MB answer,
NaN in an embedding. Every such reply becomes a :class:`ReplyError` whose ``kind`` (one of
:data:`REPLY_FAILURE_KINDS`) is counted per task by the runner; nothing here may raise
anything else, and nothing that fails here reaches the cache.

Sizes are capped *before* parsing: :func:`capped_transport` stops reading a body after
``max_bytes`` (default 1 MiB, also when the server announces more in ``Content-Length``),
nesting depth is measured on the raw text before ``json.loads`` (which would recurse), and
integer literals longer than ``max_int_digits`` are refused by the parser hook.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import LLMError

__all__ = [
    "REPLY_FAILURE_KINDS",
    "ReplyError",
    "ReplyLimits",
    "capped_transport",
    "load_json",
    "chat_reply",
    "embeddings_reply",
]

#: Failure kinds of a reply that arrived (HTTP 200) but cannot be used.
REPLY_FAILURE_KINDS = (
    "reply_too_large",  # body over max_bytes
    "reply_not_json",  # not JSON at all (truncated, HTML, ...)
    "reply_too_deep",  # nesting deeper than max_depth
    "reply_number_too_long",  # an integer literal with more than max_int_digits digits / inf float
    "reply_shape",  # JSON, but not a chat completion / embeddings list
    "reply_usage",  # usage tokens that are not non-negative integers
    "reply_content_type",  # message content neither a string nor null
    "reply_content_too_long",  # content longer than max_content_chars
    "reply_nonfinite",  # NaN / Infinity in the body
    "reply_embedding_shape",  # embeddings of the wrong count or width
)

_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class ReplyError(LLMError):
    """A reply that is not usable; ``kind`` is one of :data:`REPLY_FAILURE_KINDS`."""

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        self.detail = detail[:300]
        super().__init__(f"{kind}: {self.detail}")


@dataclass(frozen=True)
class ReplyLimits:
    """Caps applied to every reply (bytes of the body, nesting depth, integer digits, content chars)."""

    max_bytes: int = 1 << 20
    max_depth: int = 32
    max_int_digits: int = 20
    max_content_chars: int = 32_768


def sdk_httpx():
    try:
        import httpx2 as httpx  # the openai SDK >= 3 ships on httpx2
    except ImportError:  # pragma: no cover - older SDKs use httpx
        import httpx
    return httpx


def capped_transport(max_bytes: int, max_connections: int = 100) -> Any:
    """An httpx(2) async transport whose response bodies stop at ``max_bytes``.

    Error bodies (which the SDK reads whole to build its exception) are capped too, so no
    reply can make the process hold more than ``max_bytes`` of it. The pool keeps up to
    ``max_connections`` connections alive (one per request in flight).
    """
    httpx = sdk_httpx()  # lazily: the SDK's HTTP library is not needed for dry runs

    class _CappedStream(httpx.AsyncByteStream):
        def __init__(self, inner: Any, announced: int | None):
            self._inner, self._announced = inner, announced

        async def __aiter__(self):
            if self._announced is not None and self._announced > max_bytes:
                raise ReplyError("reply_too_large", f"Content-Length {self._announced} is over {max_bytes} bytes")
            size = 0
            async for chunk in self._inner:
                size += len(chunk)
                if size > max_bytes:
                    raise ReplyError("reply_too_large", f"reply body over {max_bytes} bytes")
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class _Transport(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
            self._inner = httpx.AsyncHTTPTransport(limits=limits)

        async def handle_async_request(self, request: Any) -> Any:
            resp = await self._inner.handle_async_request(request)
            try:
                announced = int(resp.headers.get("content-length", ""))
            except ValueError:
                announced = None
            return httpx.Response(
                status_code=resp.status_code,
                headers=resp.headers,
                stream=_CappedStream(resp.stream, announced),
                extensions=resp.extensions,
            )

        async def aclose(self) -> None:
            await self._inner.aclose()

    return _Transport()


def _json_depth(raw: bytes, limit: int) -> int:
    """Deepest bracket nesting of ``raw`` outside strings (stops counting past ``limit``)."""
    depth = deepest = 0
    for byte in _STRING_RE.sub(b'""', raw):
        step = _BRACKETS.get(byte)
        if step:
            depth += step
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
    return deepest


def load_json(raw: bytes | str, limits: ReplyLimits) -> Any:
    """``json.loads`` with the size, depth, digit and finiteness caps of ``limits``."""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else raw
    if len(data) > limits.max_bytes:
        raise ReplyError("reply_too_large", f"reply body of {len(data)} bytes is over {limits.max_bytes}")
    if _json_depth(data, limits.max_depth) > limits.max_depth:
        raise ReplyError("reply_too_deep", f"JSON nested deeper than {limits.max_depth} levels")

    def parse_int(text: str) -> int:
        if len(text.lstrip("-")) > limits.max_int_digits:
            raise ReplyError("reply_number_too_long", f"integer of {len(text)} digits")
        return int(text)

    def parse_float(text: str) -> float:
        value = float(text) if len(text) <= 64 else math.inf
        if not math.isfinite(value):
            raise ReplyError("reply_number_too_long", f"number {text[:40]!r} does not fit a double")
        return value

    def parse_constant(text: str) -> float:
        raise ReplyError("reply_nonfinite", f"{text} in the reply")

    try:
        return json.loads(data, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        head = data[:80].decode("utf-8", "replace")
        raise ReplyError("reply_not_json", f"body is not JSON ({type(exc).__name__}); starts {head!r}") from None


def _tokens(usage: Any, name: str) -> int:
    value = usage.get(name, 0) if isinstance(usage, dict) else 0
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReplyError("reply_usage", f"usage.{name}={value!r} is not a non-negative integer")
    return value


def _usage(obj: dict) -> dict:
    usage = obj.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise ReplyError("reply_usage", f"usage is a {type(usage).__name__}, not an object")
    return usage or {}


def chat_reply(obj: Any, limits: ReplyLimits) -> tuple[str, int, int, str | None]:
    """``(content, prompt_tokens, completion_tokens, model)`` of a parsed chat completion body."""
    if not isinstance(obj, dict):
        raise ReplyError("reply_shape", f"body is a JSON {type(obj).__name__}, not an object")
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ReplyError("reply_shape", f"choices must be a non-empty list of objects, got {str(choices)[:80]!r}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ReplyError("reply_shape", f"choices[0].message must be an object, got {str(message)[:80]!r}")
    content = message.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise ReplyError("reply_content_type", f"message content is a {type(content).__name__}, not a string")
    if len(content) > limits.max_content_chars:
        raise ReplyError("reply_content_too_long", f"content of {len(content)} chars > {limits.max_content_chars}")
    usage = _usage(obj)
    model = obj.get("model")
    return (
        content,
        _tokens(usage, "prompt_tokens"),
        _tokens(usage, "completion_tokens"),
        (model if isinstance(model, str) and len(model) <= 200 else None),
    )


def embeddings_reply(obj: Any, count: int, width: int | None) -> tuple[np.ndarray, int]:
    """``float32 [count, D]`` (finite, ``D == width`` when given) and the prompt tokens of an embeddings body."""
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ReplyError("reply_shape", "embeddings reply without a list of objects in `data`")
    if len(data) != count:
        raise ReplyError("reply_embedding_shape", f"asked for {count} vectors, got {len(data)}")
    index = [d.get("index", j) for j, d in enumerate(data)]
    if sorted(i for i in index if isinstance(i, int) and not isinstance(i, bool)) != list(range(count)):
        raise ReplyError("reply_embedding_shape", "embedding indices are not 0..n-1")
    rows = [d.get("embedding") for _, d in sorted(zip(index, data), key=lambda p: p[0])]
    if not all(isinstance(r, list) and r and all(type(x) in (int, float) for x in r) for r in rows):
        raise ReplyError("reply_shape", "every embedding must be a non-empty list of numbers")
    dims = {len(r) for r in rows}
    if len(dims) != 1 or (width is not None and dims != {width}):
        raise ReplyError(
            "reply_embedding_shape", f"embedding widths {sorted(dims)[:4]}, expected {width or 'one width'}"
        )
    arr = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(arr).all() or np.abs(arr).max() > np.finfo(np.float32).max:
        raise ReplyError("reply_nonfinite", "an embedding holds NaN, Inf or a value outside float32")
    return arr.astype(np.float32), _tokens(_usage(obj), "prompt_tokens")
