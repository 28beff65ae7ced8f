"""Settings of the LLM client: endpoint(s), model, retries, limits, prices; API-key policy; request bodies.

The API key comes only from an argument or an environment variable (:func:`resolve_api_key`:
``OPENAI_API_KEY`` goes to OpenAI's own host only); it is never stored on our objects.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import urlsplit

from ..errors import ConfigError
from .schemas import STRUCTURED_MODES, response_format

__all__ = ["LLMConfig", "chat_body", "resolve_api_key", "redact_url", "OPENAI_HOSTS", "API_KEY_ENV_VARS", "NO_KEY"]


log = logging.getLogger(__name__)

#: Environment variables searched (in this order) when no key is passed explicitly;
#: ``OPENAI_API_KEY`` only for :data:`OPENAI_HOSTS`.
API_KEY_ENV_VARS = ("RECDENOISE_LLM_API_KEY", "OPENAI_API_KEY")
#: Hosts that may receive ``OPENAI_API_KEY`` (and that must get a key).
OPENAI_HOSTS = frozenset({"api.openai.com"})
# Placeholder for local servers that ignore authentication (vLLM/Ollama/llama.cpp/mock).
NO_KEY = "no-key-needed-for-local-server"


@dataclass(frozen=True)
class LLMConfig:
    """Where to send requests and how hard to try.

    Attributes:
        base_url: OpenAI-compatible endpoint, e.g. ``https://api.openai.com/v1`` or
            ``http://127.0.0.1:8000/v1`` (vLLM), ``http://127.0.0.1:11434/v1`` (Ollama).
        model: chat model name.
        embedding_model: embeddings model name (``--embedder openai``).
        concurrency: maximum requests in flight (all endpoints together, and each one).
        adaptive_concurrency: let each endpoint's limit adapt under ``concurrency`` to keep
            latency below half the timeout (:mod:`.pool`); ``False``: always ``concurrency``.
        max_requests: budget of HTTP attempts (retries included) for this run; ``None`` = unlimited.
        retries: retries per request after the first attempt (429/5xx/timeout/connection only).
        timeout: seconds per HTTP attempt.
        backoff_base, backoff_max: ``d_0`` and ``d_max`` of the backoff formula, in seconds.
        seed: seeds the jitter RNG.
        temperature, max_tokens: sent with every chat request (part of the cache key).
        structured: how answers are constrained (:data:`~recdenoise.llm.schemas.STRUCTURED_MODES`);
            ``auto`` probes the endpoint once and falls back (see :mod:`.schemas`).
        json_mode: deprecated alias of ``structured="json_object"``.
        max_reply_bytes: cap on a reply body (bytes); a larger reply is a ``reply_too_large`` failure.
        rpm, tpm: client-side limits on requests / estimated tokens per minute (``None`` = none).
        retry_after_max: cap, in seconds, on a server's ``Retry-After``.
        embedding_dim: expected embedding width (``None``: the first reply's width, then fixed).
        more_base_urls: further endpoints serving the same model; each request goes to the
            endpoint with the fewest requests in flight, and an endpoint that fails
            ``cooldown_after`` times in a row rests ``cooldown_seconds``.
        price_per_1k_prompt, price_per_1k_completion: currency units per 1000 tokens, for cost.
    """

    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    concurrency: int = 8
    adaptive_concurrency: bool = True
    max_requests: int | None = None
    retries: int = 5
    timeout: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 256
    structured: str = "auto"
    json_mode: bool = False
    max_reply_bytes: int = 1 << 20
    rpm: float | None = None
    tpm: float | None = None
    retry_after_max: float = 60.0
    embedding_dim: int | None = None
    more_base_urls: tuple[str, ...] = ()
    cooldown_after: int = 3
    cooldown_seconds: float = 30.0
    price_per_1k_prompt: float = 0.0
    price_per_1k_completion: float = 0.0

    def __post_init__(self) -> None:
        if self.json_mode:
            object.__setattr__(self, "structured", "json_object")
        if self.structured not in STRUCTURED_MODES:
            raise ConfigError(f"structured={self.structured!r}: choose from {list(STRUCTURED_MODES)}")
        checks = {  # name: (holds, what it needs)
            "max_reply_bytes": (self.max_reply_bytes >= 1024, ">= 1024"),
            "rpm": (self.rpm is None or self.rpm > 0, "> 0, or unset"),
            "tpm": (self.tpm is None or self.tpm > 0, "> 0, or unset"),
            "retry_after_max": (self.retry_after_max >= 0, ">= 0"),
            "embedding_dim": (self.embedding_dim is None or self.embedding_dim >= 1, ">= 1, or unset"),
            "cooldown_after": (self.cooldown_after >= 1, ">= 1"),
            "cooldown_seconds": (self.cooldown_seconds >= 0, ">= 0"),
            "concurrency": (self.concurrency >= 1, ">= 1"),
            "retries": (self.retries >= 0, ">= 0"),
            "timeout": (self.timeout > 0, "> 0 seconds"),
            "backoff_base": (self.backoff_base >= 0, ">= 0"),
            "backoff_max": (self.backoff_max >= 0, ">= 0"),
            "max_tokens": (self.max_tokens >= 1, ">= 1"),
            "max_requests": (self.max_requests is None or self.max_requests >= 0, ">= 0, or unset"),
            "model": (isinstance(self.model, str) and bool(self.model.strip()), "a model name the server serves"),
            "embedding_model": (isinstance(self.embedding_model, str) and bool(self.embedding_model.strip()), "a model name"),
        }
        for name, (ok, needs) in checks.items():
            if not ok:
                raise ConfigError(f"LLMConfig.{name}={getattr(self, name)!r} is invalid: it needs {needs}")
        object.__setattr__(self, "more_base_urls", tuple(self.more_base_urls))
        for url in self.base_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                shown = redact_url(url) if parts.hostname else url.split("?")[0].rsplit("@", 1)[-1]  # no credentials
                raise ConfigError(f"base_url={shown!r} must be an http(s) URL like http://127.0.0.1:8000/v1")

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every endpoint: ``base_url`` first."""
        return (self.base_url, *self.more_base_urls)

    def to_record(self) -> dict:
        """JSON-able settings for run records (base_url stripped of credentials and query)."""
        rec = dataclasses.asdict(self)
        rec["base_url"] = redact_url(self.base_url)
        rec["more_base_urls"] = [redact_url(u) for u in self.more_base_urls]
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
    """The key to send to ``base_url``.

    In order: ``api_key`` if given; ``$api_key_env`` (named explicitly, so it goes to any
    host; a named variable that is unset is a :class:`ConfigError`); ``RECDENOISE_LLM_API_KEY``;
    ``OPENAI_API_KEY`` only when the host is OpenAI's own (:data:`OPENAI_HOSTS`), so that key
    is never sent to a third-party or local server. OpenAI's host without a key is a
    :class:`ConfigError`; any other host gets a placeholder (local servers need none).
    """
    if api_key:
        return api_key
    host = (urlsplit(base_url).hostname or "").lower()
    if api_key_env:
        if not os.environ.get(api_key_env):
            raise ConfigError(f"--api-key-env {api_key_env}: that environment variable is not set (or empty)")
        return os.environ[api_key_env]
    if os.environ.get("RECDENOISE_LLM_API_KEY"):
        return os.environ["RECDENOISE_LLM_API_KEY"]
    if host in OPENAI_HOSTS:
        if os.environ.get("OPENAI_API_KEY"):
            return os.environ["OPENAI_API_KEY"]
        raise ConfigError(
            f"no API key for {redact_url(base_url)}: set OPENAI_API_KEY or RECDENOISE_LLM_API_KEY "
            "(or point --api-key-env at the variable that holds it)"
        )
    return NO_KEY


def chat_body(
    config: LLMConfig,
    messages: Sequence[dict],
    schema: dict | None = None,
    schema_name: str = "answer",
    mode: str | None = None,
) -> dict:
    """The JSON body of a chat completion request for ``messages`` under ``config``.

    ``mode`` (default ``config.structured``; ``auto`` must be resolved first, see
    :meth:`LLMClient.resolve_structured`) decides how ``schema`` goes into ``response_format``.
    """
    mode = mode or config.structured
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [dict(m) for m in messages],
        "temperature": config.temperature,
        "max_tokens": config.max_tokens,
    }
    fmt = response_format(mode, schema_name, schema)
    if fmt is not None:
        body["response_format"] = fmt
    return body


