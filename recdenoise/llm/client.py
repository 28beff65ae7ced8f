"""Async client for OpenAI-compatible servers (OpenAI, vLLM, Ollama, llama.cpp) on the official SDK.

:class:`LLMClient` adds what a long offline job needs on top of ``openai.AsyncOpenAI``:
bounded concurrency (one ``asyncio.Semaphore``), our own retries with exponential backoff
and seeded jitter on 429 / 5xx / timeouts / connection errors (the SDK's own retries are
off, ``max_retries=0``, so every HTTP attempt is counted here), a request budget, and token
and cost accounting from the ``usage`` the server returns.

Backoff before retry ``r`` (0-based), with ``U ~ Uniform(0, 1)`` from a seeded RNG:

.. math::
    d_r = \\min(d_{max},\\ d_0 \\cdot 2^r) \\cdot (0.5 + 0.5\\,U)

The API key comes only from an argument or an environment variable; it is handed to the
SDK and never stored on our objects, logged, or written to any output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import urlsplit

import numpy as np

from ..errors import ConfigError, LLMError
from .cache import request_fingerprint

__all__ = [
    "LLMConfig",
    "LLMClient",
    "ChatAnswer",
    "chat_body",
    "UsageStats",
    "BudgetExhausted",
    "TransportError",
    "resolve_api_key",
    "redact_url",
    "API_KEY_ENV_VARS",
]

log = logging.getLogger(__name__)

#: Environment variables searched (in this order) when no key is passed explicitly.
API_KEY_ENV_VARS = ("RECDENOISE_LLM_API_KEY", "OPENAI_API_KEY")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
# Placeholder for local servers that ignore authentication (vLLM/Ollama/llama.cpp/mock).
_NO_KEY = "no-key-needed-for-local-server"


@dataclass(frozen=True)
class LLMConfig:
    """Where to send requests and how hard to try.

    Attributes:
        base_url: OpenAI-compatible endpoint, e.g. ``https://api.openai.com/v1`` or
            ``http://127.0.0.1:8000/v1`` (vLLM), ``http://127.0.0.1:11434/v1`` (Ollama).
        model: chat model name.
        embedding_model: embeddings model name (``--embedder openai``).
        concurrency: maximum requests in flight.
        max_requests: budget of HTTP attempts (retries included) for this run; ``None`` = unlimited.
        retries: retries per request after the first attempt (429/5xx/timeout/connection only).
        timeout: seconds per HTTP attempt.
        backoff_base, backoff_max: ``d_0`` and ``d_max`` of the backoff formula, in seconds.
        seed: seeds the jitter RNG.
        temperature, max_tokens: sent with every chat request (part of the cache key).
        json_mode: also send ``response_format={"type": "json_object"}`` (not every server has it).
        price_per_1k_prompt, price_per_1k_completion: currency units per 1000 tokens, for cost.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    concurrency: int = 8
    max_requests: int | None = None
    retries: int = 5
    timeout: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 256
    json_mode: bool = False
    price_per_1k_prompt: float = 0.0
    price_per_1k_completion: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "concurrency": self.concurrency >= 1,
            "retries": self.retries >= 0,
            "timeout": self.timeout > 0,
            "backoff_base": self.backoff_base >= 0,
            "backoff_max": self.backoff_max >= 0,
            "max_tokens": self.max_tokens >= 1,
            "max_requests": self.max_requests is None or self.max_requests >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"LLMConfig.{name}={getattr(self, name)!r} is out of range")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"base_url={redact_url(self.base_url)!r} must be an http(s) URL like http://127.0.0.1:8000/v1"
            )

    def to_record(self) -> dict:
        """JSON-able settings for run records (base_url stripped of credentials and query)."""
        rec = dataclasses.asdict(self)
        rec["base_url"] = redact_url(self.base_url)
        return rec

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """``prompt/1000 * price_prompt + completion/1000 * price_completion``."""
        return prompt_tokens / 1000 * self.price_per_1k_prompt + completion_tokens / 1000 * self.price_per_1k_completion


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` without user:password, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def resolve_api_key(api_key: str | None, base_url: str, api_key_env: str | None = None) -> str:
    """The key to use: ``api_key`` if given, else ``$api_key_env``, else the :data:`API_KEY_ENV_VARS`.

    A loopback ``base_url`` (a local vLLM/Ollama/mock) needs no key; anything else without
    one is a :class:`ConfigError`.
    """
    if api_key:
        return api_key
    names = ([api_key_env] if api_key_env else []) + [n for n in API_KEY_ENV_VARS if n != api_key_env]
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    if (urlsplit(base_url).hostname or "") in _LOOPBACK_HOSTS:
        return _NO_KEY
    raise ConfigError(
        f"no API key for {redact_url(base_url)}: set one of {names} in the environment "
        "(or point --api-key-env at the variable that holds it)"
    )


def chat_body(config: LLMConfig, messages: Sequence[dict]) -> dict:
    """The JSON body of a chat completion request for ``messages`` under ``config``."""
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [dict(m) for m in messages],
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
    }
    if config.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


class BudgetExhausted(LLMError):
    """The request budget (``max_requests``) is spent; the job stops cleanly and can be resumed."""


class TransportError(LLMError):
    """A request failed for good (retries spent or a non-retryable 4xx). ``reason`` names the kind."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass
class UsageStats:
    """Counters for one run: HTTP attempts, retries, errors by kind, tokens."""

    requests_sent: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "requests_sent": self.requests_sent,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "errors": dict(sorted(self.errors.items())),
        }


@dataclass(frozen=True)
class ChatAnswer:
    """One completed chat request: the text and the ``usage`` the server reported."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    model: str


class LLMClient:
    """Bounded-concurrency, retrying, budgeted wrapper around ``openai.AsyncOpenAI``.

    Args:
        config: endpoint, model and retry settings.
        api_key: explicit key; else resolved by :func:`resolve_api_key`.
        api_key_env: name of the environment variable to read first.

    A request whose retries all end in connection errors before the server has ever answered
    raises :class:`LLMError` (wrong ``base_url`` or server down: the job stops as a whole);
    once the server has answered, such a request is a per-task :class:`TransportError`.

    Use inside one event loop; ``await client.aclose()`` (or ``async with``) at the end.
    """

    def __init__(self, config: LLMConfig, api_key: str | None = None, api_key_env: str | None = None):
        import openai  # imported here so that dry runs and tests of other modules need no SDK

        self.config = config
        self._openai = openai
        self._sdk = openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=resolve_api_key(api_key, config.base_url, api_key_env),
            max_retries=0,  # we retry (and count) ourselves
            timeout=config.timeout,
        )
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._rng = random.Random(config.seed)
        self._budget_left = config.max_requests
        self._reached = False  # has the server answered anything (even an error status) yet?
        self.usage = UsageStats()

    def __repr__(self) -> str:  # deliberately without the key
        return f"LLMClient(base_url={redact_url(self.config.base_url)!r}, model={self.config.model!r})"

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._sdk.close()

    @property
    def budget_exhausted(self) -> bool:
        return self._budget_left is not None and self._budget_left <= 0

    # ------------------------------------------------------------- requests
    def chat_body(self, messages: Sequence[dict]) -> dict:
        """The exact JSON body :meth:`chat` sends (the cache key is computed from it)."""
        return chat_body(self.config, messages)

    async def chat(self, body: dict) -> ChatAnswer:
        """Send one chat completion (body from :meth:`chat_body`), retrying transient failures."""
        resp = await self._call(
            lambda: self._sdk.chat.completions.create(**body), what=f"chat {request_fingerprint(body)[:12]}"
        )
        usage = resp.usage
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        self.usage.prompt_tokens += pt
        self.usage.completion_tokens += ct
        content = resp.choices[0].message.content if resp.choices else None
        return ChatAnswer(
            content=content or "", prompt_tokens=pt, completion_tokens=ct, model=resp.model or body["model"]
        )

    async def embed(self, texts: Sequence[str], model: str | None = None) -> tuple[np.ndarray, int]:
        """``float32 [n, D]`` embeddings of ``texts`` (one request) and the prompt tokens it used."""
        model = model or self.config.embedding_model
        resp = await self._call(
            lambda: self._sdk.embeddings.create(model=model, input=list(texts), encoding_format="float"),
            what=f"embeddings x{len(texts)}",
        )
        rows = sorted(resp.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise TransportError("bad_response", f"embeddings: asked for {len(texts)} vectors, got {len(rows)}")
        pt = int(getattr(resp.usage, "prompt_tokens", 0) or 0)
        self.usage.prompt_tokens += pt
        return np.asarray([r.embedding for r in rows], dtype=np.float32), pt

    # --------------------------------------------------------------- retries
    def _classify(self, exc: Exception) -> tuple[str, bool]:
        """``(reason, retryable)`` for an SDK exception; fatal ones raise :class:`LLMError`."""
        o = self._openai
        if isinstance(exc, o.APITimeoutError):
            return "timeout", True
        if isinstance(exc, o.APIConnectionError):
            return "connection", True
        if isinstance(exc, o.APIStatusError):
            status = exc.status_code
            if status == 429:
                return "rate_limited", True
            if status >= 500 or status in (408, 409):
                return "server_error", True
            where = redact_url(self.config.base_url)
            if status in (401, 403):
                raise LLMError(
                    f"{where} refused the credentials (HTTP {status}); check the key in the environment "
                    f"variable given by --api-key-env (or {API_KEY_ENV_VARS})"
                ) from None
            if status == 404:
                raise LLMError(
                    f"{where} answered 404 for model {self.config.model!r}; check --base-url (it usually ends "
                    "in /v1) and --model"
                ) from None
            return f"http_{status}", False
        return "bad_response", False

    async def _call(self, make_request, what: str):
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            if self._budget_left is not None:
                if self._budget_left <= 0:
                    raise BudgetExhausted(f"request budget of {cfg.max_requests} spent")
                self._budget_left -= 1
            async with self._semaphore:
                self.usage.requests_sent += 1
                try:
                    resp = await make_request()
                    self._reached = True
                    return resp
                except self._openai.OpenAIError as exc:
                    self._reached = self._reached or isinstance(exc, self._openai.APIStatusError)
                    reason, retryable = self._classify(exc)
            self.usage.errors[reason] += 1
            if not retryable or attempt == cfg.retries:
                if reason == "connection" and not self._reached:
                    # Nothing has ever answered: a wrong --base-url or a server that is down. Stop
                    # the whole job (a fatal LLMError) instead of failing every task one by one.
                    raise LLMError(
                        f"cannot connect to {redact_url(cfg.base_url)} ({attempt + 1} attempt(s)); check --base-url "
                        "and that the server is running (e.g. `recdenoise serve-mock --port 8000`)"
                    ) from None
                raise TransportError(reason, f"{what}: {reason} after {attempt + 1} attempt(s)")
            self.usage.retries += 1
            delay = min(cfg.backoff_max, cfg.backoff_base * 2**attempt) * (0.5 + 0.5 * self._rng.random())
            log.debug("%s: %s, retry %d/%d in %.2fs", what, reason, attempt + 1, cfg.retries, delay)
            await asyncio.sleep(delay)  # outside the semaphore: a backing-off request holds no slot
        raise AssertionError("unreachable")  # pragma: no cover
