r"""Where each request goes, and how many may be in flight: endpoints with adaptive limits.

Every ``--base-url`` is an :class:`Endpoint`. A request goes to the endpoint, awake and under
its limit, with the fewest requests in flight; an endpoint that fails ``cooldown_after`` times
in a row rests ``cooldown_seconds`` (when another can take its work).

**Adaptive concurrency.** ``--concurrency`` is a ceiling, not a target: a server that answers
one request at a time (llama-cpp-python's server, a small Ollama box) only queues the rest,
and a queued request's wait counts against its timeout. Each endpoint therefore keeps its
own limit :math:`w` (:class:`AdaptiveLimit`) that holds latency :math:`L` under
:math:`T = \text{timeout}/2`. With :math:`n` the requests in flight on that endpoint when the
answered one was sent:

.. math::
    w \leftarrow \begin{cases}
        \max(1,\ \min(w,\ n T / L)) & L > T \\
        w + 1 \text{ (slow start) or } w + 1/w & L \le T/2 \text{ and } n \ge w \\
        w & \text{otherwise}
    \end{cases}

and a timeout, 429 or 503 sets :math:`w \leftarrow \max(1, \min(w, n/2))`. :math:`w` starts at
:data:`INITIAL_LIMIT` and returns there (slow start again) when a kind of request the endpoint
has not been sent yet begins (item attributes after implicit feedback, ...): a kind ten times
slower than the last must not inherit the window the fast one earned. Latency is judged only
against the timeout, never against the fastest answer seen: a client that is itself CPU-bound
(hundreds of requests/s) sees its own queueing as latency, and cutting then only costs
throughput. A parallel server (vLLM, OpenAI) climbs to the ceiling within a few round trips;
a serial one settles where each answer waits at most ~T.

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
INITIAL_LIMIT = 2


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
        self.kinds: set[str] = set()  # kinds of request sent to this endpoint so far

    @property
    def allowed(self) -> int:
        """Requests this endpoint may have in flight now (>= 1)."""
        return max(1, min(self.ceiling, int(self.limit)))

    def on_send(self, kind: str) -> None:
        """A request of ``kind`` leaves: the first of a new kind restarts from the initial window."""
        if self.adaptive and kind not in self.kinds:
            self.kinds.add(kind)
            if self.limit > INITIAL_LIMIT:
                self.limit, self.slow_start = float(INITIAL_LIMIT), True

    def on_answer(self, latency: float, sent_with: int) -> None:
        """An answer came back after ``latency`` s; ``sent_with`` were in flight when it left."""
        if not self.adaptive:
            return
        if latency > self.target:
            self._decrease(sent_with * self.target / latency)
        elif latency <= self.target / 2 and sent_with >= self.allowed:  # only a full window says more fits
            self.limit = min(float(self.ceiling), self.limit + (1.0 if self.slow_start else 1.0 / self.limit))

    def on_overload(self, sent_with: int) -> None:
        """A timeout, 429 or 503: halve (relative to what was in flight)."""
        if self.adaptive:
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

    async def acquire(self, pinned: Endpoint | None = None, kind: str = "") -> Slot:
        """Wait for room on an endpoint (``pinned``, else the pool's choice) and take it for a
        request of ``kind`` (a new kind restarts that endpoint's slow start, see the module)."""
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            while (endpoint := self._choose(pinned)) is None:
                await self._cond.wait()
            endpoint.limit.on_send(kind)
            lane = min(range(len(endpoint.lanes)), key=endpoint.lane_in_flight.__getitem__)
            endpoint.lane_in_flight[lane] += 1
            endpoint.in_flight += 1
            endpoint.requests += 1
            self.in_flight += 1
            return Slot(endpoint, lane, endpoint.in_flight, time.monotonic())

    async def release(self, slot: Slot, failed: str | None, overloaded: bool = False) -> None:
        """Give the slot back; ``failed`` names the failure kind (``None``: an answer came back)."""
        endpoint = slot.endpoint
        endpoint.lane_in_flight[slot.lane] -= 1
        endpoint.in_flight -= 1
        self.in_flight -= 1
        if failed is None:
            endpoint.limit.on_answer(time.monotonic() - slot.started, slot.sent_with)
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
