"""Async client for OpenAI-compatible servers (OpenAI, vLLM, Ollama, llama.cpp) on the official SDK.

:class:`LLMClient` adds what a long offline job needs on top of ``openai.AsyncOpenAI``:
bounded concurrency (one ``asyncio.Semaphore``), our own retries with exponential backoff
and seeded jitter on 429 / 5xx / timeouts / connection errors (the SDK's own retries are
off, ``max_retries=0``, so every HTTP attempt is counted here), a request budget, and token
and cost accounting from the ``usage`` the server returns.

Backoff before retry ``r`` (0-based), with ``U ~ Uniform(0, 1)`` from a seeded RNG:

.. math::
    d_r = \\min(d_{max},\\ d_0 \\cdot 2^r) \\cdot (0.5 + 0.5\\,U)

A ``Retry-After`` header on 429/503 (seconds or HTTP-date) replaces the backoff, capped at
``retry_after_max``; ``rpm`` / ``tpm`` add client-side token buckets (:mod:`.ratelimit`).

Replies are read through a size-capped transport and checked by :mod:`.replies` before
anything of them is used: a hostile HTTP-200 reply is a per-task :class:`TransportError`
whose reason names its kind, never an exception that stops the job.

The API key comes only from an argument or an environment variable (see
:func:`resolve_api_key`: ``OPENAI_API_KEY`` goes to OpenAI's own host only); it is handed
to the SDK and never stored on our objects, logged, or written to any output.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from typing import Sequence

import numpy as np

from ..errors import LLMError
from .answers import BudgetExhausted, ChatAnswer, TransportError, UsageStats
from .cache import request_fingerprint
from .pool import CONNECTIONS_PER_LANE, Endpoint, EndpointPool
from .ratelimit import TokenBucket, retry_after_seconds
from .replies import ReplyError, ReplyLimits, capped_transport, chat_reply, embeddings_reply, load_json, sdk_httpx
from .schemas import FALLBACK_ORDER, PROBE_SCHEMA, STRUCTURED_MODES, probe_messages
from .settings import API_KEY_ENV_VARS, OPENAI_HOSTS, LLMConfig, chat_body, redact_url, resolve_api_key

__all__ = [
    "LLMConfig",
    "LLMClient",
    "ChatAnswer",
    "chat_body",
    "UsageStats",
    "BudgetExhausted",
    "TransportError",
    "resolve_api_key",
    "OPENAI_HOSTS",
    "redact_url",
    "API_KEY_ENV_VARS",
]

log = logging.getLogger(__name__)


class LLMClient:
    """Bounded-concurrency, retrying, budgeted, size-capped wrapper around ``openai.AsyncOpenAI``.

    Args:
        config: endpoint, model and retry settings.
        api_key: explicit key; else resolved by :func:`resolve_api_key`.
        api_key_env: name of the environment variable to read first.

    A request whose retries all end in connection errors before the server has ever answered
    raises :class:`LLMError` (wrong ``base_url`` or server down: the job stops as a whole);
    once the server has answered, such a request is a per-task :class:`TransportError`, and
    so is every unusable reply (reason: one of :data:`~recdenoise.llm.replies.REPLY_FAILURE_KINDS`).

    Use inside one event loop; ``await client.aclose()`` (or ``async with``) at the end.
    """

    def __init__(self, config: LLMConfig, api_key: str | None = None, api_key_env: str | None = None):
        import openai  # imported here so that dry runs and tests of other modules need no SDK

        self.config = config
        self._openai = openai
        self._httpx = sdk_httpx()
        self.limits = ReplyLimits(max_bytes=config.max_reply_bytes)
        per_lane = min(config.concurrency, CONNECTIONS_PER_LANE)

        def make_sdk(url: str):
            return openai.AsyncOpenAI(
                base_url=url,
                api_key=resolve_api_key(api_key, url, api_key_env),
                max_retries=0,  # we retry (and count) ourselves
                timeout=config.timeout,
                http_client=openai.DefaultAsyncHttpxClient(
                    transport=capped_transport(config.max_reply_bytes, per_lane), timeout=config.timeout
                ),
            )

        self.pool = EndpointPool(
            config.base_urls,
            make_sdk,
            config.concurrency,
            config.timeout,
            config.cooldown_after,
            config.cooldown_seconds,
            config.adaptive_concurrency,
        )
        self.endpoints = self.pool.endpoints
        self._rpm = TokenBucket(config.rpm) if config.rpm else None
        self._tpm = TokenBucket(config.tpm) if config.tpm else None
        self._rng = random.Random(config.seed)
        self._budget_left = config.max_requests
        self._reached = False  # has the server answered anything (even an error status) yet?
        self._embedding_dim = config.embedding_dim
        self.structured = None if config.structured == "auto" else config.structured
        self.probe: dict = {}
        self._refusals_logged: set[int] = set()
        self.usage = UsageStats()

    def __repr__(self) -> str:  # deliberately without the key
        urls = [redact_url(u) for u in self.config.base_urls]
        shown = urls[0] if len(urls) == 1 else urls
        return f"LLMClient(base_url={shown!r}, model={self.config.model!r})"

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.pool.aclose()

    @property
    def budget_exhausted(self) -> bool:
        return self._budget_left is not None and self._budget_left <= 0

    # ------------------------------------------------------------- requests
    def chat_body(self, messages: Sequence[dict], schema: dict | None = None, schema_name: str = "answer") -> dict:
        """The exact JSON body :meth:`chat` sends (the cache key is computed from it)."""
        if self.structured is None:
            raise LLMError("structured='auto' is not resolved yet: await client.resolve_structured() first")
        return chat_body(self.config, messages, schema, schema_name, self.structured)

    async def resolve_structured(self, known: dict | None = None) -> dict:
        """Resolve ``structured='auto'``: probe the modes of :data:`~recdenoise.llm.schemas.FALLBACK_ORDER`
        once each until the endpoint follows one; ``off`` if none. ``known`` (an earlier probe
        of this endpoint and model, e.g. from the cache) skips the requests. Returns the record
        ``{"mode", "tried": {mode: verdict}}`` (also kept in :attr:`probe` for the manifest)."""
        if self.structured is not None:
            self.probe = {"mode": self.structured, "tried": {}, "probed": False}
            return self.probe
        if known and known.get("mode") in STRUCTURED_MODES[1:]:
            self.structured = known["mode"]
            self.probe = dict(known) | {"probed": False}
            return self.probe
        tried: dict[str, str] = {}
        small = dataclasses.replace(self.config, max_tokens=min(32, self.config.max_tokens))
        for mode in FALLBACK_ORDER:  # the first mode every endpoint follows
            body = chat_body(small, probe_messages(), PROBE_SCHEMA, "probe", mode)
            verdicts = []
            for endpoint in self.endpoints:
                try:  # no retries: a server without the feature may answer 500 (llama-cpp-python does)
                    answer = await self.chat(body, endpoint, retries=0)
                except TransportError as exc:
                    verdicts.append(exc.reason)
                    break
                verdicts.append("ok" if _follows_probe(answer.content, mode, self.limits) else "ignored")
                if verdicts[-1] != "ok":
                    break
            tried[mode] = verdicts[-1] if verdicts[-1] != "ok" or len(verdicts) < len(self.endpoints) else "ok"
            if tried[mode] == "ok":
                self.structured = mode
                break
        else:
            self.structured = "off"
        self.probe = {"mode": self.structured, "tried": tried, "probed": True}
        log.info("structured outputs: %s (%s)", self.structured, tried)
        return self.probe

    async def chat(
        self, body: dict, endpoint: Endpoint | None = None, retries: int | None = None, kind: str = ""
    ) -> ChatAnswer:
        """Send one chat completion (body from :meth:`chat_body`), retrying transient failures.

        The reply is read with the size cap and checked (shape, types, sizes) before it is
        returned. ``endpoint`` pins the request to one server (the probe); else the pool picks.
        ``retries`` overrides the configured number of retries. ``kind`` names the kind of
        request (the first of a new kind restarts the endpoint's slow start, see :mod:`.pool`).
        """
        tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", ())) / 4 + body.get("max_tokens", 0)
        content, pt, ct, model = await self._call(
            "/chat/completions",
            body,
            chat_reply,
            f"chat {request_fingerprint(body)[:12]}",
            tokens,
            endpoint,
            retries,
            kind,
        )
        self.usage.prompt_tokens += pt
        self.usage.completion_tokens += ct
        return ChatAnswer(content=content, prompt_tokens=pt, completion_tokens=ct, model=model or body["model"])

    async def embed(self, texts: Sequence[str], model: str | None = None) -> tuple[np.ndarray, int]:
        """``float32 [n, D]`` embeddings of ``texts`` (one request) and the prompt tokens it used.

        Every vector must be finite and ``D`` the expected width (``embedding_dim``, else the
        first reply's); anything else is a per-request :class:`TransportError`.
        """
        model = model or self.config.embedding_model
        vecs, pt = await self._call(
            "/embeddings",
            {"model": model, "input": list(texts), "encoding_format": "float"},
            lambda obj, _limits: embeddings_reply(obj, len(texts), self._embedding_dim),
            f"embeddings x{len(texts)}",
            sum(len(t) for t in texts) / 4,
            kind="embeddings",
        )
        self._embedding_dim = self._embedding_dim or int(vecs.shape[1])
        self.usage.prompt_tokens += pt
        return vecs, pt

    # --------------------------------------------------------------- retries
    def _classify(self, exc: Exception, url: str) -> tuple[str, bool]:
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
            where = redact_url(url)
            if status in (401, 403):
                raise LLMError(
                    f"{where} refused the credentials (HTTP {status}); check the key in the environment "
                    f"variable given by --api-key-env (or RECDENOISE_LLM_API_KEY; OPENAI_API_KEY is sent to "
                    f"{sorted(OPENAI_HOSTS)} only)"
                ) from None
            if status == 404:
                raise LLMError(
                    f"{where} answered 404 for model {self.config.model!r}; check --base-url (it usually ends "
                    "in /v1) and --model"
                ) from None
            if status not in self._refusals_logged:  # say once what the server objects to (a prompt over
                self._refusals_logged.add(status)  # its context window, an unknown parameter, ...)
                log.warning(
                    "%s refused a request with HTTP %d: %s (such tasks fail as http_%d; a rerun asks again)",
                    redact_url(url),
                    status,
                    str(getattr(exc, "message", exc))[:300],
                    status,
                )
            return f"http_{status}", False
        return "bad_response", False

    def _retry_after(self, exc: Exception) -> float | None:
        response = getattr(exc, "response", None)
        if response is None or getattr(exc, "status_code", None) not in (429, 503):
            return None
        seconds = retry_after_seconds(response.headers.get("retry-after"))
        return None if seconds is None else min(seconds, self.config.retry_after_max)

    async def _send(self, sdk, path: str, body: dict, check):
        """One HTTP attempt: ``body`` posted as is with the SDK's documented ``client.post`` for raw
        requests (auth, headers and error statuses as for any SDK call, without re-walking the
        body through its typed-parameter transform, which cost ~2.5 ms a request), the reply
        read under the transport's size cap, parsed, checked by ``check``."""
        resp = await sdk.post(path, cast_to=self._httpx.Response, body=body)
        raw = resp.content
        self._reached = True
        return check(load_json(raw, self.limits), self.limits)

    async def _call(
        self,
        path: str,
        body: dict,
        check,
        what: str,
        tokens: float = 0.0,
        pinned: Endpoint | None = None,
        retries: int | None = None,
        kind: str = "",
    ):
        cfg = self.config
        retries = cfg.retries if retries is None else retries
        for attempt in range(retries + 1):
            if self._budget_left is not None:
                if self._budget_left <= 0:
                    raise BudgetExhausted(f"request budget of {cfg.max_requests} spent")
                self._budget_left -= 1
            if self._rpm is not None:
                await self._rpm.take(1)
            if self._tpm is not None:
                await self._tpm.take(tokens)
            retry_after = None
            slot = await self.pool.acquire(pinned, kind)
            self.usage.requests_sent += 1
            failed, overloaded = "cancelled", False  # what release() hears unless changed below
            try:  # one deadline for the whole attempt: httpx's timeout is per read, so a server
                # dripping a byte at a time would otherwise hold the task forever
                result = await asyncio.wait_for(self._send(slot.sdk, path, body, check), cfg.timeout)
                failed = None
                return result
            except asyncio.TimeoutError:
                failed, overloaded, retryable, reason = "timeout", True, True, "timeout"
            except ReplyError as exc:
                self._reached = True
                self.usage.errors[exc.kind] += 1
                failed = exc.kind
                raise TransportError(exc.kind, f"{what}: {exc}") from None
            except self._openai.OpenAIError as exc:
                self._reached = self._reached or isinstance(exc, self._openai.APIStatusError)
                failed = "fatal"  # unless _classify (which raises on fatal statuses) says otherwise
                reason, retryable = self._classify(exc, slot.endpoint.url)
                failed = reason
                overloaded = reason in ("timeout", "rate_limited") or getattr(exc, "status_code", None) == 503
                retry_after = self._retry_after(exc)
            finally:
                await self.pool.release(slot, failed, overloaded)
            self.usage.errors[reason] += 1
            if not retryable or attempt == retries:
                if reason == "connection" and not self._reached:
                    # Nothing has ever answered: a wrong --base-url or a server that is down. Stop
                    # the whole job (a fatal LLMError) instead of failing every task one by one.
                    raise LLMError(
                        f"cannot connect to {', '.join(redact_url(u) for u in cfg.base_urls)} ({attempt + 1} "
                        "attempt(s)); check --base-url "
                        "and that the server is running (e.g. `recdenoise serve-mock --port 8000`)"
                    ) from None
                raise TransportError(reason, f"{what}: {reason} after {attempt + 1} attempt(s)")
            self.usage.retries += 1
            if retry_after is not None:  # the server said when: believe it (capped), no jitter
                delay = retry_after
                self.usage.retry_after_seconds += delay
            else:
                delay = min(cfg.backoff_max, cfg.backoff_base * 2**attempt) * (0.5 + 0.5 * self._rng.random())
            log.debug("%s: %s, retry %d/%d in %.2fs", what, reason, attempt + 1, retries, delay)
            await asyncio.sleep(delay)  # holding no slot: a backing-off request leaves room to others
        raise AssertionError("unreachable")  # pragma: no cover


def _follows_probe(content: str, mode: str, limits: ReplyLimits) -> bool:
    """Did the probe's answer follow ``mode``: the schema's ``{"probe": 41}``, or any object for json_object?"""
    try:
        obj = load_json(content.strip(), limits)
    except ReplyError:
        return False
    if mode == "json_object":
        return isinstance(obj, dict)
    return obj == {"probe": 41}
