"""A loopback OpenAI-compatible server with deterministic answers and seeded fault injection.

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/embeddings``, ``GET /v1/models`` and
``GET /_stats`` (request counts; also :meth:`MockOpenAIServer.stats`). Standard library only
(``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive).

Answers are computed from the ``<data>`` block of the first user message
(:mod:`recdenoise.llm.prompts`):

- implicit feedback: *liked* = the candidate whose genres are most frequent in the history
  (sum of history genre counts; first on ties), *disliked* = the least (last on ties);
- item attributes / user profiles: plausible values picked by hashing the data, genre
  lists taken from the history; a profile field given in the prompt's ``user`` block (known
  demographics such as age and gender) is repeated as given;
- embeddings: unit vectors drawn from a RNG seeded by the text's sha256.

Fault injection: the ``n``-th arrival of a request body draws from
``random.Random(f"{seed}:{sha256(body)}:{n}")``; with probability ``fault_rate`` it gets one of
the applicable faults: ``rate_limit`` (429), ``server_error`` (500), ``timeout`` (sleeps
``timeout_sleep`` s, past the client's timeout), ``malformed`` (non-JSON text),
``out_of_candidates`` / ``duplicate`` (implicit feedback only) and ``schema`` (attribute
answers without a required key). Faults are thus reproducible whatever the arrival order.
Only bodies are counted and hashed; headers (the API key) are never stored.

Hostile replies (:data:`HOSTILE_KINDS`, drawn only when named in ``faults``) are HTTP-200
bodies no client should trust: truncated or HTML bodies, ``choices`` of the wrong type,
bad ``usage``, a 5000-digit integer, 100,000 nested brackets, non-string content, a 10 MB
answer, NaN or wrong-width embeddings.

``response_format``: a request may carry ``{"type": "json_schema", "json_schema": {...}}``,
``{"type": "json_object", "schema": ...}`` or ``{"type": "json_object"}``; the mock accepts
the kinds in ``response_formats`` (400 for the others, as a server without the feature
would). With ``unconstrained="sloppy"`` it imitates a small model: answers without a schema
miss a key, answers with one follow it (for the probe, an instance of the schema).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import random
import struct
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Sequence

from .cache import request_fingerprint
from .prompts import extract_data_block

__all__ = ["MockOpenAIServer", "serve_mock", "FAULT_KINDS", "HOSTILE_KINDS", "RESPONSE_FORMATS", "mock_chat_answer"]
from .mock_answers import (  # noqa: F401  (re-exported)
    _HOSTILE_CHAT,
    _HOSTILE_EMBEDDINGS,
    _TRANSPORT_FAULTS,
    FAULT_KINDS,
    HOSTILE_KINDS,
    TRICKLE,
    RESPONSE_FORMATS,
    _embedding,
    _format_kind,
    _tokens,
    _with_content,
    mock_chat_answer,
    schema_instance,
)

log = logging.getLogger(__name__)


class MockOpenAIServer:
    """OpenAI-compatible test server; use as a context manager (background thread) or :meth:`serve_forever`.

    Args:
        host, port: bind address (``port=0`` picks a free port; see :attr:`base_url`).
        latency: seconds slept before every answer.
        fault_rate: probability that a request gets a fault (see the module docstring).
        seed: seeds the fault draws.
        faults: fault kinds to draw from (default all).
        timeout_sleep: seconds a ``timeout`` fault sleeps before answering.
        embedding_dim: default embedding size (a request's ``dimensions`` overrides it).
        require_api_key: answer 401 unless ``Authorization: Bearer <this>`` (compared, never stored).
        response_formats: ``response_format`` kinds understood (:data:`RESPONSE_FORMATS`); others get 400.
        unconstrained: ``"exact"`` (default) or ``"sloppy"``: answers without a schema miss a key.
        retry_after: ``Retry-After`` header of ``rate_limit`` faults (seconds or an HTTP-date).
        serial: answer one request at a time, like llama-cpp-python's server (the latency is
            spent under one lock, even for a request whose client has given up).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        seed: int = 0,
        faults: Sequence[str] | None = None,
        timeout_sleep: float = 5.0,
        embedding_dim: int = 64,
        require_api_key: str | None = None,
        response_formats: Sequence[str] = RESPONSE_FORMATS,
        unconstrained: str = "exact",
        retry_after: str = "0",
        serial: bool = False,
    ):
        bad = sorted(set(faults or ()) - set(FAULT_KINDS) - set(HOSTILE_KINDS))
        bad += sorted(set(response_formats) - set(RESPONSE_FORMATS)) + (
            [unconstrained] * (unconstrained not in ("exact", "sloppy"))
        )
        if bad or not 0.0 <= fault_rate <= 1.0 or latency < 0:
            raise ValueError(
                f"invalid mock settings: {bad} (faults: {FAULT_KINDS + HOSTILE_KINDS}, response formats: "
                f"{RESPONSE_FORMATS}, unconstrained: exact|sloppy), fault_rate={fault_rate}, latency={latency}"
            )
        self.response_formats, self.unconstrained, self.retry_after = (
            tuple(response_formats),
            unconstrained,
            retry_after,
        )
        self.latency, self.fault_rate, self.seed = latency, fault_rate, seed
        self.faults = tuple(faults) if faults is not None else FAULT_KINDS
        self.timeout_sleep, self.embedding_dim = timeout_sleep, embedding_dim
        self._required_auth = (
            None if require_api_key is None else hashlib.sha256(f"Bearer {require_api_key}".encode()).digest()
        )
        self._lock = threading.Lock()
        self._serial = threading.Lock() if serial else contextlib.nullcontext()
        self.reset_stats()
        self._httpd = _Server((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "MockOpenAIServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "MockOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ stats
    def reset_stats(self) -> None:
        with self._lock:
            self._by_body: Counter = Counter()
            self._by_path: Counter = Counter()
            self._faults: Counter = Counter()
            self._in_flight = self._max_in_flight = 0

    def stats(self) -> dict:
        """``{"requests", "by_path", "by_body" (sha256 -> count), "faults" (kind -> count), "max_in_flight"}``."""
        with self._lock:
            return {
                "requests": sum(self._by_path.values()),
                "by_path": dict(self._by_path),
                "by_body": dict(self._by_body),
                "faults": dict(self._faults),
                "max_in_flight": self._max_in_flight,
            }

    def _enter(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _register(self, path: str, body: dict, task: str | None) -> str | None:
        """Count the request; return the fault to inject (or ``None``)."""
        fp = request_fingerprint(body)
        with self._lock:
            self._by_path[path] += 1
            self._by_body[fp] += 1
            n = self._by_body[fp]
        rng = random.Random(f"{self.seed}:{fp}:{n}")
        if rng.random() >= self.fault_rate:
            return None
        applicable = set(_TRANSPORT_FAULTS)
        if path.endswith("/chat/completions"):
            applicable |= {"malformed", TRICKLE, *_HOSTILE_CHAT}
            applicable |= {"out_of_candidates", "duplicate"} if task == "implicit_feedback" else {"schema"}
        else:
            applicable |= set(_HOSTILE_EMBEDDINGS)
        choices = [f for f in self.faults if f in applicable]
        if not choices:
            return None
        fault = rng.choice(choices)
        with self._lock:
            self._faults[fault] += 1
        return fault

    # -------------------------------------------------------------- answers
    def chat(self, body: dict, fault: str | None) -> dict:
        messages = body.get("messages", [])
        _kind, schema = _format_kind(body)
        answer = mock_chat_answer(messages)
        if schema is not None and "answer" in answer and len(answer) == 1:  # no <data>: e.g. the probe
            answer = schema_instance(schema)
        elif schema is None and self.unconstrained == "sloppy" and len(answer) > 1:
            answer.pop(sorted(answer)[0])
        if fault == "out_of_candidates":
            answer["liked"] = 10_000
        elif fault == "duplicate":
            answer["disliked"] = answer.get("liked")
        elif fault == "schema" and answer:
            answer.pop(next(iter(answer)))
        content = json.dumps(answer)
        if fault == "malformed":
            content = "Sure! Here is my answer: {liked: first one"
        prompt_tokens = sum(_tokens(str(m.get("content", ""))) for m in messages)
        completion_tokens = _tokens(content)
        return {
            "id": f"chatcmpl-mock-{request_fingerprint(body)[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def embeddings(self, body: dict, fault: str | None = None) -> dict:
        inputs = body.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else [str(x) for x in inputs]
        dim = int(body.get("dimensions") or self.embedding_dim)
        data = []
        for j, text in enumerate(inputs):
            vec: Any = _embedding(text, dim)
            if body.get("encoding_format") == "base64":
                vec = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
            if fault == "nan_embedding" and j == 0:
                vec = [math.nan] + vec[1:]
            elif fault == "wrong_width_embedding" and j == 0:
                vec = vec[:-1]
            data.append({"object": "embedding", "index": j, "embedding": vec})
        tokens = sum(_tokens(t) for t in inputs)
        return {
            "object": "list",
            "data": data,
            "model": body.get("model", "mock-embed"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog (5) drops connections under high concurrency

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (cancelled job, timeout) resets its connection: not the server's error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def _error(status: int, message: str, kind: str) -> tuple[int, dict]:
    return status, {"error": {"message": message, "type": kind, "code": status}}


def _make_handler(server: MockOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections
        disable_nagle_algorithm = True  # headers and body are separate writes: avoid the 40 ms delayed-ACK stall

        def log_message(self, fmt: str, *args: Any) -> None:  # no stderr chatter; no headers logged
            log.debug("mock: " + fmt, *args)

        def _send(self, status: int, payload: dict | bytes, extra: dict | None = None, drip: float = 0.0) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if not drip:
                    self.wfile.write(data)
                for i in range(len(data) if drip else 0):  # one byte per `drip` seconds (the TRICKLE fault)
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(drip)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. a timeout fault)

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            if path == "/_stats":
                self._send(200, server.stats())
            elif path == "/v1/models":
                self._send(
                    200, {"object": "list", "data": [{"id": "mock-llm", "object": "model", "owned_by": "recdenoise"}]}
                )
            else:
                self._send(*_error(404, f"no route GET {path}", "not_found"))

        def do_POST(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if server._required_auth is not None:
                given = hashlib.sha256((self.headers.get("Authorization") or "").encode()).digest()
                if given != server._required_auth:
                    return self._send(*_error(401, "invalid API key", "invalid_request_error"))
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                return self._send(*_error(400, "request body is not JSON", "invalid_request_error"))
            if path not in ("/v1/chat/completions", "/v1/embeddings"):
                return self._send(*_error(404, f"no route POST {path}", "not_found"))
            task = None
            kind, _schema = _format_kind(body)
            if kind is not None and kind not in server.response_formats:
                return self._send(*_error(400, f"response_format {kind} is not supported", "invalid_request_error"))
            if path == "/v1/chat/completions":
                user = next((m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"), "")
                task = (extract_data_block(user) or {}).get("task") if isinstance(user, str) else None
            fault = server._register(path, body, task)
            server._enter(+1)
            try:
                self._answer(path, body, fault)
            finally:
                server._enter(-1)

        def _answer(self, path: str, body: dict, fault: str | None) -> None:
            with server._serial:  # serial=True: one answer at a time; the others queue (and their clients wait)
                time.sleep(server.latency)
            if fault == "rate_limit":
                return self._send(
                    *_error(429, "rate limited (injected)", "rate_limit_error"), {"Retry-After": server.retry_after}
                )
            if fault == "server_error":
                return self._send(*_error(500, "internal error (injected)", "server_error"))
            if fault == "timeout":
                time.sleep(server.timeout_sleep)
            if path == "/v1/embeddings":
                return self._send(200, json.dumps(server.embeddings(body, fault), allow_nan=True).encode())
            reply = server.chat(body, fault)
            if fault == TRICKLE:
                return self._send(200, reply, drip=0.05)
            return self._send(200, _HOSTILE_CHAT[fault](reply) if fault in _HOSTILE_CHAT else reply)

    return Handler


def serve_mock(
    host: str = "127.0.0.1",
    port: int = 8000,
    latency: float = 0.0,
    fault_rate: float = 0.0,
    seed: int = 0,
    **kwargs: Any,
) -> None:
    """Run the mock in the foreground until interrupted (Ctrl-C)."""
    server = MockOpenAIServer(host, port, latency, fault_rate, seed, **kwargs)
    log.warning(
        "mock OpenAI-compatible server on %s (latency %.3fs, fault rate %.2f)", server.base_url, latency, fault_rate
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
