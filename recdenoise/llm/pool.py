"""Where each request goes, and how many may be in flight: endpoints with adaptive limits.

Every ``--base-url`` is an :class:`Endpoint`. A request goes to the endpoint, awake and under
its limit, with the fewest requests in flight; an endpoint that fails ``cooldown_after`` times
in a row rests ``cooldown_seconds`` (when another can take its work).

**Adaptive concurrency.** ``--concurrency`` is a ceiling, not a target: a server that answers
one request at a time (llama-cpp-python's server, a small Ollama box) only queues the rest,
and a queued request's wait counts against its timeout. Each endpoint therefore keeps its
own limit :math:`w` (:class:`AdaptiveLimit`), started at ``min(ceiling, 4)`` and steered by
the latency of each answer against the no-load latency :math:`L_0` of its kind of request
(implicit feedback, item attributes, ... differ tenfold):

.. math::
    g = L_0 / L, \\qquad
    w \\leftarrow \\begin{cases}
        \\max(1,\\ \\min(w,\\ 3 g n)) & g < 1/3 \\quad\\text{(queueing: latency tripled)} \\\\
        \\max(1,\\ \\min(w,\\ n T / L)) & L > T \\quad\\text{(latency past } T = \\text{timeout}/2) \\\\
        w + 1 \\text{ (slow start) or } w + 1/w & g \\ge 4/5,\\ L \\le T/2,\\ n \\ge w
    \\end{cases}

with :math:`n` the requests in flight on that endpoint when this one was sent; a timeout,
429 or 503 halves it (:math:`\\max(1, n/2)`). :math:`L_0` is the smallest latency seen for the
kind, drifting up 1 % per answer so that a server that got slower for good is followed, and
:math:`L` in :math:`g` is an exponential average (weight 0.2 on the newest answer). A
server that processes requests in parallel (vLLM, OpenAI) keeps :math:`g \\approx 1` and so
climbs to the ceiling; a serial one settles at two or three in flight, under the latency target. Both keep latency, and so timeouts, bounded.

**Connection lanes.** httpcore scans its whole pool on every request (O(connections)), which
cost ~2 ms a request at 64 connections; an endpoint therefore spreads its connections over
SDK clients of at most :data:`CONNECTIONS_PER_LANE` each (``lanes``) and sends each request
on the lane with the fewest in flight.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .settings import redact_url

__all__ = ["AdaptiveLimit", "Endpoint", "EndpointPool", "CONNECTIONS_PER_LANE"]

log = logging.getLogger(__name__)

CONNECTIONS_PER_LANE = 16
INITIAL_LIMIT = 4
_BASE_DRIFT = 1.01  # L_0 grows 1 % per answer unless a faster one comes
_QUEUEING = 3.0  # averaged latency this many times L_0 means requests queue at the server
_SMOOTHING = 0.2  # weight of the newest answer in the averaged latency L


class AdaptiveLimit:
    """The concurrency limit of one endpoint (see the module formula).

    Args:
        ceiling: the most requests in flight ever allowed (``--concurrency``).
        timeout: seconds per attempt; latency is kept under half of it.
        adaptive: ``False`` pins the limit at ``ceiling`` (``--fixed-concurrency``).
    """

    def __init__(self, ceiling: int, timeout: float, adaptive: bool = True):
        self.ceiling, self.adaptive = ceiling, adaptive
        self.target = timeout / 2
        self.limit = float(min(ceiling, INITIAL_LIMIT) if adaptive else ceiling)
        self.slow_start = True
        self.decreases = 0
        self.base: dict[str, float] = {}  # no-load latency L_0 per kind of request
        self.smoothed: dict[str, float] = {}  # exponential average of the latency per kind

    @property
    def allowed(self) -> int:
        """Requests this endpoint may have in flight now (>= 1)."""
        return max(1, min(self.ceiling, int(self.limit)))

    def on_answer(self, latency: float, sent_with: int, kind: str = "") -> None:
        """An answer came back after ``latency`` s; ``sent_with`` were in flight when it left."""
        if not self.adaptive:
            return
        latency = max(latency, 1e-6)
        base = min(latency, self.base.get(kind, latency) * _BASE_DRIFT)
        self.base[kind] = base
        smoothed = self.smoothed.get(kind, latency) * (1 - _SMOOTHING) + latency * _SMOOTHING
        self.smoothed[kind] = smoothed
        gradient = base / smoothed  # smoothed: one slow answer (a GC pause, a long reply) is not queueing
        if latency > self.target:
            self._decrease(sent_with * self.target / latency)
        elif gradient < 1 / _QUEUEING:
            self._decrease(_QUEUEING * gradient * sent_with)
        elif gradient >= 0.8 and latency <= self.target / 2 and sent_with >= self.allowed:  # a full window
            self.limit = min(float(self.ceiling), self.limit + (1.0 if self.slow_start else 1.0 / self.limit))

    def on_overload(self, sent_with: int) -> None:
        """A timeout, 429 or 503: halve (relative to what was in flight)."""
        if not self.adaptive:
            return
        self._decrease(sent_with / 2)

    def _decrease(self, to: float) -> None:
        new = max(1.0, min(self.limit, to))
        if new < self.limit:
            self.limit, self.slow_start = new, False
            self.decreases += 1

    def to_dict(self) -> dict:
        return {"limit": round(self.limit, 2), "decreases": self.decreases, "slow_start": self.slow_start}


@dataclass
class Endpoint:
    """One server of the pool: its SDK clients (``lanes``), load, limit and health.

    The API key stays inside the SDK clients; nothing here records it.
    """

    url: str
    lanes: list = field(repr=False)
    limit: AdaptiveLimit = field(repr=False)
    lane_in_flight: list[int] = field(default_factory=list)
    in_flight: int = 0
    requests: int = 0
    failures_in_a_row: int = 0
    cooled_until: float = 0.0
    cooldowns: int = 0
    errors: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.lane_in_flight = [0] * len(self.lanes)

    @property
    def sdk(self) -> Any:
        """The first lane (for calls outside the request path)."""
        return self.lanes[0]

    def to_dict(self) -> dict:
        return {
            "base_url": redact_url(self.url),
            "requests": self.requests,
            "errors": dict(sorted(self.errors.items())),
            "cooldowns": self.cooldowns,
            "concurrency": self.limit.to_dict(),
        }


@dataclass
class Slot:
    """One request's place: its endpoint, lane and how many were in flight when it left."""

    endpoint: Endpoint
    lane: int
    sent_with: int
    started: float

    @property
    def sdk(self) -> Any:
        return self.endpoint.lanes[self.lane]


class EndpointPool:
    """The endpoints of one client and the gate every request passes.

    Args:
        urls: base URLs.
        make_sdk: ``url -> SDK client`` (one per lane).
        ceiling: total requests in flight (``--concurrency``), also each endpoint's ceiling.
        timeout: seconds per attempt (the latency target is half of it).
        adaptive: adapt each endpoint's limit (else every endpoint may take ``ceiling``).
        cooldown_after, cooldown_seconds: rest an endpoint after that many failures in a row.
    """

    def __init__(
        self,
        urls: Sequence[str],
        make_sdk: Callable[[str], Any],
        ceiling: int,
        timeout: float,
        cooldown_after: int = 3,
        cooldown_seconds: float = 30.0,
        adaptive: bool = True,
    ):
        lanes = max(1, math.ceil(ceiling / CONNECTIONS_PER_LANE))
        self.endpoints = [
            Endpoint(url, [make_sdk(url) for _ in range(lanes)], AdaptiveLimit(ceiling, timeout, adaptive))
            for url in urls
        ]
        self.ceiling = ceiling
        self.cooldown_after, self.cooldown_seconds = cooldown_after, cooldown_seconds
        self.in_flight = 0
        self._cond: asyncio.Condition | None = None  # created inside the running loop

    async def aclose(self) -> None:
        for endpoint in self.endpoints:
            for sdk in endpoint.lanes:
                await sdk.close()

    def _choose(self, pinned: Endpoint | None) -> Endpoint | None:
        if self.in_flight >= self.ceiling:
            return None
        if pinned is not None:
            return pinned if pinned.in_flight < pinned.limit.allowed else None
        now = time.monotonic()
        awake = [e for e in self.endpoints if e.cooled_until <= now] or self.endpoints
        open_ = [e for e in awake if e.in_flight < e.limit.allowed]
        return min(open_, key=lambda e: e.in_flight) if open_ else None

    async def acquire(self, pinned: Endpoint | None = None) -> Slot:
        """Wait for room on an endpoint (``pinned``, else the pool's choice) and take it."""
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            while (endpoint := self._choose(pinned)) is None:
                await self._cond.wait()
            lane = min(range(len(endpoint.lanes)), key=endpoint.lane_in_flight.__getitem__)
            endpoint.lane_in_flight[lane] += 1
            endpoint.in_flight += 1
            endpoint.requests += 1
            self.in_flight += 1
            return Slot(endpoint, lane, endpoint.in_flight, time.monotonic())

    async def release(self, slot: Slot, failed: str | None, kind: str = "", overloaded: bool = False) -> None:
        """Give the slot back; ``failed`` names the failure kind (``None``: an answer came back)."""
        endpoint = slot.endpoint
        endpoint.lane_in_flight[slot.lane] -= 1
        endpoint.in_flight -= 1
        self.in_flight -= 1
        if failed is None:
            endpoint.limit.on_answer(time.monotonic() - slot.started, slot.sent_with, kind)
        elif overloaded:
            endpoint.limit.on_overload(slot.sent_with)
        self._health(endpoint, failed)
        assert self._cond is not None
        async with self._cond:
            self._cond.notify(self._room())

    def _room(self) -> int:
        """How many waiters could start now (wakes that many, not every waiter)."""
        room = sum(max(0, e.limit.allowed - e.in_flight) for e in self.endpoints)
        return max(1, min(room, self.ceiling - self.in_flight))

    def _health(self, endpoint: Endpoint, failed: str | None) -> None:
        if failed is None:
            endpoint.failures_in_a_row = 0
            return
        endpoint.errors[failed] += 1
        endpoint.failures_in_a_row += 1
        if endpoint.failures_in_a_row >= self.cooldown_after and len(self.endpoints) > 1:
            endpoint.cooled_until = time.monotonic() + self.cooldown_seconds
            endpoint.failures_in_a_row = 0
            endpoint.cooldowns += 1
            log.warning(
                "%s failed %d times in a row (%s); resting it %.0fs",
                redact_url(endpoint.url),
                self.cooldown_after,
                failed,
                self.cooldown_seconds,
            )
