"""Client-side rate limits: requests per minute and tokens per minute, and ``Retry-After``.

A :class:`TokenBucket` of capacity ``C = per_minute`` refills at ``C / 60`` per second;
taking ``n`` waits until the bucket holds ``n`` (a request larger than ``C`` waits for a
full bucket and then takes it all, so it still goes through). Waits are bounded by the
refill time of one full bucket.

``Retry-After`` (RFC 9110) is either delay-seconds or an HTTP-date; :func:`retry_after_seconds`
reads both and the client caps the wait.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from datetime import timezone

__all__ = ["TokenBucket", "retry_after_seconds"]


class TokenBucket:
    """``per_minute`` units per minute, starting full; ``await take(n)`` blocks until ``n`` are available."""

    def __init__(self, per_minute: float, clock=time.monotonic):
        if not per_minute > 0:
            raise ValueError(f"per_minute={per_minute!r} must be > 0")
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, n: float = 1.0) -> float:
        """Take ``min(n, capacity)`` units; returns the seconds waited."""
        n = min(float(n), self.capacity)
        waited = 0.0
        async with self._lock:  # first come, first served
            for _ in range(2 + math.ceil(n / self.rate)):  # bounded: each pass sleeps the exact shortfall
                self._refill()
                if self._level >= n:
                    self._level -= n
                    return waited
                delay = (n - self._level) / self.rate
                waited += delay
                await asyncio.sleep(delay)
            self._level = 0.0  # clock did not advance (frozen test clock): take what is there
            return waited


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (number or HTTP-date); ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
