"""Retry-After (seconds and HTTP-date, capped) and the client-side rpm / tpm token buckets."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from recdenoise.llm.client import LLMClient, LLMConfig, TransportError
from recdenoise.llm.mock_server import MockOpenAIServer
from recdenoise.llm.ratelimit import TokenBucket, retry_after_seconds


def test_retry_after_parses_seconds_and_dates():
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("-3") == 0.0 and retry_after_seconds("nan") is None
    date = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert retry_after_seconds(date, now=1_000_000.0) == pytest.approx(30.0)


@pytest.mark.parametrize("header", ["5", "date"])
def test_client_waits_the_capped_retry_after(header):
    value = email.utils.formatdate(time.time() + 5, usegmt=True) if header == "date" else header
    with MockOpenAIServer(faults=("rate_limit",), fault_rate=1.0, retry_after=value) as server:
        cfg = LLMConfig(base_url=server.base_url, structured="off", retries=2, retry_after_max=0.25, backoff_base=5.0)

        async def main():
            async with LLMClient(cfg) as client:
                start = time.perf_counter()
                with pytest.raises(TransportError, match="rate_limited"):
                    await client.chat(client.chat_body([{"role": "user", "content": "hi"}]))
                return time.perf_counter() - start, client.usage

        elapsed, usage = asyncio.run(main())
    # two waits of Retry-After capped at 0.25 s (not the 5 s backoff, not the header's 5 s)
    assert usage.retries == 2 and usage.retry_after_seconds == pytest.approx(0.5, abs=0.02)
    assert 0.45 <= elapsed < 3.0


def test_token_bucket_paces_after_the_burst():
    async def main():
        bucket = TokenBucket(per_minute=600)  # 10 per second, starts full
        await bucket.take(600)
        start = time.perf_counter()
        for _ in range(3):
            await bucket.take(1)
        return time.perf_counter() - start

    assert 0.25 <= asyncio.run(main()) < 1.0


def test_rpm_limits_the_client():
    with MockOpenAIServer() as server:
        cfg = LLMConfig(base_url=server.base_url, structured="off", rpm=1200, concurrency=8)  # 20 per second

        async def main():
            async with LLMClient(cfg) as client:
                client._rpm._level = 0.0  # skip the initial burst
                start = time.perf_counter()
                await asyncio.gather(
                    *(client.chat(client.chat_body([{"role": "user", "content": f"q{i}"}])) for i in range(6))
                )
                return time.perf_counter() - start

        assert asyncio.run(main()) >= 0.25
